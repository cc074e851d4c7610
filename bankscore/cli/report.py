"""`bankscore report`: where a model's training report is, or the report itself in the browser."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from .._exceptions import BankscoreError
from ._app import EXIT_FAILURE, err, fail


def report(
    model: Annotated[
        Path | None,
        typer.Option(help="Model directory from `bankscore train`. Default: the one `bankscore serve` serves."),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="Open the report in the web browser (BROWSER chooses which).")
    ] = False,
) -> None:
    """Print a model's training report's path, or open it (--open).

    The report (report.html, written by `bankscore train`) has the leaderboard, the winner's ROC and
    precision-recall curves, calibration, the confusion matrix, feature importance and the per-fold spread."""
    from .._extras import check

    check("server", "bankscore report")
    from ..server.model import MODEL_FILE, REPORT_FILE

    if model is None:
        from ..server.runner import SYNTHETIC_ROWS, default_model_dir

        try:
            model = default_model_dir(announce=err.print)
        except BankscoreError as exc:
            fail(str(exc))
        # What retrains the default model as `serve` trained it, report included.
        retrain = f"bankscore train --rows {SYNTHETIC_ROWS} --out {shlex.quote(str(model))}"
    else:
        retrain = f"bankscore train --out {shlex.quote(str(model))}"
    if not (model / MODEL_FILE).is_file():
        fail(f"{model} is not a bankscore model directory ({MODEL_FILE} is missing); create one with `{retrain}`")
    path = (model / REPORT_FILE).resolve()
    if not path.is_file():
        fail(
            f"{model} has no training report ({REPORT_FILE}): the model was saved by an older bankscore; "
            f"retrain it with `{retrain}` to get one"
        )
    typer.echo(str(path))
    if open_:
        import webbrowser

        if not webbrowser.open(path.as_uri()):
            fail(f"no web browser could be opened; open {path} yourself, or set BROWSER", EXIT_FAILURE)
