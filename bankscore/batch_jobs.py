"""Azure ML v2 batch endpoints: score a file or folder on Azure's own cluster, as a job.

`POST <endpoint>/jobs` with an Entra token for Azure ML's data plane starts the job; the answer names
a workspace job (`id`: an ARM path), whose status is read from the jobs API on the control plane
(`https://management.azure.com<id>?api-version=...`, with an ARM token) until it is Completed or Failed.
The embedded emulator plays both planes on one loopback port, so for a loopback endpoint the control
plane defaults to the same origin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Self
from urllib.parse import quote, urlsplit, urlunsplit

from ._control import FIRST_POLL, ControlClient, error_text, job_auth, poll
from ._exceptions import BatchJobError
from ._types import AsyncTokenCredential, TokenCredential, Verify
from .credentials import ARM_SCOPE, ML_SCOPE, TokenAuth, is_loopback

MANAGEMENT_URL: Final = "https://management.azure.com"
JOBS_API_VERSION: Final = "2024-04-01"
TERMINAL: Final = frozenset({"Completed", "Failed", "Canceled"})

InputType = Literal["UriFile", "UriFolder"]


@dataclass(frozen=True)
class BatchJob:
    """One batch-scoring job, as last read."""

    name: str
    id: str  # the workspace job's ARM path
    status: str
    error: str | None = None
    output: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == "Completed"


class BatchEndpointClient:
    """Invoke a batch endpoint and follow its jobs.

    `endpoint`: the batch endpoint's URI (`https://<name>.<region>.inference.ml.azure.com`, with or without
    `/jobs`). `credential`: an azure-core TokenCredential; ML-scoped tokens invoke, ARM-scoped ones read
    and cancel jobs. Without one, a key (`key=`, `key_file=`, `$BANKSCORE_KEY`) is sent — the emulator's
    key auth. `management_url`: where the jobs API is (default Azure's, or the endpoint's own origin when it
    is on this machine).
    """

    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential | AsyncTokenCredential | TokenAuth | None = None,
        *,
        key: str | None = None,
        key_file: str | Path | None = None,
        deployment: str | None = None,
        management_url: str | None = None,
        timeout: float = 60.0,
        verify: Verify = True,
    ) -> None:
        self.endpoint = jobs_uri(endpoint)
        self.deployment = deployment
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.endpoint))
        local = is_loopback(urlsplit(self.endpoint).hostname or "")
        self.management_url = (management_url or (origin if local else MANAGEMENT_URL)).rstrip("/")
        self._data = ControlClient(job_auth(credential, ML_SCOPE, key, key_file), timeout=timeout, verify=verify)
        self._management = (
            self._data
            if credential is None
            else ControlClient(job_auth(credential, ARM_SCOPE, None, None), timeout=timeout, verify=verify)
        )

    def invoke(
        self,
        input: str,
        output: str | None = None,
        *,
        input_type: InputType | None = None,
        input_name: str = "input_data",
        output_name: str = "score",
    ) -> BatchJob:
        """Start a job scoring `input` (a URI: azureml://, https://, file://...) into `output` (must not exist).

        `input_type` defaults to UriFolder for a URI ending in '/', else UriFile.
        """
        if not input.strip():
            raise BatchJobError("an input URI is required (a file or folder the endpoint can read)")
        kind: InputType = input_type or ("UriFolder" if input.endswith("/") else "UriFile")
        properties: dict[str, Any] = {"InputData": {input_name: {"JobInputType": kind, "Uri": input}}}
        if output is not None:
            properties["OutputData"] = {output_name: {"JobOutputType": "UriFile", "Uri": output}}
        headers = {"azureml-model-deployment": self.deployment} if self.deployment else None
        answer = self._data.call("POST", self.endpoint, {"properties": properties}, submit=True, headers=headers)
        return _job(answer, "the batch endpoint")

    def get(self, job: BatchJob | str) -> BatchJob:
        """The job as the jobs API has it now; `job` is a BatchJob, its name or its ARM id."""
        return _job(self._management.call("GET", self._job_url(job)), "the jobs API")

    def cancel(self, job: BatchJob | str) -> BatchJob:
        """Ask for the job to be canceled; returns it as read right after."""
        url = self._job_url(job)
        base, _, query = url.partition("?")
        self._management.call("POST", f"{base}/cancel?{query}", {})
        return self.get(job)

    def wait(
        self,
        job: BatchJob | str,
        *,
        timeout: float | None = None,
        poll_interval: float = FIRST_POLL,
        on_update: Callable[[BatchJob, float], None] | None = None,
    ) -> BatchJob:
        """Poll until the job is Completed, Failed or Canceled; WaitTimeoutError after `timeout` seconds."""
        return poll(
            lambda: self.get(job),
            lambda j: j.finished,
            timeout=timeout,
            interval=poll_interval,
            on_update=on_update,
            describe_state=lambda j: f"{j.status} (job {j.name})",
        )

    def _job_url(self, job: BatchJob | str) -> str:
        ref = job.id if isinstance(job, BatchJob) else job
        if not ref.startswith("/subscriptions/"):
            raise BatchJobError(
                f"{ref!r} is not a job id; give the id the invoke printed "
                "(/subscriptions/.../workspaces/<ws>/jobs/<name>)"
            )
        return f"{self.management_url}{quote(ref)}?api-version={JOBS_API_VERSION}"

    def close(self) -> None:
        self._data.close()
        if self._management is not self._data:
            self._management.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BatchEndpointClient(endpoint={self.endpoint!r}, credential={self._data.auth!r})"


def jobs_uri(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BatchJobError(
            f"{endpoint!r} is not a batch endpoint URL; it looks like https://<name>.<region>.inference.ml.azure.com"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/jobs"):
        path += "/jobs"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _job(answer: Any, source: str) -> BatchJob:
    if not isinstance(answer, Mapping) or not answer.get("id") or not isinstance(answer.get("properties"), Mapping):
        raise BatchJobError(f"{source} answered without a job (id, properties): {str(answer)[:200]}")
    properties: Mapping[str, Any] = answer["properties"]
    job_id = str(answer["id"])
    outputs = properties.get("outputs") or properties.get("OutputData") or {}
    output = next(
        (str(o.get("uri") or o.get("Uri")) for o in outputs.values() if isinstance(o, Mapping)),
        None,
    )
    return BatchJob(
        name=str(answer.get("name") or job_id.rsplit("/", 1)[-1]),
        id=job_id,
        status=str(properties.get("status") or "Unknown"),
        error=error_text(properties.get("error") or answer.get("error")),
        output=output,
        details=answer,
    )
