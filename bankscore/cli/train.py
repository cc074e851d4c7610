"""`bankscore train`: an AutoML-like run on a CSV or synthetic rows, written as a model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .._exceptions import BankscoreError
from ._app import err, fail, out


def train(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Training CSV (20 Bank Marketing columns + label). Default: synthetic."),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Model directory to write.")] = Path("models/bankmarketing"),
    label: Annotated[str, typer.Option(help="Name of the label column in --data.")] = "y",
    rows: Annotated[int, typer.Option(help="Synthetic rows to generate when no --data is given.", min=100)] = 32_950,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic data and the CV split.")] = 0,
    folds: Annotated[int, typer.Option(help="Cross-validation folds.", min=2, max=20)] = 5,
    candidates: Annotated[
        list[str] | None,
        typer.Option(
            "--candidates",
            help="Candidates to try (repeatable, or a comma list): LightGBM, 'LightGBM (extra trees)', "
            "LogisticRegression, VotingEnsemble. Default: all.",
        ),
    ] = None,
) -> None:
    """Train candidates with stratified k-fold CV, keep the best by AUC_weighted, write a model directory."""
    from ..server.model import REPORT_FILE
    from ..server.training import read_training_csv
    from ..server.training import train as run_training

    chosen = [name.strip() for given in candidates or () for name in given.split(",") if name.strip()] or None
    try:
        if data is not None:
            frame = read_training_csv(data, label=label)
            source = str(data)
        else:
            from ..bankmarketing.synthetic import generate

            frame = generate(rows, seed=seed)
            source = f"synthetic(rows={rows}, seed={seed})"
        err.print(f"Training on {len(frame):,} rows from {source} with {folds}-fold stratified CV")
        result = run_training(
            frame,
            folds=folds,
            seed=seed,
            candidates=chosen,
            source=source,
            on_candidate=lambda c: err.print(f"  {c.name}: AUC_weighted {c.auc_weighted:.4f}"),
        )
        written = result.save(out_dir)
    except BankscoreError as exc:
        fail(str(exc))

    table = Table(title=f"Leaderboard ({folds}-fold CV, {result.rows:,} rows, {result.positive_rate:.1%} positive)")
    for column in ("rank", "candidate", "accuracy", "AUC_weighted", "F1 (weighted)", "fit s/fold"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for rank, c in enumerate(result.leaderboard, 1):
        table.add_row(
            str(rank),
            c.name + (" ★" if c.name == result.model.name else ""),
            f"{c.accuracy:.4f}",
            f"{c.auc_weighted:.4f}",
            f"{c.f1_weighted:.4f}",
            f"{c.fit_seconds:.2f}",
        )
    out.print(table)
    importance = Table(title="Global feature importance (winner)")
    importance.add_column("feature")
    importance.add_column("share", justify="right")
    for name, share in list(result.importance.items())[:10]:
        importance.add_row(name, f"{share:.1%}")
    out.print(importance)
    out.print(
        f"Model {result.model.name} (version {result.model.version}) written to {written} in {result.seconds:.1f} s"
    )
    out.print(f"Training report: {(written / REPORT_FILE).resolve()}", markup=False, soft_wrap=True)
