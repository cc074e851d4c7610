"""The locustfile's ceiling next to wrk's on the same endpoint, and the endpoint's sustained load.

    apt-get install wrk && uv run python benchmarks/bench_loadtest.py [--duration 15] [--rounds 2]
                                                                       [--users 8] [--sustain 60]

1. `bankscore serve` (1 worker, no auth) in its own process; one-row gen-B requests. wrk and the
   locustfile (`bankscore loadtest`, FastHttpUser, no pacing) take turns, --users connections each,
   --duration seconds a run, --rounds rounds; medians. Target: locust ÷ wrk ≥ 0.6. Both share the
   machine with the server (2 cores here), so each is measured as a user would see it.
2. --sustain seconds of `bankscore loadtest` paced at about 1,200 req/s (12 users, 8 ms between
   requests each) with gates: at least 1,000 req/s, no failures, p99 printed. Target: it passes.
Exit 0 whatever the ratio (this is a report), 1 when a run is invalid (wrk saw errors).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import _common
from bench_endpoint import _LUA_TEMPLATE, SUMMARY_MARK, OurEndpoint, run_wrk, write_payloads, wrk_command

TARGET_RATIO: Final = 0.6
SUSTAIN_RPS: Final = 1_000


def locust_run(uri: str, args: list[str], timeout: float) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_KEY")}
    done = subprocess.run(
        [_common.bankscore_cli(), "loadtest", "--endpoint", uri, *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def figure(output: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)}:\s+([\d.]+)", output, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--sustain", type=int, default=60)
    args = parser.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    model_dir = _common.ensure_model(args.model, Path(__file__).resolve().parent / "out" / "model-synthetic")
    with tempfile.TemporaryDirectory(prefix="bankscore-bench-") as tmp:
        work = Path(tmp)
        body = write_payloads(work)[1]
        lua = work / "post-1.lua"
        lua.write_text(
            f"local BODY_PATH = {json.dumps(str(body))}\n{_LUA_TEMPLATE.replace('SUMMARY_MARK', SUMMARY_MARK)}"
        )
        with OurEndpoint(model_dir, work) as server:
            print(f"{server.description}, PID {server.pid}, {server.scoring_uri}; one-row requests")
            print(f"machine: {os.cpu_count()} cores; {args.users} connections/users, {args.duration}s a run")
            wrk_rps: list[float] = []
            locust_rps: list[float] = []
            for round_ in range(1, args.rounds + 1):
                order = ("wrk", "locust") if round_ % 2 else ("locust", "wrk")
                for tool in order:
                    if tool == "wrk":
                        command = wrk_command(wrk, lua, server.scoring_uri, args.duration, args.users, 1)
                        run = run_wrk(server, 1, command, args.duration)
                        if not run.valid:
                            print(f"INVALID wrk run: {'; '.join(run.problems)}")
                            return 1
                        wrk_rps.append(run.rps)
                        print(
                            f"  round {round_} wrk     {run.rps:9,.0f} req/s  p99 {run.p99_ms:.2f} ms  "
                            f"(server CPU {run.server_cpu:.0%}, wrk {run.wrk_cpu:.0%})",
                            flush=True,
                        )
                    else:
                        code, out = locust_run(
                            server.scoring_uri,
                            ["-t", f"{args.duration}s", "-u", str(args.users), "--cpu-limit", "100"],
                            args.duration + 120,
                        )
                        rps, failed = figure(out, "Requests per second"), figure(out, "Failed requests")
                        if failed or not rps:
                            print(f"INVALID locust run (exit {code}):\n{out[-3000:]}")
                            return 1
                        locust_rps.append(rps)
                        p99 = re.search(r"^\s+99%\s+(\d+)", out, re.MULTILINE)
                        print(
                            f"  round {round_} locust  {rps:9,.0f} req/s  p99 {p99.group(1) if p99 else '?'} ms",
                            flush=True,
                        )
            ratio = statistics.median(locust_rps) / statistics.median(wrk_rps)
            print(
                f"locust ÷ wrk = {statistics.median(locust_rps):,.0f} ÷ {statistics.median(wrk_rps):,.0f} = "
                f"{ratio:.2f} (target ≥ {TARGET_RATIO}) {'PASS' if ratio >= TARGET_RATIO else 'FAIL'}"
            )

            print(f"\nsustained: {args.sustain}s, 12 users pacing 8 ms apart (about 1,200 req/s offered)")
            code, out = locust_run(
                server.scoring_uri,
                ["-t", f"{args.sustain}s", "-u", "12", "--wait-ms", "8", "--slo-min-rps", str(SUSTAIN_RPS),
                 "--slo-p99-ms", "50"],
                args.sustain + 120,
            )  # fmt: skip
            print("\n".join(line for line in out.splitlines() if not line.startswith("[")).split("Type     Name")[0])
            print(f"sustained run exit code {code}: {'PASS' if code == 0 else 'FAIL'}")
    print(
        f"reproduce: uv run python benchmarks/bench_loadtest.py --duration {args.duration} --rounds {args.rounds} "
        f"--users {args.users} --sustain {args.sustain}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
