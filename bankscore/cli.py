"""The `bankscore` command: every subcommand is a thin shell over the library's public API."""

from __future__ import annotations

import ipaddress
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from ._exceptions import BankscoreError

app = typer.Typer(
    name="bankscore",
    help="Score Bank Marketing customers against an Azure ML endpoint, or the embedded local one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)
if not out.is_terminal:  # piped or captured: don't squeeze tables into 80 columns
    out.width = max(out.width, 120)

EXIT_FAILURE = 1
EXIT_USAGE = 2


class ContractChoice(StrEnum):
    inputs = "inputs"
    data = "data"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        out.print(f"bankscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """bankscore: the typed way to consume an Azure ML scoring endpoint."""


# ------------------------------------------------------------------------------------------- train


@app.command()
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
) -> None:
    """Train candidates with stratified k-fold CV, keep the best by AUC_weighted, write a model directory."""
    from .training import read_training_csv
    from .training import train as run_training

    try:
        if data is not None:
            frame = read_training_csv(data, label=label)
            source = str(data)
        else:
            from .synthetic import generate

            frame = generate(rows, seed=seed)
            source = f"synthetic(rows={rows}, seed={seed})"
        err.print(f"Training on {len(frame):,} rows from {source} with {folds}-fold stratified CV")
        result = run_training(
            frame,
            folds=folds,
            seed=seed,
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


# ------------------------------------------------------------------------------------------- serve


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    model: Annotated[
        Path | None,
        typer.Option(help="Model directory from `bankscore train`. Default: the cached synthetic model."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless you mean otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 5001,
    contract: Annotated[
        ContractChoice,
        typer.Option(
            help="inputs: today's AutoML (Inputs/GlobalParameters → Results); "
            "data: 2020-21 services (data → double-encoded result)."
        ),
    ] = ContractChoice.inputs,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    key_file: Annotated[
        Path | None, typer.Option(help="File with the primary key, and optionally the secondary on line 2.")
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key.")] = False,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, in MB (AKS: 100).", min=0.001)] = 100.0,
    fault_rate: Annotated[
        float, typer.Option(help="Share of /score requests that fail on purpose.", min=0, max=1)
    ] = 0.0,
    fault_status: Annotated[
        list[str] | None,
        typer.Option(help="Fault to inject: 408, 429, 500, 502, 503, 504 or model-error (repeatable)."),
    ] = None,
    retry_after: Annotated[float, typer.Option(help="Retry-After seconds sent with injected 429/503.", min=0)] = 1.0,
    latency_ms: Annotated[float, typer.Option(help="Extra latency added to every /score request.", min=0)] = 0.0,
    fault_seed: Annotated[int | None, typer.Option(help="Seed for the fault draws.")] = None,
    log_file: Annotated[Path | None, typer.Option(help="Write the JSON request log here instead of stderr.")] = None,
    access_log: Annotated[bool, typer.Option(help="Log one JSON line per request.")] = True,
) -> None:
    """Run the embedded Azure-compatible scoring endpoint (GET /, GET /swagger.json, POST /score)."""
    from .credentials import KeySourceError
    from .endpoint.auth import resolve_keys
    from .endpoint.faults import parse_fault
    from .endpoint.runner import EndpointConfig, default_model_dir
    from .endpoint.runner import serve as run_server
    from .model import load_model

    try:
        faults = tuple(parse_fault(f) for f in (fault_status or ["503"]))
    except ValueError as exc:
        fail(f"--fault-status: {exc}")
    primary: str | None = None
    secondary: str | None = None
    if no_auth:
        if key_file is not None:
            fail("--no-auth and --key-file contradict each other; choose one")
        if not _is_loopback(host):
            err.print(
                f"[bold yellow]warning:[/] auth is off and the endpoint listens on {host}: "
                "anyone who can reach it can score",
                markup=True,
            )
    else:
        try:
            keys = resolve_keys(key_file)
        except KeySourceError as exc:
            fail(str(exc))
        primary, secondary = keys.primary, keys.secondary
        if keys.generated:
            err.print(f"Generated a primary key for this run (shown once): {keys.primary}")
            err.print("Set BANKSCORE_KEY or pass --key-file to choose your own; --no-auth turns auth off.")
    try:
        model_dir = model or default_model_dir(announce=err.print)
        loaded = load_model(model_dir)
    except BankscoreError as exc:
        fail(str(exc))
    config = EndpointConfig(
        model_dir=model_dir,
        contract=contract.value,
        host=host,
        port=port,
        workers=workers,
        primary_key=primary,
        secondary_key=secondary,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        fault_rate=fault_rate,
        faults=faults,
        retry_after=retry_after,
        latency_ms=latency_ms,
        fault_seed=fault_seed,
        log_file=log_file,
        access_log=access_log,
    )
    shown_host = f"[{host}]" if ":" in host else host
    err.print(
        f"Serving {loaded.name} (version {loaded.version}) on http://{shown_host}:{port}/score "
        f"— contract {contract.value}, {workers} worker{'s' if workers > 1 else ''}, "
        f"auth {'off' if no_auth else 'on'}. Ctrl+C stops."
    )
    try:
        run_server(config)
    except OSError as exc:
        fail(f"can't listen on {host}:{port}: {exc.strerror}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
