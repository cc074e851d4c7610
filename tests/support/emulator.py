"""The emulator's workspace paths and bounded waits, for tests of pipeline runs and batch jobs over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from .common import auth

WORKSPACE: Final = (
    "/subscriptions/local/resourceGroups/local/providers/Microsoft.MachineLearningServices/workspaces/local"
)
SUBMIT: Final = f"/pipelines/v1.0{WORKSPACE}/PipelineRuns/PipelineSubmit/retrain"
TERMINAL: Final = ("Completed", "Failed", "Canceled")


def history(experiment: str, run_id: str, details: bool = False) -> str:
    return f"/history/v1.0{WORKSPACE}/experiments/{experiment}/runs/{run_id}" + ("/details" if details else "")


def pipeline_run(run_id: str) -> str:
    return f"/pipelines/v1.0{WORKSPACE}/pipelineruns/{run_id}"


def job(name: str) -> str:
    return f"{WORKSPACE}/jobs/{name}"


def client(endpoint: Any) -> httpx.Client:
    """Raw HTTP to the endpoint, with the key on every request (the emulator's routes need it as /score does)."""
    return httpx.Client(base_url=endpoint.base_url, headers=auth(), timeout=30)


def wait_for(
    read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120
) -> dict[str, Any]:
    """Poll `read` until `done` holds; a bounded wait that says what it last saw when it gives up."""
    deadline = time.monotonic() + timeout
    while True:
        seen = read()
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not there after {timeout:g} s; last seen {seen}")
        time.sleep(0.05)


def run_state(
    http: httpx.Client, experiment: str, run_id: str, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        answer = http.get(history(experiment, run_id))
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    return wait_for(read, done, f"run {run_id}")


def finished_run(http: httpx.Client, experiment: str, run_id: str) -> dict[str, Any]:
    return run_state(http, experiment, run_id, lambda run: run["status"] in TERMINAL)


def finished_job(http: httpx.Client, name: str) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        answer = http.get(job(name), params={"api-version": "2024-04-01"})
        assert answer.status_code == 200, answer.text
        document: dict[str, Any] = answer.json()
        return document

    return wait_for(read, lambda j: j["properties"]["status"] in TERMINAL, f"job {name}")


def file_of(uri: str) -> Path:
    return Path(url2pathname(urlsplit(uri).path))


def alive(pid: int) -> bool:
    """Whether a process runs under this PID (a reaped child doesn't; a zombie counts as gone)."""
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
