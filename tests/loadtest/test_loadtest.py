"""Load tests that can't lie: short headless locust runs against real endpoints, each in its own process
(locust monkey-patches with gevent), and the gate and summary logic on its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bankscore.loadtest import Figures, Gates, ab_summary, judge
from tests.support.common import PRIMARY, ROOT, free_port

BANKSCORE = str(Path(sys.executable).parent / "bankscore")
LOCUSTFILE = str(ROOT / "loadtest" / "locustfile.py")


def loadtest(
    *args: str, key: str | None = PRIMARY, timeout: float = 120, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_KEY")} | (env_extra or {})
    if key is not None:
        env["BANKSCORE_KEY"] = key
    return subprocess.run([BANKSCORE, "loadtest", *args], capture_output=True, text=True, timeout=timeout, env=env)


def figure(output: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)}:\s+([\d.]+)", output, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{output}"
    return float(match.group(1))


# Paced (a few ms between requests per user) so the load generator never saturates on a shared CI core.
PACED = ("-u", "2", "--wait-ms", "5")


def test_right_key_no_failures_exit_0(endpoint: Any) -> None:
    result = loadtest("--endpoint", endpoint.scoring_uri, "-n", "200", "--rows-per-request", "4", *PACED)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert figure(out, "Complete requests") == 200, "-n stops at exactly that many requests"
    assert figure(out, "Failed requests") == 0 and figure(out, "Non-2xx responses") == 0
    assert "Requests per second:" in out and "(mean, across all concurrent requests)" in out
    for percent in ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "100%"):
        assert re.search(rf"^\s+{percent}\s+\d+", out, re.MULTILINE), percent
    assert "✓ failures: 0" in out and "\nPASS" in out
    assert PRIMARY not in out + result.stderr


def test_the_summary_survives_a_pipe_that_cannot_encode_its_marks(endpoint: Any) -> None:
    """Windows pipes default to cp1252, which has no ✓: the locust child is told to write UTF-8 whatever
    the parent's encoding. ASCII here stands in for cp1252 (it can't encode ✓ either)."""
    result = loadtest("--endpoint", endpoint.scoring_uri, "-n", "20", *PACED, env_extra={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ failures: 0" in result.stdout and "UnicodeEncodeError" not in result.stderr


def test_wrong_key_every_request_fails_non_zero_exit(endpoint: Any) -> None:
    result = loadtest("--endpoint", endpoint.scoring_uri, "-n", "60", *PACED, key="not-the-key")
    assert result.returncode == 1
    out = result.stdout
    assert figure(out, "Complete requests") == 60
    assert figure(out, "Failed requests") == 60, "ab said 0 here; every 401 is a failure"
    assert figure(out, "Non-2xx responses") == 60
    assert "✗ failures: 60" in out and "\nFAIL" in out


def test_injected_faults_are_counted(start_endpoint: Any) -> None:
    flaky = start_endpoint(fault_rate=0.3, faults=(503,), retry_after=None, fault_seed=3)
    strict = loadtest("--endpoint", flaky.scoring_uri, "-n", "300", *PACED)
    assert strict.returncode == 1, "failures fail the run unless an error-rate gate allows them"
    failed = figure(strict.stdout, "Failed requests")
    assert 30 <= failed <= 150, failed  # about 30 % of 300
    assert figure(strict.stdout, "Non-2xx responses") == failed
    allowed = loadtest("--endpoint", flaky.scoring_uri, "-n", "200", *PACED, "--slo-error-rate", "0.6")
    assert allowed.returncode == 0, allowed.stdout
    assert re.search(r"✓ error rate: [\d.]+% \(limit 60.00%\)", allowed.stdout)


def test_impossible_latency_slo_fails(endpoint: Any) -> None:
    result = loadtest("--endpoint", endpoint.scoring_uri, "-n", "50", *PACED, "--slo-p95-ms", "0", "--slo-min-rps", "1")
    assert result.returncode == 1
    assert re.search(r"✗ p95 latency: \d+ ms \(limit 0 ms\)", result.stdout)
    assert "✓ throughput" in result.stdout


def test_a_saturated_load_generator_fails_the_run(endpoint: Any) -> None:
    # --cpu-limit 0: any CPU the generator uses counts as saturation, so the check itself is exercised.
    result = loadtest("--endpoint", endpoint.scoring_uri, "-t", "8s", *PACED, "--cpu-limit", "0")
    assert result.returncode == 1
    assert "✗ load generator CPU: saturated" in result.stdout


def test_no_endpoint_load_tests_the_embedded_one() -> None:
    result = loadtest("-n", "40", *PACED, key=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "embedded local endpoint" in result.stderr
    assert figure(result.stdout, "Complete requests") == 40


def test_distributed_master_and_worker_merge_stats(endpoint: Any, tmp_path: Path) -> None:
    port = free_port()
    host = endpoint.scoring_uri.rsplit("/score", 1)[0]
    env = {**os.environ, "BANKSCORE_KEY": PRIMARY}
    # The CPU gate is not what this test is about (a worker's start-up can trip it on a busy CI machine).
    common = ["-f", LOCUSTFILE, "--host", host, "--exclude-tags", "health", "--wait-ms", "5", "--cpu-limit", "100"]
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "1", "--headless", "-u", "2", "-r", "2",
         "-t", "4s", "--csv", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "locust", *common, "--worker", "--master-host", "127.0.0.1",
         "--master-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        out, _ = master.communicate(timeout=90)
        worker.wait(timeout=30)
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert master.returncode == 0, out
    assert figure(out, "Complete requests") > 0 and figure(out, "Failed requests") == 0
    stats = (tmp_path / "run_stats.csv").read_text()
    assert "score" in stats, "the worker's requests reached the master's stats"


# ------------------------------------------------------------------------------------------- gates & summary


def figures(**changes: Any) -> Figures:
    base: dict[str, Any] = {
        "requests": 1000, "failures": 0, "non_2xx": 0, "rps": 500.0, "mean_ms": 4.0, "concurrency": 4,
        "percentile_ms": lambda q: 10.0 * q, "rows_per_request": 10, "duration_s": 2.0,
    }  # fmt: skip
    return Figures(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "gates", "failed"),
    [
        ({}, Gates(), []),
        ({"failures": 1}, Gates(), ["failures"]),
        ({"failures": 10}, Gates(error_rate=0.02), []),
        ({"failures": 30}, Gates(error_rate=0.02), ["error rate"]),
        ({}, Gates(p95_ms=9.0), ["p95 latency"]),
        ({}, Gates(p99_ms=10.0, p95_ms=10.0), []),
        ({}, Gates(min_rps=501), ["throughput"]),
        ({"cpu_saturated": True}, Gates(), ["load generator CPU"]),
        ({"requests": 0}, Gates(), ["requests"]),
        ({"requests": 0}, Gates(error_rate=1.0), ["requests", "error rate"]),
    ],
)
def test_gates(changes: dict[str, Any], gates: Gates, failed: list[str]) -> None:
    verdicts = judge(figures(**changes), gates)
    assert [v.name for v in verdicts if not v.passed] == failed


def test_ab_summary_lines() -> None:
    text = ab_summary(figures(failures=3, non_2xx=2))
    assert "Complete requests:      1000" in text
    assert "Failed requests:        3" in text and "Non-2xx responses:      2" in text
    assert "Time per request:       4.000 [ms] (mean)" in text
    assert "Time per request:       1.000 [ms] (mean, across all concurrent requests)" in text
    assert "Rows per second:        5000.00" in text
    assert text.splitlines()[-1] == "  100%      10 (longest request)"


def test_rows_file_and_reports(endpoint: Any, tmp_path: Path) -> None:
    from bankscore.bankmarketing.synthetic import generate

    rows = generate(7, seed=3, label=False)
    rows.insert(0, "customer_id", [f"C{i}" for i in range(7)])  # not in the contract: left out of the bodies
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    result = loadtest(
        "--endpoint", endpoint.scoring_uri, "-n", "40", *PACED, "--rows-file", str(source), "--rows-per-request", "3",
        "--csv", str(tmp_path / "run"), "--html", str(tmp_path / "report.html"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert figure(result.stdout, "Complete requests") == 40 and "3 per request" in result.stdout
    assert (tmp_path / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert "score" in (tmp_path / "run_stats.csv").read_text()


def test_an_error_body_that_echoes_the_key_is_redacted_in_the_report() -> None:
    from tests.support.canned import Answer, CannedServer

    swagger = (ROOT / "tests" / "support" / "azureml_peer" / "fixtures" / "swagger_gen_b.json").read_bytes()

    def echo(seen: Any) -> Answer:
        key = seen.headers.get("authorization", "").removeprefix("Bearer ")  # the bare key, no scheme to spot
        return Answer(401, f'{{"message": "Invalid key {key}"}}'.encode())

    with CannedServer({"GET /swagger.json": Answer(200, swagger), "POST /score": echo}) as server:
        result = loadtest("--endpoint", server.scoring_uri, "-n", "5", *PACED)
    assert result.returncode != 0
    assert figure(result.stdout, "Non-2xx responses") == 5
    assert "Invalid key" in result.stdout + result.stderr, "the service's words are shown"
    assert PRIMARY not in result.stdout + result.stderr
