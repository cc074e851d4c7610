"""Faults survived: through a proxy that misbehaves on purpose, no row is lost or duplicated, order is
kept, retries show in the logs, permanent faults name their rows and leave no output, deadlines hold."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from bankscore import RateLimitError, ScoringClient, ServiceUnavailableError
from bankscore.bankmarketing.synthetic import generate
from bankscore.files import score_file
from bankscore.retry import RetryPolicy
from tests.support.common import PRIMARY
from tests.support.faultproxy import PERMANENT, TRANSIENT, FaultProxy

BANKSCORE = str(Path(sys.executable).parent / "bankscore")
FAST = RetryPolicy(max_retries=12, backoff_base=0.01, backoff_max=0.05, deadline=120)
JOB = RetryPolicy(max_retries=None, backoff_base=0.01, backoff_max=0.05, deadline=120)  # a file job's, but quick


def auth() -> dict[str, str]:
    return {"authorization": f"Bearer {PRIMARY}", "content-type": "application/json"}


def body(rows: int = 3) -> bytes:
    import orjson

    data = generate(rows, seed=2, label=False).to_dict("records")
    return orjson.dumps({"Inputs": {"data": data}, "GlobalParameters": {"method": "predict"}})


# ------------------------------------------------------------------------------------------- the proxy itself


@pytest.mark.parametrize("fault", [*TRANSIENT, *PERMANENT])
def test_the_proxy_misbehaves_as_asked(endpoint: Any, fault: str) -> None:
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, schedule={0: fault}, stall_s=1.0) as proxy:
        with httpx.Client(timeout=0.5, trust_env=False) as http:
            assert http.get(f"{proxy.base_url}/").status_code == 200, "GETs always pass"
            if fault in ("reset-before", "reset-mid", "truncate"):
                with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                    http.post(proxy.scoring_uri, content=body(), headers=auth())
            elif fault == "stall":
                with pytest.raises(httpx.ReadTimeout):
                    http.post(proxy.scoring_uri, content=body(), headers=auth())
            else:
                response = http.post(proxy.scoring_uri, content=body(), headers=auth())
                expected = {"429-retry-after": 429, "429": 429, "408": 408, "502-html": 502, "503": 503, "504": 504,
                            "400": 400, "model-error-200": 200}[fault]  # fmt: skip
                assert response.status_code == expected
                assert ("retry-after" in response.headers) == (fault == "429-retry-after")
                if fault == "502-html":
                    assert response.text.startswith("<html>")
                if fault == "model-error-200":
                    assert "Injected model error" in response.json()
            after = http.post(proxy.scoring_uri, content=body(), headers=auth())
            assert after.status_code == 200 and len(after.json()["Results"]) == 3, "the next request passes"
        assert proxy.injected == {fault: 1} and proxy.passed == 1


# ------------------------------------------------------------------------------------------- transient faults


@pytest.fixture(scope="module")
def rows_100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The input both fault rates score: written once."""
    source = tmp_path_factory.mktemp("100k") / "in.csv"
    frame = generate(100_000, seed=41, label=False)
    frame.insert(0, "customer_id", range(len(frame)))
    frame.to_csv(source, index=False)
    return source


_CLEAN: dict[Path, bytes] = {}


def _scored_without_faults(endpoint: Any, source: Path, tmp_path: Path) -> bytes:
    """The file scored straight from the endpoint (once: every test's endpoint serves the same model)."""
    if source not in _CLEAN:
        clean = tmp_path / "clean.csv"
        with ScoringClient(endpoint.scoring_uri, key=PRIMARY, batch_rows=1_000, concurrency=4) as client:
            score_file(client, source, clean)
        _CLEAN[source] = clean.read_bytes()
    return _CLEAN[source]


@pytest.mark.parametrize("rate", [0.3, 0.5])
def test_100k_rows_through_transient_faults_lose_and_duplicate_nothing(
    endpoint: Any, rows_100k: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, rate: float
) -> None:
    """A job's budget (no count limit, bounded by time): at 50 % faults some batch fails five times in a row in
    almost every run of 100 batches, which a fixed five attempts would not survive."""
    source = rows_100k
    clean = _scored_without_faults(endpoint, source, tmp_path)
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    faulty = tmp_path / "through-faults.csv"
    with FaultProxy(base, rate=rate, faults=TRANSIENT, seed=5, stall_s=2.0) as proxy:
        options = {"key": PRIMARY, "batch_rows": 1_000, "concurrency": 4, "timeout": 1.0, "retry_policy": JOB}
        with ScoringClient(proxy.scoring_uri, **options) as client, caplog.at_level(logging.INFO, "bankscore"):
            result = score_file(client, source, faulty)
    injected = sum(proxy.injected.values())
    assert rate - 0.1 < injected / proxy.posts < rate + 0.1, proxy.injected
    assert set(proxy.injected) == set(TRANSIENT), "every kind of transient fault was exercised"
    assert result.rows == 100_000 and proxy.passed == 100, "each batch answered once, after its faults"
    assert faulty.read_bytes() == clean, "same rows, same order, same predictions"
    scored = pd.read_csv(faulty, usecols=["customer_id"])
    assert scored["customer_id"].tolist() == list(range(100_000)), "none lost, none duplicated, in order"
    retries = [r for r in caplog.records if "retry" in r.getMessage().lower()]
    assert len(retries) == injected, "every attempt after a fault is in the log"
    print(
        f"\n100,000 rows at {rate:.0%} faults, {proxy.posts} requests, {injected} faults injected "
        f"{dict(proxy.injected)}, survived all; "
        f"{len(retries)} retries logged; rows lost 0, duplicated 0"
    )


def test_a_service_that_is_always_down_is_given_up_on_within_the_deadline(
    endpoint: Any, caplog: pytest.LogCaptureFixture
) -> None:
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    policy = RetryPolicy(max_retries=100, backoff_base=0.2, backoff_max=0.5, deadline=2.0)
    rows = generate(10, label=False)
    with (
        FaultProxy(base, rate=1.0, faults=("503",)) as proxy,
        ScoringClient(proxy.scoring_uri, key=PRIMARY, retry_policy=policy) as client,
    ):
        client.contract  # noqa: B018 - fetch the swagger before the clock starts
        started = time.monotonic()
        with caplog.at_level(logging.INFO, "bankscore"), pytest.raises(ServiceUnavailableError) as caught:
            client.predict(rows)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.0, f"gave up after {elapsed:.1f}s with a 2s deadline"
    assert "gave up after" in str(caught.value)
    assert proxy.posts >= 3 and proxy.passed == 0


def test_retry_cap_holds(endpoint: Any) -> None:
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    policy = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.02, deadline=60)
    with (
        FaultProxy(base, rate=1.0, faults=("429",)) as proxy,
        ScoringClient(proxy.scoring_uri, key=PRIMARY, retry_policy=policy) as client,
        pytest.raises(RateLimitError),
    ):
        client.predict(generate(5, label=False))
    assert proxy.posts == 4, "one attempt and three retries, no more"


# ------------------------------------------------------------------------------------------- the job's budget


def _small_file(tmp_path: Path, rows: int = 2_000) -> Path:
    source = tmp_path / "in.csv"
    generate(rows, seed=45, label=False).to_csv(source, index=False)
    return source


def test_the_cli_survives_more_faults_in_a_row_than_the_old_fixed_five_attempts(endpoint: Any, tmp_path: Path) -> None:
    source = _small_file(tmp_path)
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, schedule=dict.fromkeys(range(6), "429-retry-after"), retry_after="0.05") as proxy:
        result = _cli(proxy.scoring_uri, str(source), "-o", str(tmp_path / "out.csv"), "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    assert proxy.posts == 6 + 2, "the first batch answered on its 7th attempt, the second at once"


def test_max_retries_caps_a_batch_from_the_cli(endpoint: Any, tmp_path: Path) -> None:
    source = _small_file(tmp_path)
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, schedule={0: "503", 1: "503"}) as proxy:
        result = _cli(proxy.scoring_uri, str(source), "-o", str(tmp_path / "out.csv"), "--concurrency", "1",
                      "--max-retries", "1")  # fmt: skip
    assert result.returncode == 1
    assert "gave up after 2 attempts" in result.stderr and "rows 0–999" in result.stderr, result.stderr
    assert proxy.posts == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--retry-deadline", "1.5", "--patience", "60"), "gave up after"),
        (("--retry-deadline", "60", "--patience", "1.5"), "no batch has succeeded for 1.5 s (the job's patience)"),
    ],
    ids=["per-batch deadline", "job patience"],
)
def test_a_service_that_stays_down_ends_the_job_within_its_budget(
    endpoint: Any, tmp_path: Path, args: tuple[str, ...], words: str
) -> None:
    source = _small_file(tmp_path)
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, rate=1.0, faults=("503",)) as proxy:
        started = time.monotonic()
        result = _cli(proxy.scoring_uri, str(source), "-o", str(tmp_path / "out.csv"), *args)
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 30, f"a 1.5 s budget took {elapsed:.0f} s (process start-up included)"
    assert proxy.passed == 0


# ------------------------------------------------------------------------------------------- permanent faults


def _cli(env_endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BANKSCORE_ENDPOINT": env_endpoint, "BANKSCORE_KEY": PRIMARY}
    return subprocess.run([BANKSCORE, "score", *args], capture_output=True, text=True, timeout=180, env=env)


@pytest.mark.parametrize(("fault", "words"), [("model-error-200", "model failed"), ("400", "Injected bad request")])
def test_a_permanent_fault_names_the_batch_and_writes_nothing(
    endpoint: Any, tmp_path: Path, fault: str, words: str
) -> None:
    source = tmp_path / "in.csv"
    generate(5_000, seed=42, label=False).to_csv(source, index=False)
    target = tmp_path / "out.csv"
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, schedule={2: fault}) as proxy:
        result = _cli(proxy.scoring_uri, str(source), "-o", str(target), "--batch-rows", "1000", "--concurrency", "1")
    assert result.returncode == 1
    assert words in result.stderr and "rows 2000–2999" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == ["in.csv"]
    assert proxy.posts == 3, "a permanent fault is not retried, and scoring stops"


def test_on_error_column_marks_exactly_the_failed_batch(endpoint: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    generate(5_000, seed=43, label=False).to_csv(source, index=False)
    target = tmp_path / "out.csv"
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, schedule={3: "model-error-200"}) as proxy:
        result = _cli(
            proxy.scoring_uri, str(source), "-o", str(target), "--on-error", "column",
            "--batch-rows", "1000", "--concurrency", "1",
        )  # fmt: skip
    assert result.returncode == 1
    scored = pd.read_csv(target)
    failed = scored.index[scored["error"].notna()].tolist()
    assert failed == list(range(3000, 4000))
    assert scored.loc[3000, "error"].startswith("scoring failed: the model failed")
    assert scored["prediction"].notna().sum() == 4000


def test_the_cli_shows_each_retry_with_verbose(endpoint: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    generate(3_000, seed=44, label=False).to_csv(source, index=False)
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with FaultProxy(base, schedule={0: "503", 1: "429-retry-after"}) as proxy:
        env = {**os.environ, "BANKSCORE_ENDPOINT": proxy.scoring_uri, "BANKSCORE_KEY": PRIMARY}
        result = subprocess.run(
            [BANKSCORE, "-v", "score", str(source), "-o", str(tmp_path / "out.csv"), "--batch-rows", "1000",
             "--concurrency", "1"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    retries = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 2 and "rows 0-999: attempt 1 failed" in retries[0] and "attempt 2 failed" in retries[1]
    assert PRIMARY not in result.stderr
