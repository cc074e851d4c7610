"""Single-row scoring calls next to raw HTTP posts of the same body, as ratios measured side by side in one run.

Against `bankscore serve` in its own process (key auth, as a real endpoint), each call of the loop takes
turns: a raw `httpx.Client.post` of the body the client would send (prepared once per row, with the headers
the client sends), `client.predict(frame.iloc[[i]])`, then `client.predict([row_dict])`; then the same with
`AsyncScoringClient` and a raw `httpx.AsyncClient`. Every answer is checked against the in-process model.

Targets: DataFrame predict p50 ÷ raw p50 ≤ 1.25 (p99 ≤ 1.5); dict predict ÷ raw ≤ 1.15; the async client's
DataFrame and dict predicts ÷ raw async ≤ 1.25.

    uv run python benchmarks/bench_single_row.py [--model DIR] [--calls 2000] [--warmup 200] [--rows 500]

Without --model, $BANKSCORE_TEST_MODEL_DIR or a model trained once into benchmarks/out/model-synthetic.
The exit code is 0 whether the targets are met or not (this is a report), 1 when an answer is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import _common
from _common import REPO_ROOT, BenchError, describe_model

HERE: Final = Path(__file__).resolve().parent
DEFAULT_MODEL: Final = HERE / "out" / "model-synthetic"
DATA_SEED: Final = 20240601
START_TIMEOUT_S: Final = 60.0
KEY: Final = "bench-single-row-key-0123456789"
TARGETS: Final = {  # measure → (p50 ratio, p99 ratio or None)
    "DataFrame predict": (1.25, 1.5),
    "dict predict": (1.15, None),
    "async DataFrame predict": (1.25, None),
    "async dict predict": (1.25, None),
}
_LOOPBACK: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@contextlib.contextmanager
def serve_process(model_dir: Path, log: Path, key_file: Path) -> Iterator[str]:
    """`bankscore serve` with key auth on a free loopback port, without access log; stopped by its PID."""
    port = _common.free_port()
    command = [
        _common.bankscore_cli(),
        "serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--key-file",
        str(key_file),
        "--no-access-log",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_") or k == "BANKSCORE_TEST_MODEL_DIR"}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_common.die_with_parent,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchError(f"`bankscore serve` exited before it was healthy:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(urllib.error.URLError, OSError), _LOOPBACK.open(f"{base}/", timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"`bankscore serve` was not healthy within {START_TIMEOUT_S:.0f}s")
            time.sleep(0.1)
        yield f"{base}/score"
    finally:
        _common.stop_process(process)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


def run_sync(
    uri: str, frame: Any, dicts: list[dict[str, Any]], expected: list[Any], warmup: int, calls: int
) -> tuple[dict[str, list[float]], int]:
    import httpx

    from bankscore import ScoringClient

    samples: dict[str, list[float]] = {"raw": [], "DataFrame predict": [], "dict predict": []}
    wrong = 0
    with ScoringClient(uri, key=KEY, timeout=10.0, max_retries=0) as client:
        prepared = [client.prepare([row]) for row in dicts]
        headers = {**client.options.httpx_kwargs()["headers"], **prepared[0].headers}
        headers["x-ms-client-request-id"] = "bench-raw-0000000000000000000000000000"
        with httpx.Client(timeout=10.0) as raw:
            for i in range(warmup + calls):
                j = i % len(dicts)
                results: list[tuple[str, float, Any]] = []
                started = time.perf_counter()
                answer = raw.post(uri, content=prepared[j].body, headers=headers)
                results.append(("raw", time.perf_counter() - started, _raw_label(answer)))
                row = frame.iloc[[j]]
                started = time.perf_counter()
                labels = client.predict(row)
                results.append(("DataFrame predict", time.perf_counter() - started, labels.iloc[0]))
                started = time.perf_counter()
                labels = client.predict([dicts[j]])
                results.append(("dict predict", time.perf_counter() - started, labels.iloc[0]))
                for name, seconds, label in results:
                    wrong += label != expected[j]
                    if i >= warmup:
                        samples[name].append(seconds * 1000)
    return samples, wrong


def run_async(
    uri: str, frame: Any, dicts: list[dict[str, Any]], expected: list[Any], warmup: int, calls: int
) -> tuple[dict[str, list[float]], int]:
    import httpx

    from bankscore import AsyncScoringClient, ScoringClient

    with ScoringClient(uri, key=KEY) as sync:
        prepared = [sync.prepare([row]) for row in dicts]
        headers = {**sync.options.httpx_kwargs()["headers"], **prepared[0].headers}
        headers["x-ms-client-request-id"] = "bench-raw-0000000000000000000000000000"

    async def loop() -> tuple[dict[str, list[float]], int]:
        samples: dict[str, list[float]] = {"raw async": [], "async DataFrame predict": [], "async dict predict": []}
        wrong = 0
        async with (
            AsyncScoringClient(uri, key=KEY, timeout=10.0, max_retries=0) as client,
            httpx.AsyncClient(timeout=10.0) as raw,
        ):
            for i in range(warmup + calls):
                j = i % len(dicts)
                results: list[tuple[str, float, Any]] = []
                started = time.perf_counter()
                answer = await raw.post(uri, content=prepared[j].body, headers=headers)
                results.append(("raw async", time.perf_counter() - started, _raw_label(answer)))
                row = frame.iloc[[j]]
                started = time.perf_counter()
                labels = await client.predict(row)
                results.append(("async DataFrame predict", time.perf_counter() - started, labels.iloc[0]))
                started = time.perf_counter()
                labels = await client.predict([dicts[j]])
                results.append(("async dict predict", time.perf_counter() - started, labels.iloc[0]))
                for name, seconds, label in results:
                    wrong += label != expected[j]
                    if i >= warmup:
                        samples[name].append(seconds * 1000)
        return samples, wrong

    return asyncio.run(loop())


def _raw_label(answer: Any) -> Any:
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    document = answer.json()
    results = document if isinstance(document, list) else document.get("Results", document.get("result"))
    return results[0] if isinstance(results, list) and results else results


def report(samples: dict[str, list[float]], raw: str, names: Sequence[str]) -> list[str]:
    lines = []
    base50, base99 = percentile(samples[raw], 50), percentile(samples[raw], 99)
    lines.append(f"  {raw:<26} p50 {base50:7.3f} ms  p99 {base99:7.3f} ms")
    for name in names:
        p50, p99 = percentile(samples[name], 50), percentile(samples[name], 99)
        target50, target99 = TARGETS[name]
        r50, r99 = p50 / base50, p99 / base99
        verdict = "met" if r50 <= target50 and (target99 is None or r99 <= target99) else "NOT met"
        want = f"≤ {target50}" + (f", p99 ≤ {target99}" if target99 is not None else "")
        lines.append(
            f"  {name:<26} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms   ÷ raw: p50 {r50:.2f}  p99 {r99:.2f}"
            f"   (target {want}: {verdict})"
        )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_model = os.environ.get("BANKSCORE_TEST_MODEL_DIR")
    parser.add_argument("--model", type=Path, default=Path(default_model) if default_model else None)
    parser.add_argument("--calls", type=int, default=2000, help="measured calls of each kind (default 2000)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rows", type=int, default=500, help="distinct synthetic rows cycled through")
    parser.add_argument("--sync-only", action="store_true", help="skip the async client")
    return parser.parse_args(argv)


def benchmark(args: argparse.Namespace) -> int:
    from bankscore.bankmarketing.synthetic import generate
    from bankscore.server.model import load_model

    model_dir = _common.ensure_model(args.model, DEFAULT_MODEL)
    frame = generate(args.rows, seed=DATA_SEED, label=False)
    dicts: list[dict[str, Any]] = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in frame.to_dict("records")
    ]
    expected = load_model(model_dir).predict(frame).tolist()
    command = ["uv", "run", "python", "benchmarks/bench_single_row.py", "--model", str(model_dir)]
    command += ["--calls", str(args.calls), "--warmup", str(args.warmup), "--rows", str(args.rows)]
    command += ["--sync-only"] if args.sync_only else []
    print(f"model: {describe_model(model_dir)}")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; python {sys.version.split()[0]}")
    wrong = 0
    with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp:
        key_file = Path(tmp) / "key"
        key_file.write_text(KEY + "\n")
        with serve_process(model_dir, Path(tmp) / "serve.log", key_file) as uri:
            started = time.monotonic()
            sync, bad = run_sync(uri, frame, dicts, expected, args.warmup, args.calls)
            wrong += bad
            print(
                f"\nScoringClient vs httpx.Client, interleaved per call ({args.calls:,} calls each, "
                f"{time.monotonic() - started:.0f} s):"
            )
            print("\n".join(report(sync, "raw", ["DataFrame predict", "dict predict"])))
            if not args.sync_only:
                started = time.monotonic()
                asynchronous, bad = run_async(uri, frame, dicts, expected, args.warmup, args.calls)
                wrong += bad
                print(
                    f"\nAsyncScoringClient vs httpx.AsyncClient, interleaved per call ({args.calls:,} calls each, "
                    f"{time.monotonic() - started:.0f} s):"
                )
                print("\n".join(report(asynchronous, "raw async", ["async DataFrame predict", "async dict predict"])))
    print(f"\nreproduce: {shlex.join(command)}")
    if wrong:
        print(f"FAILED: {wrong:,} answers differ from the in-process model's")
        return 1
    print("all answers match the in-process model's")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _common.raise_on_sigterm)
    try:
        return benchmark(parse_args(argv))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
