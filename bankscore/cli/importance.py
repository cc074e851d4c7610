"""`bankscore importance`: the served model's global view — what matters most, on average, across many rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .._exceptions import BankscoreError
from ._app import EXIT_FAILURE, fail, out
from ._endpoint import AuthChoice, AuthOption, EndpointOption, KeyFileOption, SwaggerOption, scoring_client


def importance(
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    auth: AuthOption = AuthChoice.key,
    swagger: SwaggerOption = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Rows to explain (CSV, JSONL, ...). Default: synthetic rows.")
    ] = None,
    rows: Annotated[int, typer.Option(help="How many rows to explain.", min=10, max=1_000_000)] = 2_000,
    model: Annotated[
        Path | None,
        typer.Option(
            help="The served model's directory, for the trainer's gain importance beside (default: the "
            "embedded endpoint's model when no endpoint is configured)."
        ),
    ] = None,
) -> None:
    """Global feature importance: mean |contribution| over explained rows, beside the trainer's gain importance."""
    from ..explanations import global_importance

    if data is not None and not data.is_file():
        fail(f"{data}: no such file")
    local = endpoint is None and not os.environ.get("BANKSCORE_ENDPOINT")
    with scoring_client(endpoint, key_file, swagger, auth=auth) as client:
        sample = _sample(data, rows, client)
        try:
            explained = client.explain(sample, top=0, extra_columns="ignore")
        except BankscoreError as exc:
            fail(str(exc), EXIT_FAILURE)
        features = [c for c in explained.columns if c in sample.columns]
        table_data = global_importance(explained, features)
    trainer = _trainer_importance(model, local)
    title = f"Global importance over {len(sample):,} rows (mean |contribution|, log-odds)"
    table = Table(title=title)
    for column in ("rank", "feature", "mean |contribution|", "share", "trainer (gain) share"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for rank, (feature, row) in enumerate(table_data.iterrows(), start=1):
        gain = f"{trainer[feature]:.1%}" if feature in trainer else "—"
        table.add_row(str(rank), str(feature), f"{row['mean_abs_contribution']:.4f}", f"{row['share']:.1%}", gain)
    out.print(table)
    if not trainer:
        out.print("The trainer's gain importance is known only for a local model (--model DIR).")


def _sample(data: Path | None, rows: int, client: Any) -> Any:
    if data is not None:
        from ..files import read_table

        frame = read_table(data, types=client.contract.types)
        return frame.head(rows)
    from ..bankmarketing.synthetic import generate

    return generate(rows, seed=17, label=False)


def _trainer_importance(model: Path | None, local: bool) -> dict[str, float]:
    """The `feature_importance` shares `bankscore train` wrote into metrics.json, when the model is on this machine."""
    if model is None and local:
        from ..server.runner import default_model_dir

        model = default_model_dir()
    if model is None:
        return {}
    try:
        metrics = json.loads((model / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = metrics.get("feature_importance", {})
    return {str(k): float(v) for k, v in found.items()} if isinstance(found, dict) else {}
