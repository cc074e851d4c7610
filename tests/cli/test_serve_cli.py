"""`bankscore serve` as a user runs it: a separate process, real sockets, its log and its keys."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.credentials import is_loopback
from tests.support.common import PRIMARY, SECONDARY
from tests.support.serving import BANKSCORE, serving

BODY = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}}


def test_serve_logs_one_json_line_per_request_and_never_the_key(tmp_path: Path, model_dir: Path) -> None:
    log = tmp_path / "requests.log"
    env = {"BANKSCORE_KEY": PRIMARY, "BANKSCORE_SECONDARY_KEY": SECONDARY}
    with serving(["--model", str(model_dir), "--log-file", str(log)], env, tmp_path) as (base, stderr):
        ok = httpx.post(
            base + "/score",
            json=BODY,
            headers={"Authorization": f"Bearer {SECONDARY}", "x-ms-client-request-id": "trace-1"},
        )
        assert ok.status_code == 200
        assert httpx.post(base + "/score", json=BODY, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.get(base + "/").status_code == 200
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    while lines[0]["path"] == "/":  # the readiness probes
        lines.pop(0)
    assert [(r["path"], r["status"]) for r in lines] == [("/score", 200), ("/score", 401), ("/", 200)]
    first = lines[0]
    assert first["rows"] == 2 and first["envelope"] == "inputs"
    assert first["client_request_id"] == "trace-1" and first["request_id"] == ok.headers["x-request-id"]
    assert first["latency_ms"] > 0 and first["model_version"]
    for text in (log.read_text(), stderr.read_text()):
        assert PRIMARY not in text and SECONDARY not in text


def test_serve_without_keys_generates_one_and_shows_it_once(tmp_path: Path, model_dir: Path) -> None:
    with serving(["--model", str(model_dir)], {}, tmp_path) as (base, stderr):
        text = stderr.read_text()
        line = next(line for line in text.splitlines() if "shown once" in line)
        key = line.rsplit(": ", 1)[1].strip()
        assert httpx.post(base + "/score", json=BODY, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert httpx.post(base + "/score", json=BODY).status_code == 401
    assert stderr.read_text().count(key) == 1


def test_serve_defaults_to_the_cached_synthetic_model_and_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"{PRIMARY}\n{SECONDARY}\n")
    with serving(["--key-file", str(key_file), "--contract", "data"], {}, tmp_path) as (base, _):
        response = httpx.post(
            base + "/score",
            json={"data": BODY["Inputs"]["data"]},
            headers={"Authorization": f"Bearer {PRIMARY}"},
        )
        assert response.status_code == 200
        assert json.loads(response.json())["result"][0] in ("yes", "no")


def test_serve_with_two_workers(tmp_path: Path, model_dir: Path) -> None:
    args = ["--model", str(model_dir), "--workers", "2", "--no-auth", "--log-file", str(tmp_path / "log")]
    with serving(args, {}, tmp_path) as (base, _), httpx.Client() as client:
        for _ in range(20):
            assert client.post(base + "/score", json=BODY).json()["Results"]
    assert len((tmp_path / "log").read_text().splitlines()) >= 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault-status", "418"], "--fault-status"),
        (["--no-auth", "--key-file", "k"], "contradict"),
        (["--key-file", "/nonexistent/keys"], "can't read key file"),
        (["--model", "/nonexistent/model"], "bankscore train"),
        (["--pipelines", "--workers", "2"], "--pipelines needs --workers 1"),
        (["--runs-dir", "runs"], "add --pipelines"),
    ],
)
def test_serve_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = subprocess.run([BANKSCORE, "serve", "--port", "0", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")
