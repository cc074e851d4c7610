"""`bankscore docs` as a user runs it: a separate process in front of a key-protected endpoint, stopped by Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from tests.support.cli import run
from tests.support.common import PRIMARY, free_port
from tests.support.serving import BANKSCORE

BODY = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}}


def test_docs_serves_the_page_and_scores_with_the_key_until_interrupted(endpoint: Any, tmp_path: Path) -> None:
    port = free_port()
    stderr_path = tmp_path / "docs.err"
    opened = tmp_path / "opened.txt"
    # --open hands the URL to the browser webbrowser finds; $BROWSER names it (here: a script that notes the URL).
    browser = f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write(sys.argv[2])\" {opened} %s"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_KEY")}
    env |= {"BANKSCORE_KEY": PRIMARY, "BROWSER": browser}
    base = f"http://127.0.0.1:{port}"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [BANKSCORE, "docs", "--endpoint", endpoint.scoring_uri, "--port", str(port), "--open"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = httpx.get(base + "/", timeout=1)
                    break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, stderr_path.read_text()
                time.sleep(0.05)
            assert page.status_code == 200 and "<title>bankscore-local — API docs</title>" in page.text
            assert httpx.get(base + "/swagger.json").json()["schemes"] == ["http"]
            scored = httpx.post(base + "/score", json=BODY)
            assert scored.status_code == 200 and len(scored.json()["Results"]) == 2
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    assert code == 130, "Ctrl+C stops it cleanly, with the exit code every command gives it"
    assert opened.read_text() == f"{base}/"
    text = stderr_path.read_text()
    first, *rest = text.splitlines()
    assert first.startswith(f"Swagger UI for bankscore-local (Swagger 2.0) at {base}/ ")
    assert f"Try it out goes to {endpoint.scoring_uri} with the key added here" in first
    logged = [json.loads(line) for line in rest if line.startswith("{")]
    assert [(r["method"], r["path"], r["status"]) for r in logged] == [
        ("GET", "/", 200),
        ("GET", "/swagger.json", 200),
        ("POST", "/score", 200),
    ]
    assert logged[2]["upstream_status"] == 200 and logged[2]["endpoint"] == endpoint.scoring_uri
    assert "Traceback" not in text and PRIMARY not in text


def test_docs_says_in_one_line_what_stops_it(endpoint: Any) -> None:
    down = f"http://127.0.0.1:{free_port()}/score"
    unreachable = run("docs", "--endpoint", down, "--port", "0", env={"BANKSCORE_KEY": PRIMARY})
    assert unreachable.returncode == 2
    swagger = down.removesuffix("score") + "swagger.json"
    assert unreachable.stderr.startswith(f"error: can't fetch the swagger from {swagger}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run("docs", "--endpoint", endpoint.scoring_uri, "--port", str(port), env={"BANKSCORE_KEY": PRIMARY})
    assert busy.returncode == 2
    assert busy.stderr.startswith(f"error: can't listen on 127.0.0.1:{port}: ") and "--port" in busy.stderr
    for result in (unreachable, busy):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert PRIMARY not in result.stderr
