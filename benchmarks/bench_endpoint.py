"""Throughput of bankscore's embedded endpoint next to Microsoft's Azure ML inference server.

Our performance claims are ratios against Microsoft's own server (azureml-inference-server-http,
gunicorn sync workers) serving the same model with the same worker count on the same machine.
Both servers run in one process tree during one run and take turns under the same load
(ours, Microsoft's, ours, ...), so drift of the machine hits both; the median of the rounds is
reported. A run with any error answer or socket error is invalid and gives no figure.

    uv run python benchmarks/bench_endpoint.py [--model DIR] [--duration 10] [--connections 4]
                                               [--threads 1] [--rounds 2] [--warmup 2]

Without --model, a model is trained once into benchmarks/out/model (from the real Bank Marketing
file when ../shared/data/bankmarketing_train.csv exists, otherwise from synthetic rows).
The exit code is 0 whether the targets are met or not (this is a report), 1 when a run was invalid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import _common
from _common import _CLK_TCK, REPO_ROOT, BenchError, describe_model
from _common import bankscore_cli as _bankscore_cli
from _common import busy_cpu_seconds as _busy_cpu_seconds
from _common import die_with_parent as _die_with_parent
from _common import free_port as _free_port
from _common import raise_on_sigterm as _raise_on_sigterm

HERE: Final = Path(__file__).resolve().parent
DEFAULT_MODEL: Final = HERE / "out" / "model"
REAL_DATA: Final = REPO_ROOT.parent / "shared" / "data" / "bankmarketing_train.csv"

SIZES: Final = (1, 1000)
# Target ratios ours/Microsoft: requests/s at 1-row requests, rows/s at 1000-row requests.
TARGETS: Final = {1: ("requests/s", 5.0), 1000: ("rows/s", 3.0)}
DATA_SEED: Final = 20240601
WRK_TIMEOUT_S: Final = 10  # per request; a slower answer counts as a socket error (timeout)
WRK_GRACE_S: Final = 30  # how long past its duration a wrk run may take before it is killed
START_TIMEOUT_S: Final = 60.0
SUMMARY_MARK: Final = "BENCH_SUMMARY "
NOISY_OTHER_CPU: Final = 0.15  # above this share of a core used by others, the machine was not quiet
OURS: Final = "ours"
MICROSOFT: Final = "Microsoft"

# Loopback only: never route the probes through an HTTP(S)_PROXY from the environment.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# wrk runs this once per thread: POST the body file as JSON; done() prints exact figures as JSON.
_LUA_TEMPLATE: Final = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(BODY_PATH, "rb"))
wrk.body = f:read("*a")
f:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SUMMARY_MARK{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


# ------------------------------------------------------------------------------------------- processes


def ensure_model(model: Path | None) -> Path:
    return _common.ensure_model(model, DEFAULT_MODEL, REAL_DATA if REAL_DATA.is_file() else None)


def _tree_cpu_seconds(root: int) -> float:
    """User+system CPU of a process and its live descendants (all threads), from /proc."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        rest = text[text.rindex(")") + 2 :].split()  # fields 3.. (comm may hold spaces)
        pid = int(entry.name)
        parent[pid] = int(rest[1])
        cpu[pid] = (int(rest[11]) + int(rest[12])) / _CLK_TCK
    total, todo, seen = 0.0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu.get(pid, 0.0)
        todo.extend(child for child, ppid in parent.items() if ppid == pid)
    return total


def _children_cpu_seconds() -> float:
    """CPU of reaped children; around one wrk run, that is wrk's own CPU."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ------------------------------------------------------------------------------------------- HTTP


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    with _LOOPBACK.open(url, timeout=timeout) as response:
        return response.status, response.read()


def _post_json(url: str, body: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with _LOOPBACK.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _wait_healthy(base_url: str, alive: Callable[[], bool], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise BenchError(f"our endpoint exited before it was healthy; its log {log}:\n{_tail(log)}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            if _get(f"{base_url}/") == (200, b"Healthy"):
                return
        if time.monotonic() > deadline:
            raise BenchError(f"our endpoint was not healthy within {timeout:.0f}s; its log {log}:\n{_tail(log)}")
        time.sleep(0.2)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text if len(text) <= limit else "...\n" + text[-limit:]


# ------------------------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A running server under test: where to send requests and whose CPU to count."""

    name: str
    description: str
    scoring_uri: str
    pid: int
    log_path: Path | None = None
    keep_log: bool = False  # set when a run was invalid: the log is shown (and Microsoft's is not deleted)


class OurEndpoint:
    """`bankscore serve` in its own session on a free loopback port; stopped by its PID."""

    def __init__(self, model_dir: Path, log_dir: Path) -> None:
        self.model_dir = model_dir
        self.log_path = log_dir / "bankscore-serve.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            _bankscore_cli(),
            "serve",
            "--model",
            str(self.model_dir),
            "--port",
            str(self.port),
            "--no-auth",
            "--no-access-log",
            "--workers",
            "1",
        ]

    def __enter__(self) -> Server:
        self.port = _free_port()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        process = self._process
        try:
            _wait_healthy(self.base_url, lambda: process.poll() is None, self.log_path, START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        description = "bankscore serve (uvicorn, 1 worker)"
        return Server(OURS, description, f"{self.base_url}/score", process.pid, self.log_path)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _common.stop_process(process)

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def microsoft_server(model_dir: Path) -> Iterator[Server]:
    """Microsoft's server (gen B score script, 1 gunicorn sync worker) via the test suite's peer."""
    from tests.support.azureml_peer.peer import SERVER_VERSION, AzureMLPeer

    with AzureMLPeer(model_dir, "B", workers=1, startup_timeout=START_TIMEOUT_S) as peer:
        assert peer.pid is not None
        description = f"azureml-inference-server-http {SERVER_VERSION} (gunicorn sync, 1 worker)"
        server = Server(MICROSOFT, description, peer.scoring_uri, peer.pid, peer.log_path)
        try:
            yield server
        finally:
            log = peer.log_path
            peer.stop()
            if log is not None and not server.keep_log:
                log.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- model & data


def write_payloads(directory: Path) -> dict[int, Path]:
    """One request body per size, `Inputs` contract with method predict, from synthetic rows."""
    from bankscore.bankmarketing.synthetic import generate

    rows = cast(list[dict[str, Any]], generate(max(SIZES), seed=DATA_SEED, label=False).to_dict(orient="records"))
    paths = {}
    for size in SIZES:
        body = {"Inputs": {"data": rows[:size]}, "GlobalParameters": {"method": "predict"}}
        path = directory / f"body-{size}.json"
        path.write_text(json.dumps(body, separators=(",", ":")))
        paths[size] = path
    return paths


def check_answers(servers: Sequence[Server], bodies: dict[int, Path]) -> list[str]:
    """One request per server and size must answer 200 with one result per row, and both servers agree."""
    problems: list[str] = []
    for size, path in bodies.items():
        answers: dict[str, list[Any]] = {}
        for server in servers:
            status, raw = _post_json(server.scoring_uri, path.read_bytes())
            try:
                results = json.loads(raw)["Results"] if status == 200 else None
            except (ValueError, KeyError, TypeError):
                results = None
            if status != 200 or not isinstance(results, list) or len(results) != size:
                got = len(results) if isinstance(results, list) else "no"
                answer = f"answered {status} with {got} results: {raw[:300]!r}"
                problems.append(f"{server.name}: {size}-row request {answer}")
                continue
            answers[server.name] = results
        if len(answers) == len(servers):
            first = answers[servers[0].name]
            for server in servers[1:]:
                differ = sum(a != b for a, b in zip(first, answers[server.name], strict=True))
                if differ:
                    problems.append(f"{server.name}: {differ} of {size} predictions differ from {servers[0].name}'s")
    return problems


# ------------------------------------------------------------------------------------------- wrk


@dataclass
class Run:
    """One wrk run against one server: its figures, its CPU, and why it is invalid (if it is)."""

    server: str
    size: int
    command: list[str]
    output: str = ""
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu: float = 0.0  # share of one core over the run
    wrk_cpu: float = 0.0
    other_cpu: float = 0.0  # everything else on the machine: a busy neighbour shows here
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors:\s*connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk_command(wrk: str, lua: Path, url: str, duration: int, connections: int, threads: int) -> list[str]:
    return [
        wrk,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]


def run_wrk(server: Server, size: int, command: list[str], duration: int) -> Run:
    """Run wrk once, bounded in time; any non-2xx answer or socket error makes the run invalid."""
    run = Run(server.name, size, command)
    cpu_server, cpu_wrk, cpu_all = _tree_cpu_seconds(server.pid), _children_cpu_seconds(), _busy_cpu_seconds()
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + WRK_GRACE_S, check=False)
    except subprocess.TimeoutExpired:
        run.problems.append(f"wrk did not finish within {duration + WRK_GRACE_S}s and was stopped")
        return run
    wall = time.monotonic() - started
    run.server_cpu = (_tree_cpu_seconds(server.pid) - cpu_server) / wall
    run.wrk_cpu = (_children_cpu_seconds() - cpu_wrk) / wall
    run.other_cpu = max(0.0, (_busy_cpu_seconds() - cpu_all) / wall - run.server_cpu - run.wrk_cpu)
    run.output = done.stdout + done.stderr
    if done.returncode != 0:
        run.problems.append(f"wrk exited with {done.returncode}")
    summary: dict[str, int] | None = None
    for line in done.stdout.splitlines():
        if line.startswith(SUMMARY_MARK):
            summary = json.loads(line[len(SUMMARY_MARK) :])
    if summary is None:
        run.problems.append("wrk printed no summary")
        return run
    run.requests, run.seconds = summary["requests"], summary["duration_us"] / 1e6
    run.p50_ms, run.p99_ms = summary["p50_us"] / 1000, summary["p99_us"] / 1000
    # wrk's own text and its Lua summary must agree that nothing failed.
    non_2xx = _NON_2XX.search(run.output)
    if summary["status"] or non_2xx:
        count = max(summary["status"], int(non_2xx.group(1)) if non_2xx else 0)
        run.problems.append(f"{count} non-2xx answers")
    errors = {kind: summary[kind] for kind in ("connect", "read", "write", "timeout") if summary[kind]}
    socket_errors = _SOCKET_ERRORS.search(run.output)
    if errors:
        run.problems.append("socket errors: " + ", ".join(f"{kind} {n}" for kind, n in errors.items()))
    elif socket_errors:
        run.problems.append(socket_errors.group(0))
    if run.requests == 0:
        run.problems.append("no request completed")
    return run


# ------------------------------------------------------------------------------------------- report


def machine_lines(wrk: str) -> list[str]:
    from tests.support.azureml_peer.peer import ensure_venv

    peer_python = subprocess.run(
        [str(ensure_venv()), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    cpu_model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False).stdout
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine: nproc {len(os.sched_getaffinity(0))} (of {os.cpu_count()}), {cpu_model}, "
        f"{platform.system()} {platform.release()}, load average {load}",
        f"python: ours {platform.python_version()} ({sys.executable}), Microsoft's {peer_python or '?'}",
        f"load generator: {version.splitlines()[0] if version else wrk}",
    ]


def median_run(runs: list[Run]) -> dict[str, float] | None:
    if not runs or not all(r.valid for r in runs):
        return None
    return {
        "rps": statistics.median(r.rps for r in runs),
        "p50": statistics.median(r.p50_ms for r in runs),
        "p99": statistics.median(r.p99_ms for r in runs),
        "server_cpu": statistics.median(r.server_cpu for r in runs),
        "wrk_cpu": statistics.median(r.wrk_cpu for r in runs),
        "other_cpu": statistics.median(r.other_cpu for r in runs),
    }


def print_table(servers: Sequence[Server], runs: list[Run]) -> dict[tuple[str, int], dict[str, float] | None]:
    medians: dict[tuple[str, int], dict[str, float] | None] = {}
    header = f"{'server':<10} {'rows/req':>8} {'requests/s':>11} {'rows/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
    header += f" {'server CPU':>10} {'wrk CPU':>8} {'other CPU':>9}"
    print(header)
    print("-" * len(header))
    for size in SIZES:
        for server in servers:
            mine = [r for r in runs if r.server == server.name and r.size == size]
            median = medians[(server.name, size)] = median_run(mine)
            if median is None:
                print(f"{server.name:<10} {size:>8} {'INVALID':>11}")
                continue
            print(
                f"{server.name:<10} {size:>8} {median['rps']:>11,.1f} {median['rps'] * size:>11,.0f} "
                f"{median['p50']:>8.2f} {median['p99']:>8.2f} {median['server_cpu']:>10.0%} {median['wrk_cpu']:>8.0%}"
                f" {median['other_cpu']:>9.0%}"
            )
    return medians


def print_ratios(medians: dict[tuple[str, int], dict[str, float] | None]) -> None:
    for size, (metric, target) in TARGETS.items():
        label = f"{size}-row {metric}: ours/Microsoft"
        ours, theirs = medians.get((OURS, size)), medians.get((MICROSOFT, size))
        if ours is None or theirs is None or theirs["rps"] == 0:
            print(f"{label} = n/a (invalid run) (target ≥ {target:g}×)")
            continue
        ratio = ours["rps"] / theirs["rps"]  # same rows per request on both sides: rows/s ratio = requests/s ratio
        verdict = "PASS" if ratio >= target else "FAIL"
        print(f"{label} = {ratio:.1f}× (target ≥ {target:g}×) {verdict}")


def reproduce_command(args: argparse.Namespace, model_dir: Path) -> str:
    with contextlib.suppress(ValueError):
        model_dir = model_dir.relative_to(REPO_ROOT)
    argv = ["uv", "run", "python", "benchmarks/bench_endpoint.py", "--model", str(model_dir)]
    argv += ["--duration", str(args.duration), "--connections", str(args.connections)]
    argv += ["--threads", str(args.threads), "--rounds", str(args.rounds), "--warmup", str(args.warmup)]
    return f"cd {shlex.quote(str(REPO_ROOT))} && {shlex.join(argv)}"


# ------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory (default: benchmarks/out/model, trained once)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=4, help="open connections, same for both (default 4)")
    parser.add_argument("--threads", type=int, default=1, help="load generator threads (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the median is reported (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per server and size (default 2)")
    args = parser.parse_args(argv)
    for name in ("duration", "connections", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections (each thread needs a connection)")
    return args


def benchmark(args: argparse.Namespace, wrk: str, work: Path) -> int:
    model_dir = ensure_model(args.model)
    bodies = write_payloads(work)
    luas = {}
    for size, body in bodies.items():
        luas[size] = work / f"post-{size}.lua"
        script = _LUA_TEMPLATE.replace("SUMMARY_MARK", SUMMARY_MARK)
        luas[size].write_text(f"local BODY_PATH = {json.dumps(str(body))}\n{script}")

    with OurEndpoint(model_dir, work) as ours, microsoft_server(model_dir) as theirs:
        servers = (ours, theirs)
        for line in machine_lines(wrk):
            print(line)
        print(f"model: {describe_model(model_dir)}")
        for server in servers:
            print(f"{server.name}: {server.description}, PID {server.pid}, {server.scoring_uri}")
        sizes = ", ".join(f"{size} row(s) = {bodies[size].stat().st_size:,} bytes" for size in SIZES)
        print(f"request bodies: {sizes}")
        total = len(SIZES) * len(servers) * (args.warmup + args.rounds * args.duration)
        print(
            f"load: {args.connections} connections, {args.threads} thread(s), {args.duration}s per run, "
            f"{args.rounds} round(s), {args.warmup}s warm-up; about {total}s of load"
        )

        problems = check_answers(servers, bodies)
        if problems:
            print("\nINVALID: the answers before the load are wrong:")
            print("\n".join(f"  {p}" for p in problems))
            for server in servers:
                if server.log_path:
                    print(f"\n{server.name}'s log {server.log_path}, its end:\n{_tail(server.log_path, 3000)}")
            return 1
        print("checked: both servers answer 200 with one result per row, and the same predictions")

        def command(server: Server, size: int, seconds: int) -> list[str]:
            return wrk_command(wrk, luas[size], server.scoring_uri, seconds, args.connections, args.threads)

        print("\nwrk command lines:")
        for size in SIZES:
            for server in servers:
                print(f"  {shlex.join(command(server, size, args.duration))}")

        runs: list[Run] = []
        invalid: list[Run] = []
        print()
        for size in SIZES:
            if args.warmup:
                for server in servers:
                    warm = run_wrk(server, size, command(server, size, args.warmup), args.warmup)
                    print(f"warm-up  {size:>4} row(s)  {server.name:<10} {warm.rps:>10,.1f} req/s", end="")
                    print(f"  INVALID: {'; '.join(warm.problems)}" if warm.problems else "")
                    if not warm.valid:
                        invalid.append(warm)
            for round_ in range(1, args.rounds + 1):
                for server in servers:
                    run = run_wrk(server, size, command(server, size, args.duration), args.duration)
                    runs.append(run)
                    print(
                        f"round {round_}  {size:>4} row(s)  {server.name:<10} {run.rps:>10,.1f} req/s  "
                        f"p50 {run.p50_ms:.2f} ms  p99 {run.p99_ms:.2f} ms  "
                        f"CPU: server {run.server_cpu:.0%}, wrk {run.wrk_cpu:.0%}, other {run.other_cpu:.0%}",
                        end="",
                    )
                    print(f"  INVALID: {'; '.join(run.problems)}" if run.problems else "")
                    if not run.valid:
                        invalid.append(run)

        after = check_answers(servers, bodies)
        for server in servers:
            server.keep_log = bool(after) or any(r.server == server.name for r in invalid)

    print()
    medians = print_table(servers, runs)
    print()
    print_ratios(medians)
    print()
    print(
        "server/wrk/other CPU: share of one core during the run (100% = one core busy); other = the rest of the "
        "machine, including kernel network time not charged to a process."
    )
    noisy = max((r.other_cpu for r in runs), default=0.0)
    if noisy > NOISY_OTHER_CPU:
        print(
            f"WARNING: other processes used up to {noisy:.0%} of a core during a run: the machine was not quiet, "
            "so these figures are not the final measurement."
        )
    print("Microsoft's server closes the connection after every answer (gunicorn sync), so wrk reconnects each time.")
    print(f"reproduce: {reproduce_command(args, model_dir)}")
    for run in invalid:
        print(f"\nINVALID run ({run.server}, {run.size} row(s)): {'; '.join(run.problems)}")
        print(f"  {shlex.join(run.command)}")
        print("\n".join(f"  | {line}" for line in run.output.splitlines()))
    if after:
        print("\nINVALID: the answers after the load are wrong:")
        print("\n".join(f"  {p}" for p in after))
    for server in servers:
        if server.keep_log and server.log_path:
            print(f"\n{server.name}'s log {server.log_path}, its end:\n{_tail(server.log_path, 3000)}")
    return 1 if invalid or after else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed: install it with `apt-get install wrk` (Debian/Ubuntu)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        with tempfile.TemporaryDirectory(prefix="bankscore-bench-") as tmp:
            return benchmark(args, wrk, Path(tmp))
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
