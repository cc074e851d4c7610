"""`bankscore batch invoke|status|cancel`: score a file or folder on an Azure ML batch endpoint, as a job.

Exit codes as `bankscore pipeline`: 0 when the job Completed (or, without --wait, was started or is
still going), 1 when it Failed, was Canceled or the wait timed out, 2 for usage mistakes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from .._exceptions import BankscoreError
from ..credentials import is_loopback
from ._app import fail
from ._endpoint import AuthChoice, KeyFileOption, entra_credential
from ._waiting import JobAuthOption, PollOption, TimeoutOption, failed, report, say, watched

if TYPE_CHECKING:
    from ..batch_jobs import BatchEndpointClient, BatchJob

batch_app = typer.Typer(
    name="batch",
    help="Score files on an Azure ML batch endpoint: start a job, watch it, cancel it.",
    no_args_is_help=True,
)

EndpointArgument = Annotated[str, typer.Argument(metavar="URL", help="The batch endpoint's URI (…/jobs or its base).")]
JobArgument = Annotated[str, typer.Argument(metavar="JOB", help="The job id `invoke` printed (/subscriptions/…).")]
ManagementOption = Annotated[
    str | None,
    typer.Option(
        "--management-url",
        help="The jobs API. Default: https://management.azure.com, or the endpoint itself when it is on this "
        "machine (the embedded emulator).",
    ),
]


@batch_app.command()
def invoke(
    url: EndpointArgument,
    input_uri: Annotated[
        str,
        typer.Option(
            "--input",
            help="What to score: a URI the endpoint can read (azureml://, https://; file:// or a local path for "
            "an endpoint on this machine). A trailing / means a folder.",
        ),
    ],
    output_uri: Annotated[
        str | None, typer.Option("--output", help="Where the predictions go (must not exist yet).")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option("--deployment", help="Deployment to run (azureml-model-deployment).")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job ends; exit 0 only if it Completed.")] = False,
    timeout: TimeoutOption = None,
    poll_interval: PollOption = 2.0,
    management_url: ManagementOption = None,
    auth: JobAuthOption = AuthChoice.entra,
    key_file: KeyFileOption = None,
) -> None:
    """Start a batch-scoring job; print its name and id."""
    local = is_loopback(urlsplit(url).hostname or "")
    source = _uri(input_uri, local, "--input", must_exist=True)
    target = _uri(output_uri, local, "--output", must_exist=False) if output_uri is not None else None
    with _client(url, auth, key_file, deployment, management_url) as client:
        try:
            job = client.invoke(source, target)
        except BankscoreError as exc:
            failed(exc)
        say(f"Started job {job.name} ({job.status})")
        say(f"Job id: {job.id}")
        if wait:
            _wait(client, job, timeout, poll_interval)


@batch_app.command()
def status(
    url: EndpointArgument,
    job: JobArgument,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job ends; exit 0 only if it Completed.")] = False,
    timeout: TimeoutOption = None,
    poll_interval: PollOption = 2.0,
    management_url: ManagementOption = None,
    auth: JobAuthOption = AuthChoice.entra,
    key_file: KeyFileOption = None,
) -> None:
    """Print a job's status (exit 1 if it Failed or was Canceled)."""
    with _client(url, auth, key_file, None, management_url) as client:
        if wait:
            _wait(client, job, timeout, poll_interval)
            return
        try:
            found = client.get(job)
        except BankscoreError as exc:
            failed(exc)
        _report(found)


@batch_app.command()
def cancel(
    url: EndpointArgument,
    job: JobArgument,
    management_url: ManagementOption = None,
    auth: JobAuthOption = AuthChoice.entra,
    key_file: KeyFileOption = None,
) -> None:
    """Ask for a job to be canceled; print its status afterwards."""
    with _client(url, auth, key_file, None, management_url) as client:
        try:
            found = client.cancel(job)
        except BankscoreError as exc:
            failed(exc)
        say(f"Cancel requested: job {found.name} is {found.status}")


def _client(
    url: str, auth: AuthChoice, key_file: Path | None, deployment: str | None, management_url: str | None
) -> BatchEndpointClient:
    from ..batch_jobs import BatchEndpointClient

    try:
        return BatchEndpointClient(
            url,
            entra_credential(auth, key_file),
            key_file=key_file,
            deployment=deployment,
            management_url=management_url,
        )
    except BankscoreError as exc:
        fail(str(exc))


def _uri(given: str, local: bool, option: str, *, must_exist: bool) -> str:
    """A URI as given; a local path becomes a file:// URI, which only an endpoint on this machine can read."""
    if "://" in given:
        return given
    if not local:
        fail(
            f"{option} {given}: an endpoint in Azure can't read files on this machine; upload it first "
            "(az ml data create, or a datastore) and give its azureml:// or https:// URI"
        )
    path = Path(given).expanduser().resolve()
    if must_exist and not path.exists():
        fail(f"{option} {given}: no such file or folder")
    uri = path.as_uri()
    return uri + "/" if path.is_dir() and not uri.endswith("/") else uri


def _wait(client: BatchEndpointClient, job: BatchJob | str, timeout: float | None, poll_interval: float) -> None:
    final = watched(
        "job",
        lambda j: j.status,
        lambda watch: client.wait(job, timeout=timeout, poll_interval=poll_interval, on_update=watch),
    )
    _report(final)


def _report(job: BatchJob) -> None:
    report("job", job.name, job.status, job.error, f"; output {job.output}" if job.output and job.succeeded else "")
