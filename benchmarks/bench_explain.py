"""What an explanation costs next to a prediction, on the embedded endpoint, in one run.

`bankscore serve` (gen B, one worker) serves the model; clients send the same 1,000-row body with
GlobalParameters.method "predict" and "explain" in turns (predict, explain, predict, ...), so drift of the
machine hits both; the median of the rounds is reported. Also: the bytes per row of each answer, and where an
explanation's time goes in-process (the model's pred_contrib or linear terms, the JSON encoding).

    uv run python benchmarks/bench_explain.py [--model DIR ...] [--duration 5] [--rounds 3] [--connections 2]

Without --model, the model is benchmarks/out/model, trained once (from the real Bank Marketing file when
../shared/data/bankmarketing_train.csv exists, otherwise from synthetic rows), as bench_endpoint.py does.
Target: explain rows/s ÷ predict rows/s ≥ 0.25. The exit code is 0 whether the target is met or not (this is
a report), 1 when a run was invalid (an error answer).
"""

from __future__ import annotations

import argparse
import http.client
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import _common
import orjson
from _common import REPO_ROOT, BenchError, describe_model, free_port, raise_on_sigterm, stop_process

HERE: Final = Path(__file__).resolve().parent
DEFAULT_MODEL: Final = HERE / "out" / "model"
REAL_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "bankmarketing_train.csv"
ROWS: Final = 1000
DATA_SEED: Final = 20240601
TARGET: Final = 0.25
METHODS: Final = ("predict", "explain")

_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _body(method: str) -> bytes:
    from bankscore.bankmarketing.synthetic import generate

    rows = generate(ROWS, seed=DATA_SEED, label=False).to_dict(orient="records")
    return orjson.dumps({"Inputs": {"data": rows}, "GlobalParameters": {"method": method}})


class Served:
    """`bankscore serve --no-auth` on a free loopback port, stopped by its PID."""

    def __init__(self, model_dir: Path, log: Path) -> None:
        self.port = free_port()
        command = [_common.bankscore_cli(), "serve", "--model", str(model_dir), "--port", str(self.port)]
        command += ["--no-auth", "--no-access-log"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_common.die_with_parent
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with _LOOPBACK.open(f"http://127.0.0.1:{self.port}/", timeout=2) as response:
                    if response.read() == b"Healthy":
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                stop_process(self.process)
                raise BenchError(f"bankscore serve did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)


def _load(port: int, body: bytes, duration: float, connections: int) -> tuple[float, int]:
    """Rows per second over `duration` s with `connections` keep-alive clients; and one answer's size."""
    done = [0] * connections
    sizes: list[int] = []
    errors: list[str] = []
    stop = time.perf_counter() + duration

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/json"}
        try:
            while time.perf_counter() < stop:
                conn.request("POST", "/score", body, headers)
                response = conn.getresponse()
                answer = response.read()
                if response.status != 200:
                    errors.append(f"HTTP {response.status}: {answer[:200]!r}")
                    return
                if not sizes:
                    sizes.append(len(answer))
                done[i] += 1
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise BenchError(f"an error answer invalidates the run: {errors[0]}")
    return sum(done) * ROWS / elapsed, sizes[0]


def _in_process(model_dir: Path) -> dict[str, float]:
    """Milliseconds per 1,000 rows of the model's predict, its explain, and encoding the explain answer."""
    from bankscore.bankmarketing.synthetic import generate
    from bankscore.server.app import _explain_results
    from bankscore.server.model import load_model

    model = load_model(model_dir)
    matrix = model.schema.encode_frame(generate(ROWS, seed=DATA_SEED, label=False))

    def best(run: object, repeat: int = 5) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            run()  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        return min(times) * 1000

    explanation = model.explain(matrix)
    return {
        "predict": best(lambda: model.labels_from_matrix(matrix)),
        "explain": best(lambda: model.explain(matrix)),
        "encode": best(
            lambda: orjson.dumps({"Results": _explain_results(explanation)}, option=orjson.OPT_SERIALIZE_NUMPY)
        ),
    }


def bench(model_dir: Path, args: argparse.Namespace, tmp: Path) -> None:
    print(f"model: {describe_model(model_dir)}", flush=True)
    bodies = {m: _body(m) for m in METHODS}
    served = Served(model_dir, tmp / f"serve-{model_dir.name}.log")
    try:
        for method in METHODS:  # warm-up: first requests load code paths and caches
            _load(served.port, bodies[method], 0.5, 1)
        rates: dict[str, list[float]] = {m: [] for m in METHODS}
        sizes: dict[str, int] = {}
        for _ in range(args.rounds):
            for method in METHODS:
                rate, size = _load(served.port, bodies[method], args.duration, args.connections)
                rates[method].append(rate)
                sizes[method] = size
    finally:
        served.stop()
    predict, explain = (statistics.median(rates[m]) for m in METHODS)
    ratio = explain / predict
    print(f"  {ROWS}-row requests, {args.connections} connection(s), {args.rounds} rounds of {args.duration:g} s each")
    print(f"  predict: {predict:,.0f} rows/s (rounds: {', '.join(f'{r:,.0f}' for r in rates['predict'])})")
    print(f"  explain: {explain:,.0f} rows/s (rounds: {', '.join(f'{r:,.0f}' for r in rates['explain'])})")
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"  explain rows/s ÷ predict rows/s = {ratio:.3f} ({verdict} the target {TARGET})")
    print(f"  bytes per row: explain {sizes['explain'] / ROWS:.1f}, predict {sizes['predict'] / ROWS:.1f}")
    parts = _in_process(model_dir)
    print(
        f"  in-process per {ROWS} rows: predict {parts['predict']:.1f} ms, explain {parts['explain']:.1f} ms "
        f"(×{parts['explain'] / parts['predict']:.0f}), encoding the explain answer {parts['encode']:.1f} ms",
        flush=True,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", help="model directory (repeatable)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per round and method")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=2, help="concurrent keep-alive clients")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    try:
        models = args.model or [_common.ensure_model(None, DEFAULT_MODEL, REAL_DATA if REAL_DATA.is_file() else None)]
        with tempfile.TemporaryDirectory(prefix="bankscore-bench-explain-") as tmp:
            for model in models:
                bench(_common.ensure_model(model, DEFAULT_MODEL), args, Path(tmp))
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
