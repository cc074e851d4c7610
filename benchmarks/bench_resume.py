"""Resume figures for `bankscore score`, side by side in one run, against `bankscore serve` in its own process:

1. Rows scored twice when a run is killed (-9) at about 50 % and resumed: every POST is counted at a
   loopback proxy, so rescored = rows sent by both runs - rows in the file. Target: at most one chunk.
2. What the journal costs: the same file scored with the journal (fsync per chunk) and with --no-journal.

    uv run python benchmarks/bench_resume.py --rows 200000 --chunk-rows 10000
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bankscore_cli
from bench_client import ensure_model, serve_process, write_rows


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the endpoint and counts the rows of each POST /score it passes on."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rsplit("/score", 1)[0]
        self.rows = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Forward)


class _Forward(http.server.BaseHTTPRequestHandler):
    server: CountingProxy

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self, body: bytes | None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.server.upstream + self.path, body, headers, method=self.command)
        with urllib.request.urlopen(request, timeout=120) as answer:
            payload = answer.read()
            status = answer.status
        if body is not None:
            with self.server.lock:
                self.server.rows += len(orjson.loads(body)["Inputs"]["data"])
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._forward(None)

    def do_POST(self) -> None:
        self._forward(self.rfile.read(int(self.headers["content-length"])))


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--batch-rows", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    cli = bankscore_cli()
    model = ensure_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "in.csv"
        write_rows(args.rows, 7, source)
        base_env = {**os.environ, "BANKSCORE_KEY": "unused"}
        with serve_process(model, folder / "serve.log", base_env) as (uri, _pid):
            proxy = CountingProxy(uri)
            threading.Thread(target=proxy.serve_forever, daemon=True).start()
            env = {**base_env, "BANKSCORE_ENDPOINT": f"http://127.0.0.1:{proxy.server_address[1]}/score"}

            def command(target: Path, *extra: str) -> list[str]:
                return [cli, "score", str(source), "-o", str(target), "--chunk-rows", str(args.chunk_rows),
                        "--batch-rows", str(args.batch_rows), *extra]  # fmt: skip

            # 1. kill -9 at ~50 %, then resume: once just after a chunk counts, once in the middle of the next one.
            for point in ("after a chunk", "mid-chunk"):
                target = folder / "out.csv"
                manifest = folder / "out.csv.partial" / "manifest.json"
                proxy.rows = 0
                child = subprocess.Popen(command(target, "--restart"), env=env, stderr=subprocess.DEVNULL)
                written = 0
                half = args.rows // 2
                while written < half or (point == "mid-chunk" and proxy.rows < written + args.chunk_rows // 2):
                    time.sleep(0.002)
                    try:
                        written = sum(c["rows"] for c in orjson.loads(manifest.read_bytes())["chunks"])
                    except (OSError, ValueError):
                        continue
                child.send_signal(signal.SIGKILL)
                child.wait()
                sent_killed = proxy.rows
                kept = sum(c["rows"] for c in orjson.loads(manifest.read_bytes())["chunks"])
                subprocess.run(command(target), env=env, check=True, capture_output=True)
                print(f"kill -9 {point} at {kept / args.rows:.0%} ({kept:,} rows journaled, {sent_killed:,} sent): "
                      f"resumed run sent {proxy.rows - sent_killed:,}; rows scored twice {proxy.rows - args.rows:,} "
                      f"(one chunk = {args.chunk_rows:,})")  # fmt: skip

            # 2. the journal's cost, alternating so drift hits both alike.
            times: dict[str, list[float]] = {"journal": [], "no-journal": []}
            for _ in range(args.repeats):
                times["journal"].append(timed(command(folder / "j.csv"), env))
                times["no-journal"].append(timed(command(folder / "n.csv", "--no-journal"), env))
            same = (folder / "j.csv").read_bytes() == (folder / "n.csv").read_bytes() == target.read_bytes()
            best = {k: min(v) for k, v in times.items()}
            print(f"{args.rows:,} rows, chunks of {args.chunk_rows:,}, best of {args.repeats}: "
                  f"journal {best['journal']:.2f}s, no journal {best['no-journal']:.2f}s "
                  f"(overhead {best['journal'] / best['no-journal'] - 1:+.1%}); outputs identical: {same}")  # fmt: skip
            proxy.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
