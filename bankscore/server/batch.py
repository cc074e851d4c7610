"""The batch endpoint: `POST /jobs` scores a `file://` input into a `file://` output as a job, with the served model.

A job reads its input with bankscore's own file readers, checks every chunk against the contract the
endpoint publishes (so a bad cell fails the job naming row, column and value), scores it through the same
body parser and model as `/score`, and writes with bankscore's own writers into a temporary file renamed
into place at the end: the output is what `bankscore score INPUT -o OUTPUT` writes for the same input against
this endpoint, byte for byte, and a failed or canceled job leaves no output at all. As Azure requires, the
output must not exist yet. Jobs run one at a time on a worker thread, each bounded by `job_timeout`.

Routes: POST /jobs (the data plane, as a v2 batch endpoint answers it) and the control plane's
GET .../workspaces/local/jobs/{name} and POST .../jobs/{name}/cancel (contract §13, §16).
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from .._exceptions import BankscoreError, InputValidationError
from .jobs import (
    WORKSPACE,
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
from .payload import ClientError

if TYPE_CHECKING:
    from ..contract import Contract
    from .app import ServedModel

DEFAULT_JOB_TIMEOUT: Final = 600.0
JOB_TYPE: Final = "Microsoft.MachineLearningServices/workspaces/jobs"
DEPLOYMENT_HEADER: Final = b"azureml-model-deployment"
DEFAULT_OUTPUT_NAME: Final = "predictions.csv"
INVALID: Final = "The request is invalid."
_INPUT_TYPES: Final = {"urifile": "UriFile", "uri_file": "UriFile", "urifolder": "UriFolder", "uri_folder": "UriFolder"}
_OUTPUT_TYPES: Final = {"urifile": "UriFile", "uri_file": "UriFile"}
_NOT_LOCAL: Final = (
    "This endpoint reads and writes local files only: give a file:// URI such as file:///data/customers.csv "
    "(azureml://, https:// and abfss:// URIs need Azure)."
)


@dataclass
class BatchJob:
    name: str
    input_name: str
    input_type: str
    input_uri: str
    inputs: list[Path]
    output_name: str
    output_uri: str
    output: Path
    deployment: str | None = None
    created: dt.datetime = field(default_factory=utc_now)
    status: RunStatus = RunStatus.NOT_STARTED
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    error: str | None = None
    rows: int = 0
    model_name: str | None = None
    model_version: str | None = None


class _Stopped(Exception):
    """The job was canceled, ran out of time, or the server is stopping: it ends between two chunks."""

    def __init__(self, status: RunStatus, message: str | None) -> None:
        super().__init__(message or "")
        self.status = status
        self.message = message


class BatchService:
    """The batch endpoint's jobs: validated on submit, scored one at a time on a worker thread."""

    def __init__(self, output_dir: Path, *, job_timeout: float = DEFAULT_JOB_TIMEOUT) -> None:
        self.output_dir = Path(output_dir)
        self.job_timeout = job_timeout
        self._jobs: dict[str, BatchJob] = {}
        self._queue: queue.Queue[BatchJob | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._current: Callable[[], ServedModel] | None = None
        self._contracts: dict[int, tuple[ServedModel, Contract]] = {}
        self._thread: threading.Thread | None = None

    def bind(self, current: Callable[[], ServedModel]) -> None:
        """Where a job gets the model to score with: the app's model when the job starts."""
        self._current = current

    # ------------------------------------------------------------------------------ routes

    def owns(self, path: str) -> bool:
        return path == "/jobs" or path.lower().startswith("/subscriptions/")

    def handle(self, request: Request) -> Answer:
        try:
            return self._dispatch(request)
        except RequestError as exc:
            return exc.answer

    def _dispatch(self, request: Request) -> Answer:
        if request.path == "/jobs":
            if request.method != "POST":
                return method_not_allowed("POST", "/jobs with a job definition to start a batch job")
            deployment = request.headers.get(DEPLOYMENT_HEADER)
            job = self.submit(json_object(request), deployment.decode("latin-1") if deployment else None)
            return Answer(200, self._resource(job))
        rest = workspace_rest(segments_of(request.path), 0)
        if rest is None or not rest or rest[0].lower() != "jobs" or len(rest) not in (2, 3):
            return error(404, f"No route {request.path}; this workspace's jobs are at {WORKSPACE}/jobs/{{name}}")
        job = self._find(rest[1])
        if len(rest) == 2:
            if request.method != "GET":
                return method_not_allowed("GET", "to read a job")
            return Answer(200, self._resource(job))
        if rest[2].lower() != "cancel":
            return error(404, f"No route {request.path}; a job has GET .../jobs/{{name}} and POST .../cancel")
        if request.method != "POST":
            return method_not_allowed("POST", "to cancel a job")
        with self._lock:
            status = job.status
        if status in (RunStatus.COMPLETED, RunStatus.FAILED):
            return error(409, f"Job {job.name} is already {status}; there is nothing to cancel")
        self.cancel(job.name)
        return Answer(202, self._resource(job))

    def _find(self, name: str) -> BatchJob:
        with self._lock:
            job = self._jobs.get(name)
        if job is None:
            raise RequestError(error(404, f"No job {name} in this workspace"))
        return job

    # ------------------------------------------------------------------------------ submit and cancel

    def submit(self, body: Mapping[str, Any], deployment: str | None = None) -> BatchJob:
        """Validate a job definition (one input, one output, local files, an output that doesn't exist) and queue it."""
        name = f"batchjob-{uuid.uuid4()}"
        problems = _Problems()
        spec = field_of(body, "properties")
        if not isinstance(spec, dict):
            problems.add("Properties", "'Properties' must be an object with InputData and OutputData.", spec, "NotNull")
            raise problems.error()
        source = _one_input(spec, problems)
        with self._lock:
            writing = {j.output for j in self._jobs.values() if not j.status.terminal}
        target = _one_output(spec, problems, self.output_dir / name / DEFAULT_OUTPUT_NAME, writing)
        if problems or source is None or target is None:
            raise problems.error()
        input_name, input_type, input_uri, inputs = source
        output_name, output_uri, output = target
        job = BatchJob(name, input_name, input_type, input_uri, inputs, output_name, output_uri, output, deployment)
        with self._lock:
            if self._closed.is_set():
                raise RequestError(error(409, "The server is stopping; submit the job again once it is back"))
            self._jobs[name] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="bankscore-batch", daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def cancel(self, name: str, reason: str | None = None) -> None:
        """A queued job ends at once; a running one stops before its next chunk and writes nothing."""
        with self._lock:
            job = self._jobs[name]
            if job.status is RunStatus.NOT_STARTED:
                job.status, job.ended, job.error = RunStatus.CANCELED, utc_now(), reason
            elif job.status is RunStatus.RUNNING:
                job.status = RunStatus.CANCEL_REQUESTED
                job.error = reason

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            pending = [j.name for j in self._jobs.values() if not j.status.terminal]
        for name in pending:
            self.cancel(name, "The server stopped")
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ------------------------------------------------------------------------------ the worker

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.status is not RunStatus.NOT_STARTED:
                    continue
                job.status, job.started = RunStatus.RUNNING, utc_now()
            try:
                self._score(job)
            except _Stopped as stop:
                self._finish(job, stop.status, stop.message)
            except (BankscoreError, ClientError, OSError) as exc:
                self._finish(job, RunStatus.FAILED, _one_line(str(exc)))
            except Exception as exc:  # a bug must fail this job, not the worker
                self._finish(job, RunStatus.FAILED, f"the job could not be carried out: {exc}")
            else:
                self._finish(job, RunStatus.COMPLETED, None)

    def _score(self, job: BatchJob) -> None:
        import pandas as pd

        from ..files.formats import iter_frames, open_writer
        from ..validation import to_table

        assert self._current is not None, "BatchService.bind was not called"
        served = self._current()
        contract = self._contract(served)
        job.model_name, job.model_version = served.model.name, served.model.version
        deadline = time.monotonic() + self.job_timeout
        if job.output.exists():
            raise _Stopped(RunStatus.FAILED, f"{job.output_uri} exists now (written after the job was submitted)")
        columns: list[str] | None = None
        with open_writer(job.output) as writer:
            for path in job.inputs:
                for frame in iter_frames(path, types=contract.types):
                    self._check(job, deadline)
                    names = [str(c) for c in frame.columns]
                    if columns is None:
                        columns = names
                    elif names != columns:
                        raise _Stopped(
                            RunStatus.FAILED,
                            f"{path.name} has other columns than {job.inputs[0].name}: the files of a folder "
                            "are scored into one output, so they need the same header",
                        )
                    try:
                        table = to_table(frame, contract, extra_columns="ignore")
                    except InputValidationError as exc:
                        raise _Stopped(RunStatus.FAILED, f"{path.name}: {_problems_line(exc)}") from None
                    labels = _predict(served, contract, table)
                    # What `bankscore score` adds to each chunk (bankscore.files.scoring), so the files agree.
                    scored = frame.copy(deep=False)
                    scored["prediction"] = pd.Series(labels, index=table.index, dtype=object)
                    writer.write(scored)
                    job.rows += len(frame)
            self._check(job, deadline)

    def _check(self, job: BatchJob, deadline: float) -> None:
        with self._lock:
            status, reason = job.status, job.error
        if status is RunStatus.CANCEL_REQUESTED:
            raise _Stopped(RunStatus.CANCELED, reason)
        if time.monotonic() > deadline:
            raise _Stopped(
                RunStatus.FAILED,
                f"the job exceeded its time limit of {self.job_timeout:g} s and was stopped; nothing was written "
                "(bankscore serve --run-timeout S sets it)",
            )

    def _contract(self, served: ServedModel) -> Contract:
        """The contract a client reads from this endpoint's /swagger.json, for the model being served."""
        from ..contract import parse_swagger

        with self._lock:
            cached = self._contracts.get(id(served))
            if cached is not None and cached[0] is served:
                return cached[1]
        contract = parse_swagger(orjson.loads(served.swagger["2"]))
        with self._lock:
            self._contracts = {id(served): (served, contract)}
        return contract

    def _finish(self, job: BatchJob, status: RunStatus, message: str | None) -> None:
        with self._lock:
            job.status, job.ended, job.error = status, utc_now(), message

    # ------------------------------------------------------------------------------ documents

    def _resource(self, job: BatchJob) -> dict[str, Any]:
        """The job as the control plane answers it (ARM's job resource), also the answer to POST /jobs."""
        with self._lock:
            properties: dict[str, Any] = {
                "jobType": "Pipeline",
                "status": str(job.status),
                "displayName": job.name,
                "experimentName": "bankscore-local",
                "description": None,
                "tags": {},
                "properties": _string_properties(job),
                "inputs": {job.input_name: {"jobInputType": _v2_type(job.input_type), "uri": job.input_uri}},
                "outputs": {job.output_name: {"jobOutputType": "uri_file", "uri": job.output_uri}},
                "startTimeUtc": iso(job.started),
                "endTimeUtc": iso(job.ended),
            }
            if job.status is RunStatus.FAILED and job.error:
                properties["error"] = {"code": "UserError", "message": job.error}
            if job.status is RunStatus.CANCELED and job.error:
                properties["cancelationReason"] = job.error
            return {
                "id": f"{WORKSPACE}/jobs/{job.name}",
                "name": job.name,
                "type": JOB_TYPE,
                "properties": properties,
                "systemData": {"createdAt": iso(job.created), "createdBy": "local", "createdByType": "User"},
            }


def _predict(served: ServedModel, contract: Contract, table: Any) -> list[str]:
    """Score a checked table exactly as /score would: the SDK's request body through the endpoint's parser."""
    from ..encoding import encode

    request = served.parser.parse(encode(table, contract, "predict"))
    return served.model.labels_from_matrix(request.encoded(served.model.schema))


class _Problems:
    """Validation failures in Azure's batch shape: PropertyName, ErrorMessage, AttemptedValue, ErrorCode."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, prop: str, message: str, attempted: Any, code: str) -> None:
        shown = attempted
        if isinstance(attempted, list):
            shown = ", ".join(map(str, attempted))
        elif not (attempted is None or isinstance(attempted, str | int | float | bool)):
            shown = orjson.dumps(attempted).decode()
        self.items.append({"PropertyName": prop, "ErrorMessage": message, "AttemptedValue": shown, "ErrorCode": code})

    def error(self) -> RequestError:
        """The sentence, then the list, as Azure's batch endpoints write it into the message."""
        return RequestError(Answer(400, {"message": f"{INVALID} {orjson.dumps(self.items).decode()}"}))


def _the_one(spec: Mapping[str, Any], key: str, what: str, problems: _Problems) -> tuple[str, Any] | None:
    entries = field_of(spec, key)
    prop = f"Properties.{key}"
    if entries is None or entries == {}:
        if key == "OutputData":
            return None
        problems.add(prop, f"'{key}' must not be empty: give one {what}.", entries, "NotEmptyValidator")
        return None
    if not isinstance(entries, dict):
        problems.add(prop, f"'{key}' must be an object of name → {what}.", entries, "InvalidValue")
        return None
    if len(entries) > 1:
        problems.add(
            prop,
            f"Model deployments take exactly one {what}; this request has {len(entries)} ({', '.join(entries)}).",
            list(entries),
            "TooManyValues",
        )
        return None
    name, entry = next(iter(entries.items()))
    if not isinstance(entry, dict):
        problems.add(f"{prop}.{name}", f"The {what} must be an object with a type and a Uri.", entry, "InvalidValue")
        return None
    return name, entry


def _uri(entry: Mapping[str, Any], prop: str, problems: _Problems) -> tuple[str, Path] | None:
    uri = field_of(entry, "Uri")
    if not isinstance(uri, str) or not uri.strip():
        problems.add(f"{prop}.Uri", "'Uri' must not be empty.", uri, "NotEmptyValidator")
        return None
    path = local_path(uri)
    if path is None or not path.is_absolute():
        problems.add(f"{prop}.Uri", _NOT_LOCAL, uri, "UnsupportedUri")
        return None
    return uri, path


def _one_input(spec: Mapping[str, Any], problems: _Problems) -> tuple[str, str, str, list[Path]] | None:
    from .._exceptions import FileFormatError
    from ..files.formats import file_format

    found = _the_one(spec, "InputData", "input", problems)
    if found is None:
        return None
    name, entry = found
    prop = f"Properties.InputData.{name}"
    given = field_of(entry, "JobInputType")
    kind = _INPUT_TYPES.get(given.lower()) if isinstance(given, str) else None
    located = _uri(entry, prop, problems)
    if kind is None:
        problems.add(
            f"{prop}.JobInputType",
            "'JobInputType' must be UriFile (one file) or UriFolder (a folder of CSV files).",
            given,
            "NotEmptyValidator" if given is None else "UnsupportedValue",
        )
        return None
    if located is None:
        return None
    uri, path = located
    if kind == "UriFile":
        if path.is_dir():
            problems.add(f"{prop}.Uri", "This is a folder: use JobInputType UriFolder.", uri, "InputIsFolder")
            return None
        if not path.is_file():
            problems.add(f"{prop}.Uri", f"No file at {path}.", uri, "InputNotFound")
            return None
        try:
            file_format(path)
        except FileFormatError as exc:
            problems.add(f"{prop}.Uri", str(exc), uri, "UnsupportedFileType")
            return None
        return name, kind, uri, [path]
    if not path.is_dir():
        problems.add(f"{prop}.Uri", f"No folder at {path}.", uri, "InputNotFound")
        return None
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if not files:
        problems.add(f"{prop}.Uri", f"{path} holds no .csv files to score.", uri, "EmptyFolder")
        return None
    return name, kind, uri, files


def _one_output(
    spec: Mapping[str, Any], problems: _Problems, default: Path, writing: set[Path]
) -> tuple[str, str, Path] | None:
    from .._exceptions import FileFormatError
    from ..files.formats import file_format

    entries = field_of(spec, "OutputData")
    found = _the_one(spec, "OutputData", "output", problems)
    if found is None:
        if entries is None or entries == {}:  # Azure's default: the job's own folder in the default store
            return "score", default.as_uri(), default
        return None
    name, entry = found
    prop = f"Properties.OutputData.{name}"
    given = field_of(entry, "JobOutputType")
    if not isinstance(given, str) or given.lower() not in _OUTPUT_TYPES:
        problems.add(
            f"{prop}.JobOutputType",
            "'JobOutputType' must be UriFile: the job writes one file.",
            given,
            "NotEmptyValidator" if given is None else "UnsupportedValue",
        )
        return None
    located = _uri(entry, prop, problems)
    if located is None:
        return None
    uri, path = located
    if path.exists():
        problems.add(
            f"{prop}.Uri",
            "The output path already exists; a batch job never overwrites: choose a new path or remove the file.",
            uri,
            "OutputExists",
        )
        return None
    if path in writing:
        problems.add(f"{prop}.Uri", "Another job that has not finished writes this output.", uri, "OutputInUse")
        return None
    try:
        file_format(path)
    except FileFormatError as exc:
        problems.add(f"{prop}.Uri", str(exc), uri, "UnsupportedFileType")
        return None
    return name, uri, path


def _problems_line(exc: InputValidationError) -> str:
    shown = exc.problems[: exc.max_listed]
    line = f"{exc.total} problem{'s' if exc.total != 1 else ''} in the input: " + "; ".join(map(str, shown))
    if exc.total > len(shown):
        line += f"; and {exc.total - len(shown)} more"
    return f"{line}. {exc.hint}" if exc.hint else line


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _v2_type(kind: str) -> str:
    return "uri_folder" if kind == "UriFolder" else "uri_file"


def _string_properties(job: BatchJob) -> dict[str, str]:
    """Azure's `properties` bag holds strings only."""
    bag = {"azureml.batchrun": "true", "bankscore.rows": str(job.rows)}
    if job.deployment:
        bag["azureml.deploymentName"] = job.deployment
    if job.model_name is not None and job.model_version is not None:
        bag |= {"bankscore.model.name": job.model_name, "bankscore.model.version": job.model_version}
    return bag
