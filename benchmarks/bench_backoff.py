"""Goodput and 429s against a service that refuses more than N requests in flight: adaptive vs fixed concurrency.

`bankscore serve --no-auth` in its own process, behind tests/support/faultproxy.py's FaultProxy with
`max_in_flight=N` (a POST arriving while N are being answered gets 429 at once, no Retry-After). The same
rows are scored by a ScoringClient with adaptive concurrency (AIMD, starting at 16), and with a fixed
concurrency of 4 and of 16, taking turns for --rounds rounds in one run. Reports rows/s, the 429s the proxy
answered, and adaptive ÷ best fixed goodput. Target: adaptive ≥ 0.9× the best fixed, with far fewer 429s.

    uv run python benchmarks/bench_backoff.py [--model DIR] [--rows 20000] [--batch-rows 200] [--max-in-flight 3]
                                              [--latency-ms 20] [--rounds 2]

Exit code 0 whatever the figures (a report), 1 when a run's predictions differ from the others'.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from _common import REPO_ROOT, BenchError

sys.path.insert(0, str(REPO_ROOT))

from bankscore import RetryPolicy, ScoringClient
from bankscore.bankmarketing.synthetic import generate
from tests.support.faultproxy import FaultProxy

SETTINGS = (("adaptive", 16, True), ("fixed 4", 4, False), ("fixed 16", 16, False))


def serve(model: Path, port: int, latency_ms: int) -> subprocess.Popen[bytes]:
    command = [_common.bankscore_cli(), "serve", "--model", str(model), "--port", str(port), "--no-auth",
               "--no-access-log"]  # fmt: skip
    if latency_ms:
        command += ["--latency-ms", str(latency_ms)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_common.die_with_parent)  # fmt: skip
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    _common.stop_process(process)
    raise BenchError("bankscore serve did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch-rows", type=int, default=200)
    parser.add_argument("--max-in-flight", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = _common.ensure_model(args.model, REPO_ROOT / "benchmarks/out/model-synthetic")
    print(f"model: {_common.describe_model(model)}")
    rows = generate(args.rows, seed=13, label=False)
    port = _common.free_port()
    process = serve(model, port, args.latency_ms)
    policy = RetryPolicy(max_retries=None, backoff_base=0.05, backoff_max=1.0, deadline=300.0)
    results: dict[str, list[tuple[float, int]]] = {name: [] for name, _, _ in SETTINGS}
    expected = None
    try:
        for _ in range(args.rounds):
            for name, concurrency, adaptive in SETTINGS:
                with FaultProxy(f"http://127.0.0.1:{port}", max_in_flight=args.max_in_flight) as proxy:
                    client = ScoringClient(proxy.scoring_uri, batch_rows=args.batch_rows, concurrency=concurrency,
                                           adaptive_concurrency=adaptive, retry_policy=policy)  # fmt: skip
                    with client:
                        client.contract  # noqa: B018 - fetched before the clock starts
                        started = time.perf_counter()
                        labels = client.predict(rows).tolist()
                        elapsed = time.perf_counter() - started
                if expected is None:
                    expected = labels
                elif labels != expected:
                    print(f"error: {name} predictions differ from the first run's", file=sys.stderr)
                    return 1
                results[name].append((args.rows / elapsed, proxy.overloaded))
                print(f"  {name:9s} {args.rows / elapsed:9,.0f} rows/s  {proxy.overloaded:5d} × 429  "
                      f"(final limit {client.stats.limit})", flush=True)  # fmt: skip
    finally:
        _common.stop_process(process)
    print(f"\n{args.rows:,} rows in {args.batch_rows}-row batches, max {args.max_in_flight} in flight, "
          f"{args.latency_ms} ms per answer; medians of {args.rounds} rounds")  # fmt: skip
    goodput = {name: statistics.median(r for r, _ in runs) for name, runs in results.items()}
    refused = {name: statistics.median(n for _, n in runs) for name, runs in results.items()}
    for name in goodput:
        print(f"{name:9s} {goodput[name]:9,.0f} rows/s  {refused[name]:7.0f} × 429")
    best = max(("fixed 4", "fixed 16"), key=goodput.__getitem__)
    print(f"adaptive ÷ best fixed ({best}) goodput: {goodput['adaptive'] / goodput[best]:.2f} (target ≥ 0.9)")
    print(f"429s adaptive ÷ fixed 16: {refused['adaptive'] / max(refused['fixed 16'], 1):.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("BANKSCORE_CACHE_DIR", tempfile.gettempdir())
    sys.exit(main())
