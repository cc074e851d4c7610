"""Published Azure ML pipelines: submit a run, read its status from run history, cancel it, wait for it.

The calls are the REST ones every client of a published pipeline makes (the original project's
`requests.post(rest_endpoint, headers=auth_header, json={"ExperimentName": ...})`), with an ARM-scoped
Entra token (`https://management.azure.com/.default`). Run history and cancel live beside the
submit URL, in the same workspace: both are derived from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import quote, urlsplit

from ._control import FIRST_POLL, ControlClient, error_text, job_auth, poll
from ._exceptions import PipelineError
from ._types import AsyncTokenCredential, TokenCredential, Verify
from .credentials import ARM_SCOPE, TokenAuth

TERMINAL: Final = frozenset({"Completed", "Finished", "Failed", "Canceled"})
SUCCEEDED: Final = frozenset({"Completed", "Finished"})
# The pipelines service's numeric StatusCode, in its enum's order.
_STATUS_CODES: Final = (
    "NotStarted",
    "Running",
    "Failed",
    "Finished",
    "Canceled",
    "Failing",
    "Queued",
    "CancelRequested",
)
_WORKSPACE = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/?#]+)",
    re.IGNORECASE,
)
_RUN_URL = re.compile(r"/history/v1\.0" + _WORKSPACE.pattern + r"/experiments/(?P<exp>[^/]+)/runs/(?P<run>[^/?#]+)")


@dataclass(frozen=True)
class Workspace:
    """Where a pipeline's runs live: the API host and the workspace's scope path."""

    origin: str
    scope: str  # /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<ws>

    @classmethod
    def from_url(cls, url: str) -> Workspace:
        """From any URL of the workspace's API: a pipeline's submit URL, a run-history URL."""
        parts = urlsplit(url)
        match = _WORKSPACE.search(parts.path)
        if parts.scheme not in ("http", "https") or not parts.netloc or match is None:
            raise PipelineError(
                f"{url!r} is not a workspace API URL; a published pipeline's REST endpoint looks like "
                "https://<region>.api.azureml.ms/pipelines/v1.0/subscriptions/<sub>/resourceGroups/<rg>/providers/"
                "Microsoft.MachineLearningServices/workspaces/<ws>/PipelineRuns/PipelineSubmit/<pipeline id>"
            )
        return cls(f"{parts.scheme}://{parts.netloc}", match.group(0))

    def run_url(self, experiment: str, run_id: str) -> str:
        return f"{self.origin}/history/v1.0{self.scope}/experiments/{quote(experiment, safe='')}/runs/{quote(run_id)}"

    def cancel_url(self, run_id: str) -> str:
        return f"{self.origin}/pipelines/v1.0{self.scope}/pipelineruns/{quote(run_id)}/cancel"


@dataclass(frozen=True)
class PipelineRun:
    """One run of a published pipeline, as last read."""

    id: str
    experiment: str
    status: str
    url: str  # its run-history URL: `bankscore pipeline status URL` reads it again
    error: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED

    @classmethod
    def from_url(cls, url: str) -> PipelineRun:
        """A reference to a run from its run-history URL (status unknown until read)."""
        match = _RUN_URL.search(urlsplit(url).path)
        if match is None:
            raise PipelineError(
                f"{url!r} is not a run-history URL; it looks like https://<api host>/history/v1.0/subscriptions/"
                ".../workspaces/<ws>/experiments/<experiment>/runs/<run id> (`bankscore pipeline submit` prints it)"
            )
        return cls(id=match.group("run"), experiment=match.group("exp"), status="Unknown", url=url.split("?")[0])


class PipelineClient:
    """Submit, watch and cancel runs of published pipelines.

    `credential`: any azure-core TokenCredential (azure-identity's `DefaultAzureCredential()`), asked for
    ARM tokens. Without one, a key (`key=`, `key_file=`, `$BANKSCORE_KEY`) is sent as the bearer — what the
    embedded emulator takes when it runs with key auth.
    """

    def __init__(
        self,
        credential: TokenCredential | AsyncTokenCredential | TokenAuth | None = None,
        *,
        key: str | None = None,
        key_file: str | Path | None = None,
        timeout: float = 60.0,
        verify: Verify = True,
    ) -> None:
        self._control = ControlClient(job_auth(credential, ARM_SCOPE, key, key_file), timeout=timeout, verify=verify)

    def submit(
        self,
        url: str,
        experiment: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        data_paths: Mapping[str, Any] | None = None,
    ) -> PipelineRun:
        """POST Azure's submit body to the pipeline's REST endpoint; the run it started, as answered."""
        if not experiment.strip():
            raise PipelineError("an experiment name is required (the run is filed under it in the workspace)")
        workspace = Workspace.from_url(url)
        body: dict[str, Any] = {"ExperimentName": experiment, "ParameterAssignments": dict(parameters or {})}
        if description is not None:
            body["Description"] = description
        if tags:
            body["Tags"] = dict(tags)
        if data_paths:
            body["DataPathAssignments"] = dict(data_paths)
        body["RunSource"] = "SDK"
        answer = self._control.call("POST", url, body, submit=True)
        if not isinstance(answer, Mapping) or not answer.get("Id"):
            raise PipelineError(f"the pipeline endpoint answered without a run Id: {str(answer)[:200]}")
        run_id = str(answer["Id"])
        experiment = str(answer.get("RunHistoryExperimentName") or experiment)
        return PipelineRun(
            id=run_id,
            experiment=experiment,
            status=_submitted_status(answer.get("Status")),
            url=workspace.run_url(experiment, run_id),
            details=answer,
        )

    def get(self, run: PipelineRun | str) -> PipelineRun:
        """The run as run history has it now; `run` is a PipelineRun or its run-history URL."""
        ref = run if isinstance(run, PipelineRun) else PipelineRun.from_url(run)
        answer = self._control.call("GET", ref.url)
        if not isinstance(answer, Mapping):
            raise PipelineError(f"run history answered {str(answer)[:200]!r} for run {ref.id}")
        return PipelineRun(
            id=str(answer.get("runId") or ref.id),
            experiment=str(answer.get("experimentName") or ref.experiment),
            status=str(answer.get("status") or "Unknown"),
            url=ref.url,
            error=error_text(answer.get("error")),
            start_time=answer.get("startTimeUtc"),
            end_time=answer.get("endTimeUtc"),
            details=answer,
        )

    def cancel(self, run: PipelineRun | str) -> PipelineRun:
        """Ask the service to cancel the run; returns it as read right after (often CancelRequested)."""
        ref = run if isinstance(run, PipelineRun) else PipelineRun.from_url(run)
        self._control.call("POST", Workspace.from_url(ref.url).cancel_url(ref.id), {})
        return self.get(ref)

    def wait(
        self,
        run: PipelineRun | str,
        *,
        timeout: float | None = None,
        poll_interval: float = FIRST_POLL,
        on_update: Callable[[PipelineRun, float], None] | None = None,
    ) -> PipelineRun:
        """Poll until the run is Completed, Failed or Canceled (back-off from `poll_interval` to 60 s).

        Returns the final run (check `succeeded`); WaitTimeoutError after `timeout` seconds.
        """
        ref = run if isinstance(run, PipelineRun) else PipelineRun.from_url(run)
        return poll(
            lambda: self.get(ref),
            lambda r: r.finished,
            timeout=timeout,
            interval=poll_interval,
            on_update=on_update,
            describe_state=lambda r: f"{r.status} (run {r.id})",
        )

    def close(self) -> None:
        self._control.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PipelineClient(credential={self._control.auth!r})"


def _submitted_status(status: Any) -> str:
    code = status.get("StatusCode") if isinstance(status, Mapping) else status
    if isinstance(code, int) and 0 <= code < len(_STATUS_CODES):
        return _STATUS_CODES[code]
    return str(code) if code is not None else "NotStarted"
