"""The published pipeline `retrain`: runs that really retrain, then the endpoint serves what they trained.

Each run is `bankscore train` in a child process (`python -m bankscore train`), so a run never blocks the
server's event loop, holds no lock the scoring path needs, and is cancelled by terminating one PID, the same
way on every platform (Popen.terminate: SIGTERM on POSIX, TerminateProcess on Windows). Runs go one at a time
from a queue, each bounded by `run_timeout`. The trainer writes into `<runs dir>/<run id>/model`; the model
directory the server started with is never touched. A completed run's model is loaded and swapped into the
app whole (model, body parser and swagger together), and only then is the run marked Completed.

Routes, as Azure's v1 published pipelines and run history answer them (contract §16):
POST .../PipelineRuns/PipelineSubmit/retrain, GET .../pipelineruns/{id}, POST .../pipelineruns/{id}/cancel,
GET /history/v1.0/.../experiments/{experiment}/runs/{id}[/details].
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from .jobs import (
    Answer,
    Request,
    RequestError,
    RunStatus,
    error,
    field_of,
    iso,
    json_object,
    local_path,
    method_not_allowed,
    segments_of,
    utc_now,
    workspace_rest,
)
from .model import Model, load_model

PIPELINE_ID: Final = "retrain"
SUBMIT_PATH: Final = (
    "/pipelines/v1.0/subscriptions/local/resourceGroups/local/providers/Microsoft.MachineLearningServices"
    f"/workspaces/local/PipelineRuns/PipelineSubmit/{PIPELINE_ID}"
)
DEFAULT_RUN_TIMEOUT: Final = 600.0
LOG_NAME: Final = "azureml-logs/70_driver_log.txt"  # where Azure's run history lists a run's driver log
STOP_GRACE: Final = 5.0  # seconds a terminated trainer gets before it is killed
_POLL: Final = 0.1
_LOG_TAIL: Final = 64 * 1024
_EXPERIMENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,255}")

PARAMETERS: Final = {
    "data_path": "data",
    "rows": "rows",
    "seed": "seed",
    "folds": "folds",
    "label": "label",
    "candidates": "candidates",
}
"""The pipeline's parameters (ParameterAssignments) → the `bankscore train` option each one sets."""


@dataclass
class PipelineRun:
    id: str
    experiment: str
    parameters: dict[str, Any]
    arguments: list[str] = field(repr=False)
    directory: Path
    description: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    run_source: str = "API"
    data_paths: dict[str, Any] = field(default_factory=dict)
    created: dt.datetime = field(default_factory=utc_now)
    status: RunStatus = RunStatus.NOT_STARTED
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    error: str | None = None
    cancel_reason: str | None = None
    pid: int | None = None
    model: Model | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_NAME

    @property
    def model_dir(self) -> Path:
        return self.directory / "model"


class PipelineService:
    """Owns the published pipeline `retrain`, its queue of runs and the one trainer process running."""

    def __init__(
        self,
        runs_dir: Path,
        *,
        run_timeout: float = DEFAULT_RUN_TIMEOUT,
        python: str = sys.executable,
        stop_grace: float = STOP_GRACE,
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        unknown = sorted(set(defaults or {}) - set(PARAMETERS))
        if unknown:
            raise ValueError(
                f"unknown pipeline parameter(s) {', '.join(unknown)}; the pipeline takes {', '.join(PARAMETERS)}"
            )
        self.defaults = dict(defaults or {})  # set when the pipeline is published, as Azure's parameter defaults
        _train_arguments(self.defaults)  # a default that could never run is refused now, not at each submit
        self.runs_dir = Path(runs_dir)
        self.run_timeout = run_timeout
        self.python = python
        self.stop_grace = stop_grace
        self._runs: dict[str, PipelineRun] = {}
        self._queue: queue.Queue[PipelineRun | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._serve: Callable[[Model], None] | None = None
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    @staticmethod
    def check_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Parameter defaults, refused now (ValueError) when no run could use them."""
        unknown = sorted(set(defaults) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; the pipeline takes {', '.join(PARAMETERS)}")
        try:
            _train_arguments(defaults)
        except RequestError as exc:
            raise ValueError(str(exc)) from None
        return dict(defaults)

    def bind(self, serve: Callable[[Model], None]) -> None:
        """Where a completed run's model goes: the app's `use_model`."""
        self._serve = serve

    # ------------------------------------------------------------------------------ routes

    def owns(self, path: str) -> bool:
        return path.startswith(("/pipelines/", "/history/"))

    def handle(self, request: Request) -> Answer:
        try:
            return self._dispatch(request)
        except RequestError as exc:
            return exc.answer

    def _dispatch(self, request: Request) -> Answer:
        segments = segments_of(request.path)
        rest = workspace_rest(segments, 2) if len(segments) > 2 and segments[1] == "v1.0" else None
        if rest is None:
            return error(
                404,
                f"No route {request.path}; this emulator's workspace is {SUBMIT_PATH.split('/PipelineRuns')[0]} "
                f"and its published pipeline is POST {SUBMIT_PATH}",
            )
        lowered = [s.lower() for s in rest]
        if segments[0] == "pipelines" and lowered[:1] == ["pipelineruns"]:
            if lowered[1:2] == ["pipelinesubmit"] and len(rest) == 3:
                if rest[2] != PIPELINE_ID:
                    return error(404, f"No published pipeline {rest[2]!r}; this workspace publishes {PIPELINE_ID!r}")
                if request.method != "POST":
                    return method_not_allowed("POST", "to submit a pipeline run")
                return Answer(200, self._entity(self.submit(json_object(request))))
            if lowered[1:2] == ["pipelineendpointsubmit"]:
                return error(404, f"No pipeline endpoint here; this workspace publishes one pipeline: {SUBMIT_PATH}")
            if len(rest) == 2:
                if request.method != "GET":
                    return method_not_allowed("GET", "to read a pipeline run")
                return Answer(200, self._entity(self._find(rest[1])))
            if len(rest) == 3 and lowered[2] == "cancel":
                if request.method != "POST":
                    return method_not_allowed("POST", "to cancel a pipeline run")
                json_object(request, empty_ok=True)
                return self._cancel_answer(rest[1])
        history = segments[0] == "history" and lowered[:1] == ["experiments"] and len(rest) in (4, 5)
        if history and lowered[2] == "runs" and (len(rest) == 4 or lowered[4] == "details"):
            if request.method != "GET":
                return method_not_allowed("GET", "to read a run")
            run = self._find(rest[3])
            if run.experiment != rest[1]:
                raise RequestError(error(404, f"No run {rest[3]} in experiment {rest[1]!r}"))
            return Answer(200, self._history(run))
        return error(404, f"No route {request.path} in this workspace's pipeline and run-history services")

    def _find(self, run_id: str) -> PipelineRun:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise RequestError(error(404, f"No pipeline run {run_id}"))
        return run

    # ------------------------------------------------------------------------------ submit and cancel

    def submit(self, body: Mapping[str, Any]) -> PipelineRun:
        """Check a PipelineSubmit body and queue the run; what only the trainer can judge fails the run instead."""
        experiment = field_of(body, "ExperimentName")
        if not isinstance(experiment, str) or not experiment.strip():
            raise RequestError(error(400, "ExperimentName is required: the experiment the run is recorded under"))
        if not _EXPERIMENT.fullmatch(experiment):
            raise RequestError(
                error(
                    400,
                    f"ExperimentName {experiment!r} is not valid: use letters, digits, '-' and '_' "
                    "(starting with a letter or digit, at most 256 characters)",
                )
            )
        assignments = field_of(body, "ParameterAssignments") or {}
        if not isinstance(assignments, dict):
            raise RequestError(error(400, "ParameterAssignments must be an object of parameter name → value"))
        unknown = sorted(set(assignments) - set(PARAMETERS))
        if unknown:
            raise RequestError(
                error(
                    400,
                    f"Unknown pipeline parameter(s) {', '.join(unknown)}: pipeline {PIPELINE_ID!r} takes "
                    f"{', '.join(PARAMETERS)}",
                )
            )
        run_id = str(uuid.uuid4())
        run = PipelineRun(
            id=run_id,
            experiment=experiment,
            parameters=dict(assignments),
            arguments=_train_arguments({**self.defaults, **assignments}),
            directory=self.runs_dir / run_id,
            description=_text(field_of(body, "Description")),
            tags=_mapping(field_of(body, "Tags"), "Tags"),
            run_source=_text(field_of(body, "RunSource")) or "API",
            data_paths=_mapping(field_of(body, "DataPathAssignments"), "DataPathAssignments"),
        )
        with self._lock:
            if self._closed.is_set():
                raise RequestError(error(409, "The server is stopping; submit the run again once it is back"))
            self._runs[run_id] = run
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="bankscore-pipeline", daemon=True)
                self._thread.start()
        self._queue.put(run)
        return run

    def _cancel_answer(self, run_id: str) -> Answer:
        run = self._find(run_id)
        with self._lock:
            status = run.status
        if status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return error(409, f"Pipeline run {run_id} is already {status}; there is nothing to cancel")
        self.cancel(run_id)
        return Answer(200, self._entity(run))

    def cancel(self, run_id: str, reason: str = "Canceled by request") -> None:
        """A queued run ends at once; a running one is asked to stop (CancelRequested) and its trainer terminated."""
        with self._lock:
            run = self._runs[run_id]
            if run.status is RunStatus.NOT_STARTED:
                run.status, run.ended, run.cancel_reason = RunStatus.CANCELED, utc_now(), reason
            elif run.status is RunStatus.RUNNING:
                run.status, run.cancel_reason = RunStatus.CANCEL_REQUESTED, reason
                if run.process is not None:
                    with contextlib.suppress(OSError):
                        run.process.terminate()

    # ------------------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            try:
                self._execute(run)
            except Exception as exc:  # a bug here must fail the run, not the worker (and with it every later run)
                self._finish(run, RunStatus.FAILED, f"the run could not be carried out: {exc}")

    def _execute(self, run: PipelineRun) -> None:
        if not _waiting(run):  # canceled while it waited
            return
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [self.python, "-m", "bankscore", "train", f"--out={run.model_dir}", *run.arguments]
        # The child's output is UTF-8 whatever the console's code page (the leaderboard has a ★).
        env = {**os.environ, "PYTHONUTF8": "1", "PYTHONIOENCODING": "utf-8"}
        with run.log_path.open("wb") as log:
            with self._lock:
                if not _waiting(run):
                    return
                run.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
                )
                run.pid = run.process.pid
                run.status, run.started = RunStatus.RUNNING, utc_now()
            outcome = self._wait(run, run.process)
        if outcome is not None:
            self._finish(run, *outcome)
            return
        try:
            model = load_model(run.model_dir)
            if self._serve is not None:
                self._serve(model)
        except Exception as exc:
            self._finish(run, RunStatus.FAILED, f"the trained model could not be served: {exc}")
            return
        run.model = model
        self._finish(run, RunStatus.COMPLETED, None)

    def _wait(self, run: PipelineRun, process: subprocess.Popen[bytes]) -> tuple[RunStatus, str | None] | None:
        """Wait for the trainer; None when it succeeded, else the status and error the run ends with."""
        deadline = time.monotonic() + self.run_timeout
        while True:
            try:
                code = process.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            with self._lock:
                stopping = run.status is RunStatus.CANCEL_REQUESTED
            if stopping:
                self._stop(process)
                return RunStatus.CANCELED, None
            if time.monotonic() >= deadline:
                self._stop(process)
                return RunStatus.FAILED, (
                    f"the run exceeded its time limit of {self.run_timeout:g} s and was stopped "
                    "(bankscore serve --run-timeout S sets it)"
                )
        with self._lock:
            if run.status is RunStatus.CANCEL_REQUESTED:
                return RunStatus.CANCELED, None
        if code == 0:
            return None
        said = trainer_error(_tail(run.log_path))
        return RunStatus.FAILED, said or f"the trainer exited with code {code}; its log is {run.log_path}"

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        """Terminate, wait a grace period, then kill: the trainer never outlives its run."""
        with contextlib.suppress(OSError):
            process.terminate()
        try:
            process.wait(timeout=self.stop_grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()

    def _finish(self, run: PipelineRun, status: RunStatus, message: str | None) -> None:
        with self._lock:
            run.status, run.error, run.ended = status, message, utc_now()
            run.process = None
            if status is RunStatus.CANCELED and run.cancel_reason is None:
                run.cancel_reason = "Canceled by request"

    def close(self) -> None:
        """Stop with the server: queued runs are canceled, the running trainer is terminated (by PID) and reaped."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            running = [r for r in self._runs.values() if not r.status.terminal]
        for run in running:
            self.cancel(run.id, "The server stopped")
        self._queue.put(None)
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self.stop_grace + 5)
        _LIVE.discard(self)

    def _kill_now(self) -> None:
        """At interpreter exit: no waiting, just no trainer left behind."""
        with self._lock:
            processes = [r.process for r in self._runs.values() if r.process is not None]
        for process in processes:
            with contextlib.suppress(OSError):
                process.kill()

    # ------------------------------------------------------------------------------ documents

    def _entity(self, run: PipelineRun) -> dict[str, Any]:
        """The PipelineRun entity, as PipelineSubmit answers it."""
        with self._lock:
            return {
                "Id": run.id,
                "Description": run.description,
                "Status": {
                    "StatusCode": str(run.status),
                    "StatusDetail": run.error or run.cancel_reason,
                    "CreationTime": iso(run.created),
                    "EndTime": iso(run.ended),
                },
                "RunHistoryExperimentName": run.experiment,
                "PipelineId": PIPELINE_ID,
                "ParameterAssignments": run.parameters,
                "DataPathAssignments": run.data_paths,
                "RunSource": run.run_source,
                "RunType": "HTTP",
                "ScheduleId": None,
                "Tags": run.tags,
                "TotalRunSteps": 1,
                "CreatedBy": {"UserName": "local", "UserObjectId": None, "UserTenantId": None},
                "EntityStatus": "Active",
            }

    def _history(self, run: PipelineRun) -> dict[str, Any]:
        """The run as Azure's run history answers `runs/{id}` and `runs/{id}/details`."""
        with self._lock:
            properties = {"azureml.runsource": "azureml.PipelineRun", "azureml.pipelineid": PIPELINE_ID}
            if run.pid is not None:
                properties["bankscore.processId"] = str(run.pid)
            if run.model is not None:
                properties |= {
                    "bankscore.model.name": run.model.name,
                    "bankscore.model.version": run.model.version,
                    "bankscore.model.directory": str(run.model_dir),
                    "bankscore.model.served": "true",
                }
            document: dict[str, Any] = {
                "runId": run.id,
                "runUuid": run.id,
                "rootRunId": run.id,
                "parentRunId": None,
                "experimentName": run.experiment,
                "displayName": run.description or run.id,
                "runType": "azureml.PipelineRun",
                "status": str(run.status),
                "createdUtc": iso(run.created),
                "startTimeUtc": iso(run.started),
                "endTimeUtc": iso(run.ended),
                "description": run.description,
                "tags": run.tags,
                "properties": properties,
                "parameters": run.parameters,
                "logFiles": {LOG_NAME: run.log_path.as_uri()} if run.started is not None else {},
            }
            if run.status is RunStatus.FAILED and run.error:
                document["error"] = {
                    "error": {"code": "UserError", "message": run.error, "details": []},
                    "time": iso(run.ended),
                }
            if run.status is RunStatus.CANCELED:
                document["cancelationReason"] = run.cancel_reason
            return document


def _waiting(run: PipelineRun) -> bool:
    """Still queued (read afresh each time: another thread may have canceled it)."""
    return run.status is RunStatus.NOT_STARTED


def _train_arguments(assignments: Mapping[str, Any]) -> list[str]:
    """ParameterAssignments → `bankscore train` options; always `--name=value`, so no value is read as an option."""
    arguments: list[str] = []
    for name, value in assignments.items():
        if isinstance(value, list) and name == "candidates" and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise RequestError(error(400, f"ParameterAssignments.{name} must be a string or a number"))
        text = str(value)
        if name == "data_path" and text.lower().startswith("file:"):
            path = local_path(text)
            if path is None:
                raise RequestError(error(400, f"data_path {text!r} is not a local file:// URI (file:///data/x.csv)"))
            text = str(path)
        arguments.append(f"--{PARAMETERS[name]}={text}")
    return arguments


def trainer_error(log: str) -> str | None:
    """The trainer's one-line error: its `error:` line (or click's `Error:`), else a traceback's last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith("error:"):
            said = line.split(":", 1)[1].strip()
            for name, option in PARAMETERS.items():  # usage errors name the option; the caller set a parameter
                said = said.replace(f"'--{option}'", f"parameter {name!r}")
            return said
    if any(line.startswith("Traceback") for line in lines):
        return lines[-1]
    return None


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _LOG_TAIL))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(error(400, f"{name} must be an object"))
    return dict(value)


_LIVE: weakref.WeakSet[PipelineService] = weakref.WeakSet()


@atexit.register
def _no_trainer_left_behind() -> None:
    for service in list(_LIVE):
        service._kill_now()
