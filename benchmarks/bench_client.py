"""Client-side throughput and latency of bankscore, as ratios measured side by side in one run.

Four measurements, all on the same synthetic rows and the same model:

1. `bankscore score IN.csv -o OUT.csv` end to end (the whole process: start-up, reading the CSV,
   the embedded endpoint it starts for itself, writing the output) in rows/s, next to
2. the model's own in-process `Model.predict(frame)` in rows/s on rows read from the same CSV
   (only the predict call is timed; the median of a few repetitions on the first --predict-rows
   rows, half of them before the end-to-end run and half after it, so drift hits both), and reading
   the CSV plus predict, as issue 17 counts the in-process figure.
   Targets: end-to-end ÷ in-process read + predict ≥ 0.6; ÷ the predict call alone ≥ 0.4.
   [2b] then runs each stage of the chain one after another in this process (read, check, encode,
   the endpoint's parse and predict, decode, write) and prints its CPU µs per row, and the ceiling
   those set on the ratio when every core is busy and nothing else costs.
3. `ScoringClient.predict(frame)` next to a naive client (requests + json + `to_dict('records')`,
   sequential 1,000-row batches on one keep-alive session), taking turns on the same rows, (a)
   against an embedded endpoint in this process (client and server share one GIL) and (b) against
   `bankscore serve` in its own process, as a real endpoint is. Target: ScoringClient ≥ 3× naive.
4. Single-row `ScoringClient.predict([row])` latency against `bankscore serve` in its own process
   on loopback. Target: p99 ≤ 5 ms.

    uv run python benchmarks/bench_client.py [--model DIR] [--rows 1000000] [--naive-rows 200000]
                                             [--sweep 1000x2,5000x1,5000x4,10000x2] [--sweep-rows 200000]
                                             [--sweep-rounds 2] [--rounds 2] [--calls 2000] [--warmup 200]
                                             [--only-e2e]

--only-e2e measures 1 and 2 alone (about a minute for 1,000,000 rows): no sweep, no 3, no 4.

Without --model, a model is trained once into benchmarks/out/model-synthetic (synthetic rows).
`bankscore score` finds it as its cached default model through BANKSCORE_CACHE_DIR pointing at
benchmarks/out/client-cache. It runs as an installed package does, with compiled modules cached
(in benchmarks/out/pycache, even where PYTHONDONTWRITEBYTECODE is set); its fixed cost per process
is measured on a 1,000-row file with and without that cache (--no-bytecode-cache: the environment's
settings for every run). Machines are noisy: read the ratios, not the absolute figures.
The exit code is 0 whether the targets are met or not (this is a report), 1 when a correctness
check fails (a non-zero exit, a missing row, or predictions that differ between paths).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import secrets
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
from collections.abc import Iterator, Sequence
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
from _common import stop_process as _stop

HERE: Final = Path(__file__).resolve().parent
OUT: Final = HERE / "out"
DEFAULT_MODEL: Final = OUT / "model-synthetic"
CACHE: Final = OUT / "client-cache"
PYCACHE: Final = OUT / "pycache"

DATA_SEED: Final = 20240601
TARGET_E2E: Final = 0.6  # end-to-end rows/s ÷ in-process read + predict rows/s (the performance issue's measure)
TARGET_E2E_PREDICT: Final = 0.4  # end-to-end rows/s ÷ the in-process predict call alone (the earlier bound)
TARGET_NAIVE: Final = 3.0  # ScoringClient rows/s ÷ naive rows/s
TARGET_P99_MS: Final = 5.0
# `bankscore score` defaults against the embedded endpoint: --batch-rows 5000, --concurrency one per core.
DEFAULT_CONFIG: Final = (5_000, os.cpu_count() or 2)
NAIVE_BATCH: Final = 1_000
OVERHEAD_ROWS: Final = 1_000
START_TIMEOUT_S: Final = 60.0
REQUEST_TIMEOUT_S: Final = 60.0
TIME_BIN: Final = Path("/usr/bin/time")
SUMMARY_MARK: Final = "BENCH_SUMMARY "
NOISY_OTHER_CPU: Final = 0.15  # above this share of a core used by others, the machine was not quiet
# Settings that would send `bankscore score` to another endpoint or key instead of its embedded one.
FOREIGN_ENV: Final = (
    "BANKSCORE_ENDPOINT",
    "BANKSCORE_KEY",
    "BANKSCORE_SECONDARY_KEY",
    "BANKSCORE_KEY_FILE",
    "BANKSCORE_ENDPOINT_CONFIG",
)

# Loopback only: never route the probes through an HTTP(S)_PROXY from the environment.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ------------------------------------------------------------------------------------------- processes


def ensure_model(model: Path | None) -> Path:
    return _common.ensure_model(model, DEFAULT_MODEL)


def _process_cpu_seconds(pid: int) -> float:
    """User+system CPU of one live process (all its threads), from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = text[text.rindex(")") + 2 :].split()  # fields 3.. (the name may hold spaces)
    return (int(rest[11]) + int(rest[12])) / _CLK_TCK


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Meter:
    """Wall time and CPU over one measured stretch: this process, its reaped children, everyone else."""

    wall: float = 0.0
    own_cpu: float = 0.0  # share of one core: this process (all its threads, the embedded endpoint included)
    child_cpu: float = 0.0  # share of one core: children reaped during the stretch
    other_cpu: float = 0.0  # share of one core: the rest of the machine

    @classmethod
    @contextlib.contextmanager
    def measure(cls) -> Iterator[Meter]:
        meter = cls()
        own, child, busy = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), _busy_cpu_seconds()
        started = time.perf_counter()
        try:
            yield meter
        finally:
            wall = max(time.perf_counter() - started, 1e-9)
            meter.wall = wall
            meter.own_cpu = (_cpu(resource.RUSAGE_SELF) - own) / wall
            meter.child_cpu = (_cpu(resource.RUSAGE_CHILDREN) - child) / wall
            meter.other_cpu = max(0.0, (_busy_cpu_seconds() - busy) / wall - meter.own_cpu - meter.child_cpu)


def _noisy(other_cpu: float) -> str:
    """A mark for a measurement during which the rest of the machine was busy."""
    return "  (noisy)" if other_cpu > NOISY_OTHER_CPU else ""


def _loopback_env() -> dict[str, str]:
    """Our environment without endpoint/key settings, with loopback kept away from any proxy."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in env.get(name, "").split(",") if h]
        env[name] = ",".join([*hosts, *(h for h in ("127.0.0.1", "localhost") if h not in hosts)])
    return env


def _tail(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


# ------------------------------------------------------------------------------------------- model & data


def install_as_default_model(model_dir: Path) -> Path:
    """A cache directory whose default model is a copy of `model_dir`, for BANKSCORE_CACHE_DIR."""
    from bankscore.server.runner import SYNTHETIC_MODEL

    target = CACHE / "models" / SYNTHETIC_MODEL
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model_dir, target)
    return CACHE


def write_rows(rows: int, seed: int, path: Path) -> None:
    """`rows` synthetic rows (the 20 input columns, no label) as CSV, written whole or not at all."""
    from bankscore.bankmarketing.synthetic import generate

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    generate(rows, seed=seed, label=False).to_csv(partial, index=False)
    os.replace(partial, path)


def head_csv(source: Path, rows: int, target: Path) -> None:
    """The header and first `rows` data lines of `source`: the same rows, fewer of them."""
    with source.open("rb") as src, target.open("wb") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)


def count_data_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1


# ------------------------------------------------------------------------------------------- 1. end to end


@dataclass
class CliRun:
    """One `bankscore score` process: how long it took, its CPU and memory, and whether it was right."""

    label: str
    rows: int
    command: list[str]
    wall: float = 0.0
    cpu: float = 0.0  # share of one core
    other_cpu: float = 0.0
    peak_rss_mb: float | None = None
    rss_source: str = ""
    problems: list[str] = field(default_factory=list)
    stderr: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall if self.wall else 0.0


def score_command(cli: str, source: Path, target: Path, config: tuple[int, int] | None) -> list[str]:
    command = [cli, "score", str(source), "-o", str(target)]
    if config is not None:
        command += ["--batch-rows", str(config[0]), "--concurrency", str(config[1])]
    return command


def run_score(label: str, command: list[str], rows: int, env: dict[str, str], timeout: float) -> CliRun:
    """Time the whole `bankscore score` process; its peak RSS from /usr/bin/time -v, else from VmHWM."""
    run = CliRun(label, rows, command)
    with tempfile.TemporaryDirectory(prefix="bankscore-bench-") as tmp:
        time_file = Path(tmp) / "time.txt"
        stderr_file = Path(tmp) / "stderr.txt"
        use_time = TIME_BIN.is_file() and os.access(TIME_BIN, os.X_OK)
        argv = [str(TIME_BIN), "-v", "-o", str(time_file), *command] if use_time else command
        hwm_kb: int | None = None
        with stderr_file.open("wb") as stderr, Meter.measure() as meter:
            process = subprocess.Popen(
                argv,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent,
            )
            deadline = time.monotonic() + timeout
            try:
                while True:
                    if not use_time:
                        hwm_kb = _vm_hwm_kb(process.pid) or hwm_kb
                    try:
                        process.wait(timeout=0.05)
                        break
                    except subprocess.TimeoutExpired:
                        if time.monotonic() > deadline:
                            run.problems.append(f"did not finish within {timeout:.0f}s and was stopped")
                            break
            finally:
                _stop(process)
        run.wall, run.cpu, run.other_cpu = meter.wall, meter.child_cpu, meter.other_cpu
        run.stderr = stderr_file.read_text(errors="replace")
        if process.returncode not in (0, None) and not run.problems:
            run.problems.append(f"exited with {process.returncode}")
        if use_time and time_file.is_file():
            for line in time_file.read_text(errors="replace").splitlines():
                if "Maximum resident set size" in line:
                    run.peak_rss_mb = int(line.rsplit(":", 1)[1]) / 1024
                    run.rss_source = "/usr/bin/time -v"
        elif hwm_kb is not None:
            run.peak_rss_mb = hwm_kb / 1024
            run.rss_source = "VmHWM, polled"
    return run


def _vm_hwm_kb(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def check_output(run: CliRun, target: Path, expected_head: Sequence[Any]) -> None:
    """The output holds every row, each with a prediction, and the first ones match the in-process model."""
    import pandas as pd

    if run.problems:
        return
    if not target.is_file():
        run.problems.append(f"wrote no {target}")
        return
    lines = count_data_lines(target)
    if lines != run.rows:
        run.problems.append(f"wrote {lines:,} rows for {run.rows:,} input rows")
        return
    predictions = pd.read_csv(target, usecols=["prediction"], dtype={"prediction": object})["prediction"]
    if predictions.isna().any():
        run.problems.append(f"{int(predictions.isna().sum()):,} rows have no prediction")
    head = predictions.iloc[: len(expected_head)].tolist()
    differ = sum(a != b for a, b in zip(head, expected_head, strict=True))
    if differ:
        run.problems.append(f"{differ:,} of the first {len(head):,} predictions differ from the in-process model's")


def print_cli_run(run: CliRun, indent: str = "  ") -> None:
    rss = f", peak RSS {run.peak_rss_mb:,.0f} MB ({run.rss_source})" if run.peak_rss_mb is not None else ""
    print(
        f"{indent}{run.label:<22} {run.rows:>10,} rows in {run.wall:7.2f} s = {run.rows_per_s:>9,.0f} rows/s  "
        f"CPU {run.cpu:.0%}, other {run.other_cpu:.0%}{rss}",
        end="",
    )
    print(f"  INVALID: {'; '.join(run.problems)}" if run.problems else _noisy(run.other_cpu), flush=True)


# ------------------------------------------------------------------------------------------- 2. in process


@dataclass
class PredictTimes:
    rows: int
    seconds: list[float] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.rows / statistics.median(self.seconds) if self.seconds else 0.0


def time_predict(model: Any, frame: Any, reps: int, into: PredictTimes) -> Any:
    """Time `model.predict(frame)` alone, `reps` times; returns the last predictions."""
    predictions = None
    for _ in range(reps):
        started = time.perf_counter()
        predictions = model.predict(frame)
        into.seconds.append(time.perf_counter() - started)
    return predictions


def time_read_and_predict(model: Any, path: Path, types: dict[str, str], reps: int, into: PredictTimes) -> None:
    """Time reading the CSV as `bankscore score` reads it plus `model.predict`: the issue's in-process figure."""
    from bankscore.files import read_table

    for _ in range(reps):
        started = time.perf_counter()
        model.predict(read_table(path, types=types))
        into.seconds.append(time.perf_counter() - started)


STAGE_BATCH: Final = 5_000  # rows per request, as `bankscore score` sends them to the embedded endpoint


def stage_profile(model: Any, path: Path) -> dict[str, float]:
    """CPU microseconds per row of each stage of the end-to-end chain, run one after another in this process.

    The same code `bankscore score` and the endpoint run, minus the HTTP and the threads: the client reads
    and checks 50,000-row chunks, encodes 5,000-row bodies, decodes the answers and writes the output CSV;
    the endpoint parses each body into the model's matrix, predicts and encodes the answer. What HTTP, the
    GIL and the overlap add comes on top.
    """
    import orjson
    import pandas as pd

    from bankscore.contract import parse_swagger
    from bankscore.decoding import decode
    from bankscore.encoding import encode
    from bankscore.files.formats import iter_frames, open_writer
    from bankscore.server.payload import BodyParser
    from bankscore.server.swagger import swagger_v2
    from bankscore.validation import to_table

    contract = parse_swagger(swagger_v2(model, "inputs"))
    parser = BodyParser("inputs", model.schema)
    spent: dict[str, float] = {}

    def timed(stage: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        value = call(*args, **kwargs)
        spent[stage] = spent.get(stage, 0.0) + time.process_time() - started
        return value

    rows = 0
    with tempfile.TemporaryDirectory(prefix="bankscore-bench-stages-") as folder:
        frames = iter_frames(path, types=contract.types, chunk_rows=50_000)
        with open_writer(Path(folder) / "out.csv") as writer:
            while (frame := timed("client: read CSV", next, frames, None)) is not None:
                table = timed("client: check rows", to_table, frame, contract, extra_columns="ignore")
                labels: list[Any] = []
                for start in range(0, table.n_rows, STAGE_BATCH):
                    part = table.slice(start, start + STAGE_BATCH)
                    body = timed("client: encode JSON", encode, part, contract, "predict")
                    request = timed("endpoint: parse JSON", parser.parse, body)
                    matrix = timed("endpoint: parse JSON", request.encoded, model.schema)
                    answer = timed("endpoint: predict", model.labels_from_matrix, matrix)
                    reply = timed("endpoint: encode answer", orjson.dumps, {"Results": answer})
                    labels += timed("client: decode answer", decode, reply, part.n_rows)
                scored = frame.copy(deep=False)
                scored["prediction"] = pd.Series(labels, index=frame.index, dtype=object)
                timed("client: write CSV", writer.write, scored)
                rows += len(frame)
    return {stage: seconds / rows * 1e6 for stage, seconds in spent.items()}


def print_stage_profile(stages: dict[str, float], inproc_us: float, inproc_read_us: float) -> None:
    client = sum(us for stage, us in stages.items() if stage.startswith("client"))
    endpoint = sum(us for stage, us in stages.items() if stage.startswith("endpoint"))
    for stage, us in stages.items():
        print(f"  {stage:<26} {us:6.2f} µs/row")
    chain = client + endpoint
    cores = os.cpu_count() or 1
    print(f"  {'client total':<26} {client:6.2f} µs/row;  endpoint total {endpoint:.2f} µs/row;  chain {chain:.2f}")
    print(
        f"  in-process: predict {inproc_us:.2f} µs/row, read + predict {inproc_read_us:.2f} µs/row (wall, one core)\n"
        f"  ceiling on {cores} core(s), fully overlapped, no fixed cost and no HTTP: end to end ÷ in-process predict "
        f"≤ {cores * inproc_us / chain:.2f} (÷ read + predict ≤ {cores * inproc_read_us / chain:.2f})"
    )


# ------------------------------------------------------------------------------------------- 3. naive vs client


@dataclass
class ClientRun:
    name: str
    rows: int
    meter: Meter

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.meter.wall


def naive_predict(session: Any, uri: str, key: str | None, frame: Any) -> list[Any]:
    """What a first attempt looks like: to_dict('records'), json.dumps, one 1,000-row POST after another."""
    rows = frame.to_dict("records")
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    results: list[Any] = []
    for start in range(0, len(rows), NAIVE_BATCH):
        body = {"Inputs": {"data": rows[start : start + NAIVE_BATCH]}, "GlobalParameters": {"method": "predict"}}
        response = session.post(uri, data=json.dumps(body), headers=headers, timeout=REQUEST_TIMEOUT_S)
        response.raise_for_status()
        results.extend(response.json()["Results"])
    return results


def compare_clients(
    uri: str, key: str | None, frame: Any, rounds: int, server_pid: int | None = None
) -> tuple[list[ClientRun], list[str]]:
    """Naive and ScoringClient take turns against one endpoint, on the same rows.

    With `server_pid` (an endpoint in its own process), that process's CPU is reported as the server's,
    not as the rest of the machine's.
    """
    import requests

    from bankscore import ScoringClient

    runs: list[ClientRun] = []
    problems: list[str] = []
    with requests.Session() as session:
        session.trust_env = False  # loopback: no proxy from the environment
        with ScoringClient(uri, key=key, timeout=REQUEST_TIMEOUT_S) as client:
            warm = frame.iloc[: min(len(frame), NAIVE_BATCH)]
            naive_predict(session, uri, key, warm)  # connection, first request
            client.predict(warm)  # swagger fetch, connection pool
            naive_answer: list[Any] = []
            client_answer: list[Any] = []
            for round_ in range(1, rounds + 1):
                order = ("naive", "ScoringClient") if round_ % 2 else ("ScoringClient", "naive")
                for name in order:
                    server_before = _process_cpu_seconds(server_pid) if server_pid else 0.0
                    with Meter.measure() as meter:
                        if name == "naive":
                            naive_answer = naive_predict(session, uri, key, frame)
                        else:
                            client_answer = client.predict(frame).tolist()
                    server = ""
                    if server_pid:
                        share = (_process_cpu_seconds(server_pid) - server_before) / meter.wall
                        meter.other_cpu = max(0.0, meter.other_cpu - share)
                        server = f", server {share:.0%}"
                    run = ClientRun(name, len(frame), meter)
                    runs.append(run)
                    print(
                        f"  round {round_}  {name:<14} {run.rows:>9,} rows in {meter.wall:6.2f} s = "
                        f"{run.rows_per_s:>9,.0f} rows/s  CPU of this process {meter.own_cpu:.0%}{server}, "
                        f"other {meter.other_cpu:.0%}{_noisy(meter.other_cpu)}",
                        flush=True,
                    )
                if len(naive_answer) != len(frame) or len(client_answer) != len(frame):
                    problems.append(
                        f"round {round_}: naive answered {len(naive_answer):,} rows, "
                        f"ScoringClient {len(client_answer):,}, for {len(frame):,}"
                    )
                else:
                    differ = sum(a != b for a, b in zip(naive_answer, client_answer, strict=True))
                    if differ:
                        problems.append(f"round {round_}: {differ:,} of {len(frame):,} predictions differ")
    return runs, problems


# ------------------------------------------------------------------------------------------- 4. latency


@contextlib.contextmanager
def serve_process(model_dir: Path, log: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`bankscore serve` on a free loopback port, without auth or access log; stopped by its PID."""
    port = _free_port()
    command = [
        _bankscore_cli(),
        "serve",
        "--model",
        str(model_dir),
        "--port",
        str(port),
        "--no-auth",
        "--no-access-log",
    ]
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
            preexec_fn=_die_with_parent,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchError(f"`bankscore serve` exited before it was healthy:\n{_tail(log.read_text())}")
            with contextlib.suppress(urllib.error.URLError, OSError), _LOOPBACK.open(f"{base}/", timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"`bankscore serve` was not healthy within {START_TIMEOUT_S:.0f}s")
            time.sleep(0.1)
        yield f"{base}/score", process.pid
    finally:
        _stop(process)


def measure_latency(
    scoring_uri: str, rows: list[dict[str, Any]], expected: Sequence[Any], warmup: int, calls: int
) -> tuple[list[float], list[str]]:
    """`calls` single-row predicts after `warmup` ones, cycling through `rows`; each answer is checked."""
    from bankscore import ScoringClient

    samples: list[float] = []
    wrong = 0
    with ScoringClient(scoring_uri, key=None, timeout=10.0, max_retries=0) as client:
        for i in range(warmup + calls):
            j = i % len(rows)
            started = time.perf_counter()
            answer = client.predict([rows[j]])
            elapsed = time.perf_counter() - started
            if i >= warmup:
                samples.append(elapsed * 1000)
            if answer.tolist() != [expected[j]]:
                wrong += 1
    problems = (
        [f"{wrong:,} of {warmup + calls:,} single-row answers differ from the in-process model's"] if wrong else []
    )
    return samples, problems


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# ------------------------------------------------------------------------------------------- report


def machine_lines() -> list[str]:
    cpu_model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = []
    for name in ("bankscore", "pandas", "numpy", "lightgbm", "orjson", "httpx", "uvicorn", "requests"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{name} {importlib.metadata.version(name)}")
    return [
        f"machine: nproc {len(os.sched_getaffinity(0))} (of {os.cpu_count()}), {cpu_model}, "
        f"{platform.system()} {platform.release()}, load average {load}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"packages: {', '.join(versions)}",
    ]


def parse_sweep(text: str) -> list[tuple[int, int]]:
    configs: list[tuple[int, int]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        batch, sep, concurrency = item.lower().partition("x")
        if not sep or not batch.isdigit() or not concurrency.isdigit() or int(batch) < 1 or int(concurrency) < 1:
            raise argparse.ArgumentTypeError(f"{item!r}: write BATCH_ROWSxCONCURRENCY, e.g. 5000x2")
        if not 1 <= int(concurrency) <= 64:
            raise argparse.ArgumentTypeError(f"{item!r}: the concurrency must be between 1 and 64")
        configs.append((int(batch), int(concurrency)))
    return configs


def reproduce_command(args: argparse.Namespace, model_dir: Path) -> str:
    with contextlib.suppress(ValueError):
        model_dir = model_dir.relative_to(REPO_ROOT)
    argv = ["uv", "run", "python", "benchmarks/bench_client.py", "--model", str(model_dir)]
    argv += ["--rows", str(args.rows), "--naive-rows", str(args.naive_rows), "--seed", str(args.seed)]
    argv += ["--predict-rows", str(args.predict_rows), "--predict-reps", str(args.predict_reps)]
    argv += ["--rounds", str(args.rounds), "--sweep", ",".join(f"{b}x{c}" for b, c in args.sweep)]
    argv += [
        "--sweep-rows",
        str(args.sweep_rows),
        "--sweep-rounds",
        str(args.sweep_rounds),
        "--calls",
        str(args.calls),
        "--warmup",
        str(args.warmup),
    ]
    if args.no_bytecode_cache:
        argv.append("--no-bytecode-cache")
    if args.only_e2e:
        argv.append("--only-e2e")
    return f"cd {shlex.quote(str(REPO_ROOT))} && {shlex.join(argv)}"


def print_e2e(main: CliRun, inproc: PredictTimes, with_read: PredictTimes) -> tuple[float, float]:
    """Print and return the end-to-end ratios: over predict alone, and over read + predict in one process (as
    the issue counts)."""
    e2e_read = main.rows_per_s / with_read.rows_per_s if with_read.rows_per_s else 0.0
    e2e = main.rows_per_s / inproc.rows_per_s if inproc.rows_per_s else 0.0
    print(
        f"  end-to-end `bankscore score` {main.rows_per_s:,.0f} rows/s ÷ in-process read + predict "
        f"{with_read.rows_per_s:,.0f} rows/s = {e2e_read:.2f} (target ≥ {TARGET_E2E:g}) "
        f"{verdict(e2e_read >= TARGET_E2E)}"
    )
    print(
        f"    ÷ the in-process predict call alone {inproc.rows_per_s:,.0f} rows/s = {e2e:.2f} "
        f"(target ≥ {TARGET_E2E_PREDICT:g}) {verdict(e2e >= TARGET_E2E_PREDICT)}"
    )
    return e2e, e2e_read


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# ------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="model directory (default: benchmarks/out/model-synthetic)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for `bankscore score` (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=DATA_SEED, help=f"synthetic data seed (default {DATA_SEED})")
    parser.add_argument(
        "--predict-rows", type=int, default=200_000, help="in-process predict on the first rows (default 200,000)"
    )
    parser.add_argument("--predict-reps", type=int, default=4, help="in-process repetitions, median (default 4)")
    parser.add_argument(
        "--naive-rows", type=int, default=200_000, help="rows for naive vs ScoringClient (default 200,000)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="naive/ScoringClient turns; median (default 2)")
    parser.add_argument(
        "--sweep",
        type=parse_sweep,
        default=parse_sweep("1000x2,5000x1,5000x4,10000x2"),
        help="other --batch-rows x --concurrency for `bankscore score`, next to the default (5000 x one per core) "
        "(default 1000x2,5000x1,5000x4,10000x2; '' for none)",
    )
    parser.add_argument("--sweep-rows", type=int, default=200_000, help="rows per sweep run (default 200,000)")
    parser.add_argument("--sweep-rounds", type=int, default=2, help="sweep rounds; median (default 2)")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run `bankscore score` with the environment's bytecode settings instead of a bytecode cache "
        "in benchmarks/out/pycache",
    )
    parser.add_argument(
        "--only-e2e",
        action="store_true",
        help="measure sections 1-2 alone (fixed cost, end to end vs in-process; no sweep, no [3], no [4])",
    )
    parser.add_argument("--calls", type=int, default=2_000, help="single-row calls measured (default 2,000)")
    parser.add_argument("--warmup", type=int, default=200, help="single-row warm-up calls (default 200)")
    args = parser.parse_args(argv)
    for name in ("rows", "predict_rows", "predict_reps", "naive_rows", "rounds", "sweep_rows", "sweep_rounds", "calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    args.predict_rows = min(args.predict_rows, args.rows)
    args.naive_rows = min(args.naive_rows, args.rows)
    args.sweep_rows = min(args.sweep_rows, args.rows)
    return args


def benchmark(args: argparse.Namespace) -> int:
    import pandas as pd

    from bankscore.bankmarketing.schema import COLUMN_TYPES
    from bankscore.files import read_table
    from bankscore.server.model import load_model
    from bankscore.server.runner import CACHE_ENV

    for name in FOREIGN_ENV:  # this process: the clients below talk only to endpoints started here
        os.environ.pop(name, None)
    os.environ.update({k: v for k, v in _loopback_env().items() if k.lower() == "no_proxy"})
    cli = _bankscore_cli()
    model_dir = ensure_model(args.model)
    env = _loopback_env()
    env[CACHE_ENV] = str(install_as_default_model(model_dir))
    if not args.no_bytecode_cache:  # as an installed package runs: modules compiled once, then read from the cache
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    problems: list[str] = []

    for line in machine_lines():
        print(line)
    print(f"model: {describe_model(model_dir)}")
    print(f"`bankscore score` runs with {CACHE_ENV}={env[CACHE_ENV]} (a copy of that model as its default)")
    ambient = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "not set"
    if args.no_bytecode_cache:
        print(f"bytecode: the environment's own settings (PYTHONDONTWRITEBYTECODE {ambient})")
    else:
        print(f"bytecode: cached in {PYCACHE} (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE is {ambient} here)")
    data = OUT / f"rows-{args.rows}-seed{args.seed}.csv"
    started = time.monotonic()
    write_rows(args.rows, args.seed, data)
    print(
        f"data: {args.rows:,} synthetic rows (seed {args.seed}, no label) → {data} "
        f"({data.stat().st_size / 1e6:,.0f} MB, written in {time.monotonic() - started:.1f} s)",
        flush=True,
    )
    model = load_model(model_dir)
    predict_data = data
    if args.predict_rows < args.rows:
        predict_data = OUT / f"rows-{args.predict_rows}-seed{args.seed}.csv"
        head_csv(data, args.predict_rows, predict_data)
    frame = read_table(predict_data, types=COLUMN_TYPES)  # as `bankscore score` reads it: text stays object
    model.predict(frame.iloc[:1000])  # warm-up
    expected = model.predict(frame).tolist()

    # The fixed cost of one `bankscore score` process (start-up, imports, model load, swagger, a tiny file),
    # without and with a bytecode cache: without one, every start compiles every module it imports.
    small = OUT / f"rows-{OVERHEAD_ROWS}-seed{args.seed}.csv"
    head_csv(data, OVERHEAD_ROWS, small)
    small_out = OUT / f"scored-{OVERHEAD_ROWS}.csv"
    small_command = score_command(cli, small, small_out, None)
    print(f"\n[1a] fixed cost of one `bankscore score` process on a {OVERHEAD_ROWS:,}-row file")
    starts: dict[str, CliRun] = {}
    with tempfile.TemporaryDirectory(prefix="bankscore-bench-pycache-") as empty:  # nothing cached, nothing written
        no_cache = env | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        variants = [("no bytecode cache", no_cache)]
        if not args.no_bytecode_cache:
            variants += [("warm-up (fills cache)", env), ("bytecode cached", env)]
        for label, variant_env in variants:
            small_out.unlink(missing_ok=True)
            run = run_score(label, small_command, OVERHEAD_ROWS, variant_env, 120)
            check_output(run, small_out, expected[:OVERHEAD_ROWS])
            problems += [f"`bankscore score` ({OVERHEAD_ROWS:,} rows, {label}): {p}" for p in run.problems]
            starts[label] = run
            print_cli_run(run)
    overhead = starts["no bytecode cache" if args.no_bytecode_cache else "bytecode cached"]

    # 1 + 2: the whole `bankscore score` process, between two halves of the in-process repetitions.
    print(f"\n[1+2] `bankscore score` end to end vs in-process Model.predict (first {args.predict_rows:,} rows)")
    inproc = PredictTimes(len(frame))
    first_half = (args.predict_reps + 1) // 2
    time_predict(model, frame, first_half, inproc)
    output = OUT / f"scored-{args.rows}.csv"
    output.unlink(missing_ok=True)
    timeout = 120 + args.rows / 2_000
    main = run_score(
        f"defaults ({DEFAULT_CONFIG[0]}x{DEFAULT_CONFIG[1]})",
        score_command(cli, data, output, None),
        args.rows,
        env,
        timeout,
    )
    check_output(main, output, expected)
    if args.predict_reps > first_half:
        time_predict(model, frame, args.predict_reps - first_half, inproc)
    with_read = PredictTimes(len(frame))
    time_read_and_predict(model, predict_data, COLUMN_TYPES, max(2, args.predict_reps // 2), with_read)
    print(
        f"  in-process predict     {inproc.rows:>10,} rows: "
        + ", ".join(f"{s:.2f}" for s in inproc.seconds)
        + f" s; median = {inproc.rows_per_s:>9,.0f} rows/s (predict call only, rows read as `bankscore score` does)"
    )
    print(
        f"  in-process read+predict {with_read.rows:>9,} rows: "
        + ", ".join(f"{s:.2f}" for s in with_read.seconds)
        + f" s; median = {with_read.rows_per_s:>9,.0f} rows/s (reading the CSV too, as the issue counts it)"
    )
    print_cli_run(main)
    problems += [f"`bankscore score` ({main.label}): {p}" for p in main.problems]
    if main.problems:
        print(f"  its stderr, the end:\n{_tail(main.stderr)}")
    marginal = (args.rows - OVERHEAD_ROWS) / max(main.wall - overhead.wall, 1e-9) if args.rows > OVERHEAD_ROWS else 0.0
    if marginal:
        print(
            f"  without the fixed cost ({overhead.wall:.2f} s, {overhead.label}): {marginal:,.0f} rows/s "
            f"= {marginal / with_read.rows_per_s:.2f} of in-process read + predict, "
            f"{marginal / inproc.rows_per_s:.2f} of the predict call alone"
        )

    # The same process with other --batch-rows / --concurrency, on the first sweep rows, in turns.
    sweep_runs: list[CliRun] = []
    sweep_medians: dict[str, float] = {}
    if args.sweep and not args.only_e2e:
        sweep_data = data
        if args.sweep_rows < args.rows:
            sweep_data = OUT / f"rows-{args.sweep_rows}-seed{args.seed}.csv"
            head_csv(data, args.sweep_rows, sweep_data)
        sweep_out = OUT / f"scored-sweep-{args.sweep_rows}.csv"
        configs = [DEFAULT_CONFIG, *(c for c in args.sweep if c != DEFAULT_CONFIG)]
        print(
            f"\n[1b] `bankscore score` --batch-rows x --concurrency on the first {args.sweep_rows:,} rows, "
            f"{args.sweep_rounds} round(s), forward then backward"
        )
        for round_ in range(args.sweep_rounds):
            for batch, concurrency in configs if round_ % 2 == 0 else configs[::-1]:
                command = score_command(cli, sweep_data, sweep_out, (batch, concurrency))
                sweep_out.unlink(missing_ok=True)
                timeout = 120 + args.sweep_rows / 2_000
                run = run_score(f"{batch}x{concurrency}", command, args.sweep_rows, env, timeout)
                check_output(run, sweep_out, expected[: args.sweep_rows])
                problems += [f"`bankscore score` {run.label}: {p}" for p in run.problems]
                sweep_runs.append(run)
                print_cli_run(run)
        default_label = f"{DEFAULT_CONFIG[0]}x{DEFAULT_CONFIG[1]}"
        for batch, concurrency in configs:
            label = f"{batch}x{concurrency}"
            sweep_medians[label] = statistics.median(r.rows_per_s for r in sweep_runs if r.label == label)
        for label, rps in sweep_medians.items():
            ratio = rps / sweep_medians[default_label]
            print(f"  {label:<10} median {rps:>9,.0f} rows/s = {ratio:.2f} × the default {default_label}")

    print(f"\n[2b] where the CPU goes: each stage of the chain in this process, first {args.predict_rows:,} rows")
    stages = stage_profile(model, predict_data)
    print_stage_profile(stages, 1e6 / inproc.rows_per_s, 1e6 / with_read.rows_per_s)

    if args.only_e2e:
        return _e2e_summary(args, model_dir, main, inproc, with_read, overhead, starts, problems)

    # 3: naive client vs ScoringClient, same endpoint, same rows.
    print(f"\n[3] ScoringClient vs naive (requests + json + to_dict('records'), {NAIVE_BATCH:,}-row batches in turn)")
    naive_frame = pd.read_csv(data, nrows=args.naive_rows)  # a user's DataFrame: pandas' own dtypes
    from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig

    key = secrets.token_urlsafe(32)
    config = EndpointConfig(model_dir=model_dir, port=0, primary_key=key, access_log=False)
    with EmbeddedEndpoint(config) as embedded:
        print(f"  [3a] embedded endpoint {embedded.scoring_uri} in this process (key auth on)")
        client_runs, client_problems = compare_clients(embedded.scoring_uri, key, naive_frame, args.rounds)
    with (
        tempfile.TemporaryDirectory(prefix="bankscore-bench-") as tmp,
        serve_process(model_dir, Path(tmp) / "serve.log", env) as (uri, pid),
    ):
        print(f"  [3b] `bankscore serve --no-auth --no-access-log` PID {pid}, {uri}, 1 worker", flush=True)
        apart_runs, apart_problems = compare_clients(uri, None, naive_frame, args.rounds, server_pid=pid)
    client_problems += apart_problems
    problems += [f"naive vs ScoringClient: {p}" for p in client_problems]
    naive_rps = statistics.median(r.rows_per_s for r in client_runs if r.name == "naive")
    client_rps = statistics.median(r.rows_per_s for r in client_runs if r.name == "ScoringClient")
    naive_apart = statistics.median(r.rows_per_s for r in apart_runs if r.name == "naive")
    client_apart = statistics.median(r.rows_per_s for r in apart_runs if r.name == "ScoringClient")
    if not client_problems:
        print(f"  checked: both give the same {args.naive_rows:,} predictions, against both endpoints")

    # 4: single-row latency against `bankscore serve` in its own process.
    print(f"\n[4] single-row ScoringClient.predict latency, {args.calls:,} calls after {args.warmup:,} warm-up")
    latency_rows = cast(list[dict[str, Any]], frame.iloc[: min(len(frame), 1000)].to_dict("records"))
    with tempfile.TemporaryDirectory(prefix="bankscore-bench-") as tmp:
        log = Path(tmp) / "serve.log"
        with serve_process(model_dir, log, env) as (uri, pid):
            print(f"  `bankscore serve --no-auth --no-access-log` PID {pid}, {uri}, 1 worker", flush=True)
            server_cpu = _process_cpu_seconds(pid)
            with Meter.measure() as meter:
                samples, latency_problems = measure_latency(
                    uri, latency_rows, expected[: len(latency_rows)], args.warmup, args.calls
                )
            server_share = (_process_cpu_seconds(pid) - server_cpu) / meter.wall
            meter.other_cpu = max(0.0, meter.other_cpu - server_share)  # the server is ours, not other
    problems += [f"single-row latency: {p}" for p in latency_problems]
    p50, p90, p99 = (percentile(samples, q) for q in (50, 90, 99))
    worst = max(samples)
    print(
        f"  p50 {p50:.2f} ms  p90 {p90:.2f} ms  p99 {p99:.2f} ms  max {worst:.2f} ms  "
        f"({len(samples) / sum(samples) * 1000:,.0f} calls/s in sequence; CPU: client {meter.own_cpu:.0%}, "
        f"server {server_share:.0%}, other {meter.other_cpu:.0%}){_noisy(meter.other_cpu)}"
    )

    # Summary.
    over_naive = client_rps / naive_rps if naive_rps else 0.0
    over_naive_apart = client_apart / naive_apart if naive_apart else 0.0
    best = max(sweep_medians, key=lambda label: sweep_medians[label], default=None)
    print("\nsummary")
    e2e, e2e_read = print_e2e(main, inproc, with_read)
    if best is not None:
        gain = sweep_medians[best] / sweep_medians[f"{DEFAULT_CONFIG[0]}x{DEFAULT_CONFIG[1]}"]
        print(f"    best --batch-rows x --concurrency on {args.sweep_rows:,} rows: {best} ({gain:.2f} × the default)")
    cold = starts["no bytecode cache"].wall
    print(f"    fixed cost per process {overhead.wall:.2f} s ({overhead.label}); {cold:.2f} s with no bytecode cache")
    if main.peak_rss_mb is not None:
        print(f"    peak RSS of `bankscore score` on {args.rows:,} rows: {main.peak_rss_mb:,.0f} MB")
    print(
        f"  ScoringClient {client_rps:,.0f} rows/s ÷ naive {naive_rps:,.0f} rows/s = {over_naive:.1f}× "
        f"(target ≥ {TARGET_NAIVE:g}×) {verdict(over_naive >= TARGET_NAIVE)}  [endpoint in the same process]"
    )
    print(
        f"  ScoringClient {client_apart:,.0f} rows/s ÷ naive {naive_apart:,.0f} rows/s = {over_naive_apart:.1f}× "
        f"(target ≥ {TARGET_NAIVE:g}×) {verdict(over_naive_apart >= TARGET_NAIVE)}  [`bankscore serve` apart]"
    )
    print(f"  single-row predict p99 {p99:.2f} ms (target ≤ {TARGET_P99_MS:g} ms) {verdict(p99 <= TARGET_P99_MS)}")
    others = [main.other_cpu, overhead.other_cpu, *(r.other_cpu for r in sweep_runs)]
    noisy = max([*others, *(r.meter.other_cpu for r in client_runs + apart_runs), meter.other_cpu])
    if noisy > NOISY_OTHER_CPU:
        print(
            f"WARNING: other processes used up to {noisy:.0%} of a core during a measurement: the machine was not "
            "quiet, so these figures are not the final measurement."
        )
    print(
        "CPU: share of one core during the stretch (100% = one core busy); other = the rest of the machine. "
        "in-process predict is the model alone (LightGBM, one thread) on a DataFrame already in memory."
    )
    print(f"reproduce: {reproduce_command(args, model_dir)}")
    summary = {
        "rows": args.rows,
        "e2e_rows_per_s": round(main.rows_per_s),
        "inprocess_rows_per_s": round(inproc.rows_per_s),
        "e2e_ratio": round(e2e, 3),
        "inprocess_read_rows_per_s": round(with_read.rows_per_s),
        "e2e_ratio_vs_read_and_predict": round(e2e_read, 3),
        "e2e_peak_rss_mb": None if main.peak_rss_mb is None else round(main.peak_rss_mb),
        "sweep": {label: round(rps) for label, rps in sweep_medians.items()},
        "naive_rows_per_s": round(naive_rps),
        "client_rows_per_s": round(client_rps),
        "client_over_naive": round(over_naive, 2),
        "naive_rows_per_s_apart": round(naive_apart),
        "client_rows_per_s_apart": round(client_apart),
        "client_over_naive_apart": round(over_naive_apart, 2),
        "latency_ms": {"p50": round(p50, 3), "p90": round(p90, 3), "p99": round(p99, 3), "max": round(worst, 3)},
        "valid": not problems,
    }
    print(SUMMARY_MARK + json.dumps(summary))
    if problems:
        print("\nINVALID: a correctness check failed:")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    return 0


def _e2e_summary(
    args: argparse.Namespace,
    model_dir: Path,
    main: CliRun,
    inproc: PredictTimes,
    with_read: PredictTimes,
    overhead: CliRun,
    starts: dict[str, CliRun],
    problems: list[str],
) -> int:
    """The summary of sections 1-2 alone (--only-e2e)."""
    print("\nsummary")
    e2e, e2e_read = print_e2e(main, inproc, with_read)
    cold = starts["no bytecode cache"].wall
    print(f"    fixed cost per process {overhead.wall:.2f} s ({overhead.label}); {cold:.2f} s with no bytecode cache")
    if main.other_cpu > NOISY_OTHER_CPU:
        print(f"WARNING: other processes used {main.other_cpu:.0%} of a core during the end-to-end run.")
    print(f"reproduce: {reproduce_command(args, model_dir)}")
    summary = {
        "rows": args.rows,
        "e2e_rows_per_s": round(main.rows_per_s),
        "inprocess_rows_per_s": round(inproc.rows_per_s),
        "e2e_ratio": round(e2e, 3),
        "inprocess_read_rows_per_s": round(with_read.rows_per_s),
        "e2e_ratio_vs_read_and_predict": round(e2e_read, 3),
        "e2e_peak_rss_mb": None if main.peak_rss_mb is None else round(main.peak_rss_mb),
        "valid": not problems,
    }
    print(SUMMARY_MARK + json.dumps(summary))
    if problems:
        print("\nINVALID: a correctness check failed:")
        print("\n".join(f"  {p}" for p in problems))
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from requests import RequestException

    from bankscore import BankscoreError

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        return benchmark(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (BankscoreError, RequestException) as err:  # an answer that should have been right was not
        print(f"INVALID: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
