"""Time for `bankscore score` to finish a file through transient faults, side by side in one run.

`bankscore serve` runs in its own process; between it and `bankscore score` sits tests/support/faultproxy.py's
FaultProxy, which answers a share of the POSTs with every transient fault in turn (429 with and without
Retry-After, 408, an HTML 502, 503, 504, a connection reset before and in the middle of the answer, a cut-off
body, a stall past the client's timeout). The same file is scored at each fault rate, taking turns for --rounds
rounds, with the job's default retry budget (no count limit, a per-batch deadline, the job's patience). Reports
the time to finish and its ratio to the fault-free run, and checks every output is byte-identical to it.

    uv run python benchmarks/bench_faults.py [--model DIR] [--rows 100000] [--rates 0,0.3,0.5] [--rounds 2]
                                             [--batch-rows 1000] [--timeout 2]

Exit code 0 whatever the figures (a report), 1 when a run fails or its output differs from the fault-free one.
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

from _common import REPO_ROOT
from bench_client import ensure_model, serve_process, write_rows

sys.path.insert(0, str(REPO_ROOT))

from tests.support.faultproxy import TRANSIENT, FaultProxy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rates", default="0,0.3,0.5")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-rows", type=int, default=1_000)
    parser.add_argument("--timeout", type=float, default=2.0, help="the client's --timeout (a stall costs this)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    model = ensure_model(args.model)
    cli = str(Path(sys.executable).parent / "bankscore")
    times: dict[float, list[float]] = {rate: [] for rate in rates}
    faults: dict[float, list[int]] = {rate: [] for rate in rates}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "in.csv"
        write_rows(args.rows, 11, source)
        env = {**os.environ, "BANKSCORE_KEY": "unused"}
        reference: bytes | None = None
        with serve_process(model, folder / "serve.log", env) as (uri, _pid):
            base = uri.rsplit("/score", 1)[0]
            for round_ in range(args.rounds):
                for rate in rates:
                    target = folder / f"out-{rate}.csv"
                    with FaultProxy(base, rate=rate, faults=TRANSIENT, seed=round_, stall_s=args.timeout + 1) as proxy:
                        command = [cli, "score", str(source), "-o", str(target), "--restart",
                                   "--batch-rows", str(args.batch_rows), "--concurrency", "4",
                                   "--timeout", str(args.timeout)]  # fmt: skip
                        started = time.perf_counter()
                        done = subprocess.run(command, env={**env, "BANKSCORE_ENDPOINT": proxy.scoring_uri},
                                              capture_output=True, text=True)  # fmt: skip
                        elapsed = time.perf_counter() - started
                    if done.returncode != 0:
                        print(f"error: at {rate:.0%} faults the job failed:\n{done.stderr}", file=sys.stderr)
                        return 1
                    output = target.read_bytes()
                    reference = output if reference is None else reference
                    if output != reference:
                        print(f"error: at {rate:.0%} faults the output differs from the fault-free run",
                              file=sys.stderr)  # fmt: skip
                        return 1
                    injected = sum(proxy.injected.values())
                    times[rate].append(elapsed)
                    faults[rate].append(injected)
                    print(f"  round {round_ + 1}: {rate:4.0%} faults  {elapsed:6.2f} s  "
                          f"{proxy.posts:4d} requests, {injected:3d} faults injected", flush=True)  # fmt: skip
    base_time = statistics.median(times[rates[0]])
    print(f"\n{args.rows:,} rows, {args.batch_rows}-row batches × 4 in flight, --timeout {args.timeout:g}; "
          f"medians of {args.rounds} rounds; every output byte-identical to the fault-free one")  # fmt: skip
    for rate in rates:
        median = statistics.median(times[rate])
        print(f"{rate:4.0%} faults: {median:6.2f} s ({median / base_time:4.2f}× the {rates[0]:.0%} run), "
              f"{statistics.median(faults[rate]):.0f} faults survived")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
