"""What the server does where a platform differs, each fallback proved on Linux.

- No uvloop (Windows) and no httptools: uvicorn's "auto" picks asyncio and h11, and the server still scores.
- No SO_REUSEADDR on Windows, where it would let a second server take over a listening port.
- The first-start model cache is guarded by an OS file lock (filelock: fcntl here, msvcrt on Windows)
  that other processes honour, so two first starts never both train.
- An embedded endpoint stopped by an atexit handler (the Excel add-in's) shuts down without the default executor.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from bankscore import ScoringClient
from bankscore.bankmarketing.synthetic import generate
from bankscore.server import runner
from tests.support.common import PRIMARY, without
from tests.support.serving import serving


def test_serve_starts_and_scores_without_uvloop_and_httptools(tmp_path: Path, model_dir: Path, model: Any) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import uvloop"], env={**without("uvloop", "httptools")}, capture_output=True, text=True
    )
    assert probe.returncode != 0 and "No module named 'uvloop'" in probe.stderr, "the blocker must hide uvloop"
    env = {"BANKSCORE_KEY": PRIMARY, **without("uvloop", "httptools")}
    with serving(["--model", str(model_dir)], env, tmp_path) as (base, stderr):
        rows = generate(300, seed=5, label=False)
        with ScoringClient(base + "/score", key=PRIMARY, batch_rows=100) as client:
            assert client.predict(rows).tolist() == model.predict(rows).tolist()
        assert httpx.get(base + "/").text == "Healthy"
    assert "Traceback" not in stderr.read_text()


def test_uvicorn_is_asked_for_auto_loop_and_parser(model_dir: Path) -> None:
    options = runner._uvicorn_options(runner.EndpointConfig(model_dir=model_dir))
    assert options["loop"] == "auto" and options["http"] == "auto"


def _reuse_address(endpoint: runner.EmbeddedEndpoint) -> int:
    value: int = endpoint._sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    return value


def test_address_reuse_is_on_for_posix_and_off_for_windows(
    model_dir: Path, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = runner.EndpointConfig(model_dir=model_dir, port=0, access_log=False, primary_key=PRIMARY)
    posix = runner.EmbeddedEndpoint(config, model)
    try:
        assert _reuse_address(posix) != 0
    finally:
        posix._sock.close()
    monkeypatch.setattr(sys, "platform", "win32")
    windows = runner.EmbeddedEndpoint(config, model)
    try:
        assert _reuse_address(windows) == 0
    finally:
        windows._sock.close()


HOLD_LOCK = """
import shutil, sys, time
from filelock import FileLock
lock, source, target = sys.argv[1:]
with FileLock(lock):
    print("locked", flush=True)
    time.sleep(1.0)
    shutil.copytree(source, target)  # the other process's training, finished while it held the lock
"""


def test_a_first_start_waits_for_another_process_training_the_model(
    tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(runner.CACHE_ENV, str(tmp_path / "cache"))
    target = tmp_path / "cache" / "models" / runner.SYNTHETIC_MODEL
    target.parent.mkdir(parents=True)
    lock = target.parent / f".{runner.SYNTHETIC_MODEL}.lock"

    def train_again(*_: Any, **__: Any) -> Any:
        raise AssertionError("trained although another process held the lock and wrote the model")

    monkeypatch.setattr("bankscore.server.training.train", train_again)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock), str(model_dir), str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        found: list[Path] = []
        waiter = threading.Thread(target=lambda: found.append(runner.default_model_dir()))
        waiter.start()
        waiter.join(timeout=30)
        assert found == [target]
        assert (target / "model.json").is_file()
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0


STOPPED_AT_EXIT = """
import atexit, sys
from pathlib import Path
import httpx
from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig
endpoint = EmbeddedEndpoint(EndpointConfig(model_dir=Path(sys.argv[1]), port=0, primary_key=sys.argv[2])).start()
atexit.register(endpoint.stop)  # as the Excel add-in stops its embedded endpoint
print(httpx.get(endpoint.base_url + "/").status_code, flush=True)
"""


def test_an_embedded_endpoint_stopped_by_an_atexit_handler_shuts_down_cleanly(model_dir: Path) -> None:
    """At exit the default executor takes no more work: the lifespan's close() then runs on the server's thread
    instead of failing with a traceback (and leaving its services running)."""
    done = subprocess.run(
        [sys.executable, "-c", STOPPED_AT_EXIT, str(model_dir), PRIMARY], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "200", done.stderr
    assert "Traceback" not in done.stderr and "shutdown failed" not in done.stderr, done.stderr
