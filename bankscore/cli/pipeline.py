"""`bankscore pipeline submit|status|cancel`: published Azure ML pipelines from CI or cron.

Exit codes are made for schedulers: 0 only when the run Completed (or, for `status` without --wait,
is still going), 1 when it Failed, was Canceled or the wait timed out (the service's error on one
line), 2 for usage mistakes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._exceptions import BankscoreError
from ._app import fail
from ._endpoint import AuthChoice, KeyFileOption, entra_credential
from ._waiting import JobAuthOption, PollOption, TimeoutOption, failed, parameter, report, say, watched

if TYPE_CHECKING:
    from ..pipeline_runs import PipelineClient, PipelineRun

pipeline_app = typer.Typer(
    name="pipeline",
    help="Submit, watch and cancel runs of a published Azure ML pipeline (for CI and cron).",
    no_args_is_help=True,
)

RunOption = Annotated[
    str,
    typer.Argument(
        metavar="RUN",
        help="The run-history URL `submit` printed, or a run id with --workspace and --experiment.",
    ),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        help="With a run id: any URL of the workspace's API, such as the pipeline's REST endpoint.",
    ),
]
ExperimentOption = Annotated[str | None, typer.Option("--experiment", help="With a run id: its experiment.")]


@pipeline_app.command()
def submit(
    url: Annotated[str, typer.Argument(help="The published pipeline's REST endpoint.")],
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment to file the run under.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Pipeline parameter NAME=VALUE (repeatable).")
    ] = None,
    description: Annotated[str | None, typer.Option(help="The run's description.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run ends; exit 0 only if it Completed.")] = False,
    timeout: TimeoutOption = None,
    poll_interval: PollOption = 2.0,
    auth: JobAuthOption = AuthChoice.entra,
    key_file: KeyFileOption = None,
) -> None:
    """Start a run of a published pipeline; print its id and run-history URL."""
    parameters = dict(parameter(p) for p in param or [])
    with _client(auth, key_file) as client:
        try:
            run = client.submit(url, experiment, parameters=parameters, description=description)
        except BankscoreError as exc:
            failed(exc)
        say(f"Submitted run {run.id} ({run.status}) in experiment {run.experiment}")
        say(f"Run URL: {run.url}")
        if wait:
            _wait(client, run, timeout, poll_interval)


@pipeline_app.command()
def status(
    run: RunOption,
    workspace: WorkspaceOption = None,
    experiment: ExperimentOption = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the run ends; exit 0 only if it Completed.")] = False,
    timeout: TimeoutOption = None,
    poll_interval: PollOption = 2.0,
    auth: JobAuthOption = AuthChoice.entra,
    key_file: KeyFileOption = None,
) -> None:
    """Print a run's status (exit 1 if it Failed or was Canceled)."""
    with _client(auth, key_file) as client:
        target = _run_url(run, workspace, experiment)
        if wait:
            _wait(client, target, timeout, poll_interval)
            return
        try:
            found = client.get(target)
        except BankscoreError as exc:
            failed(exc)
        _report(found)


@pipeline_app.command()
def cancel(
    run: RunOption,
    workspace: WorkspaceOption = None,
    experiment: ExperimentOption = None,
    auth: JobAuthOption = AuthChoice.entra,
    key_file: KeyFileOption = None,
) -> None:
    """Ask the service to cancel a run; print its status afterwards."""
    with _client(auth, key_file) as client:
        try:
            found = client.cancel(_run_url(run, workspace, experiment))
        except BankscoreError as exc:
            failed(exc)
        say(f"Cancel requested: run {found.id} is {found.status}")


def _client(auth: AuthChoice, key_file: Path | None) -> PipelineClient:
    from ..pipeline_runs import PipelineClient

    return PipelineClient(entra_credential(auth, key_file), key_file=key_file)


def _run_url(run: str, workspace: str | None, experiment: str | None) -> str:
    """A run-history URL from what the user gave: the URL itself, or an id with its workspace and experiment."""
    from ..pipeline_runs import Workspace

    if run.startswith(("http://", "https://")):
        return run
    if workspace is None or experiment is None:
        fail(f"{run!r} is a run id: give --workspace URL and --experiment NAME too, or the run URL submit printed")
    try:
        return Workspace.from_url(workspace).run_url(experiment, run)
    except BankscoreError as exc:
        fail(str(exc))


def _wait(client: PipelineClient, run: PipelineRun | str, timeout: float | None, poll_interval: float) -> None:
    final = watched(
        "run",
        lambda r: r.status,
        lambda watch: client.wait(run, timeout=timeout, poll_interval=poll_interval, on_update=watch),
    )
    _report(final)


def _report(run: PipelineRun) -> None:
    report("run", run.id, run.status, run.error)
