"""The `bankscore` command: every subcommand is a thin shell over the library's public API."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Log each retry (rows, attempt, reason, wait) to stderr.")
    ] = False,
) -> None:
    """bankscore: the typed way to consume an Azure ML scoring endpoint."""
    if verbose:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("bankscore")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


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


# ------------------------------------------------------------------------------- client commands


class OnErrorChoice(StrEnum):
    fail = "fail"
    column = "column"


EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint", help="Scoring URI (…/score). Default: $BANKSCORE_ENDPOINT, else the embedded endpoint."),
]
KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="File with the key (line 1) and optional secondary key (line 2). "
        "Default: $BANKSCORE_KEY / $BANKSCORE_SECONDARY_KEY.",
    ),
]
SwaggerOption = Annotated[
    str | None, typer.Option("--swagger", help="swagger.json path or URL. Default: <endpoint base>/swagger.json.")
]


@contextlib.contextmanager
def _client(
    endpoint: str | None, key_file: Path | None, swagger: str | None, *, share_key: bool = False, **options: Any
) -> Iterator[Any]:
    """A ScoringClient for the configured endpoint, or for the embedded one started just for this command.

    share_key: put the embedded endpoint's throwaway key in this process's environment, where the
    worker processes it starts (Dask) find it; never on a command line.
    """
    from .client import ScoringClient
    from .credentials import KeySourceError

    endpoint = endpoint or os.environ.get("BANKSCORE_ENDPOINT") or None
    if key_file is not None:
        from .credentials import read_key_file

        try:
            read_key_file(key_file)
        except KeySourceError as exc:
            fail(str(exc))
    local = None
    key: str | None = None
    try:
        if endpoint is None:
            from .endpoint.runner import start_local_endpoint

            local, key = start_local_endpoint(announce=err.print)
            endpoint = local.scoring_uri
            if share_key:
                os.environ["BANKSCORE_KEY"] = key
                os.environ.pop("BANKSCORE_KEY_FILE", None)
            err.print(
                f"No endpoint configured (--endpoint or BANKSCORE_ENDPOINT): using the embedded local endpoint "
                f"at {endpoint} ({local.app.model.name}, version {local.app.model.version})."
            )
        if "concurrency" not in options:
            # The embedded endpoint scores on this machine's cores: more requests in flight only contend.
            options["concurrency"] = (os.cpu_count() or 2) if local is not None else 4
        if "batch_rows" not in options:
            # No network and no gateway timeout in between: fewer, larger requests cost less per row.
            options["batch_rows"] = 5_000 if local is not None else 1_000
        try:
            client = ScoringClient(endpoint, key=key, key_file=key_file, swagger=swagger, **options)
        except KeySourceError as exc:
            fail(str(exc))
        with client:
            yield client
    except BankscoreError as exc:
        from ._exceptions import APIError, InputValidationError

        if isinstance(exc, InputValidationError):
            fail(_one_line(exc))
        fail(str(exc), EXIT_FAILURE if isinstance(exc, APIError) else EXIT_USAGE)
    finally:
        if local is not None:
            local.stop()


def _one_line(exc: Any) -> str:
    shown = "; ".join(str(p) for p in exc.problems[:3])
    more = f"; and {exc.total - 3} more" if exc.total > 3 else ""
    return f"{exc.total} problem{'s' if exc.total != 1 else ''} in the input: {shown}{more}"


@app.command()
def score(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, Parquet, XLSX or JSONL file of rows.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here (format by extension). Default: stdout.")
    ] = None,
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    swagger: SwaggerOption = None,
    proba: Annotated[bool, typer.Option("--proba", help="Add one probability column per class.")] = False,
    batch_rows: Annotated[
        int | None,
        typer.Option(help="Rows per request. Default: 1,000, or 5,000 for the embedded endpoint.", min=1),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Requests in flight at once. Default: 4, or one per core for the embedded endpoint.", min=1, max=64
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one answer.", min=0.1)] = 60.0,
    on_error: Annotated[
        OnErrorChoice, typer.Option(help="fail: stop at the first failure; column: fill an error column and go on.")
    ] = OnErrorChoice.fail,
    chunk_rows: Annotated[
        int, typer.Option(help="Rows read, scored and written at a time; bounds memory for big files.", min=1)
    ] = 50_000,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            "--dask-scheduler",
            help="Score on a Dask cluster: 'local' (worker processes here) or a scheduler address tcp://HOST:PORT.",
        ),
    ] = None,
    dask_workers: Annotated[int, typer.Option(help="Worker processes for --dask local.", min=1)] = 2,
) -> None:
    """Score every row of a file; adds a prediction column (and probabilities with --proba)."""
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from .files import FileFormatError, file_format
    from .filescoring import score_file

    try:
        if output is not None:
            file_format(output)
        file_format(input_path)
    except FileFormatError as exc:
        fail(str(exc))
    if not input_path.is_file():
        fail(f"{input_path}: no such file")
    given: dict[str, Any] = {"batch_rows": batch_rows, "concurrency": concurrency, "timeout": timeout}
    options = {name: value for name, value in given.items() if value is not None}
    if dask is not None:
        _score_on_dask(input_path, output, dask, dask_workers, endpoint, key_file, swagger, proba, on_error, options)
        return
    with _client(endpoint, key_file, swagger, **options) as client:
        contract = client.contract
        with Progress(
            TextColumn("Scoring"),
            TextColumn("{task.completed:,} rows"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("score", total=None, rate="")
            started = time.monotonic()

            def progress(done: int, _total: int | None) -> None:
                rate = done / max(time.monotonic() - started, 1e-9)
                bar.update(task, completed=done, rate=f"{rate:,.0f} rows/s")

            try:
                result = score_file(
                    client,
                    input_path,
                    output,
                    proba=proba,
                    on_error="column" if on_error is OnErrorChoice.column else "raise",
                    chunk_rows=chunk_rows,
                    progress=progress,
                    on_ignored=lambda names: err.print(
                        f"Not sent (not in the contract), kept in the output: {', '.join(names)}"
                    ),
                )
            except FileFormatError as exc:
                fail(str(exc))
        if result.frame is not None:
            _print_table(result.frame, contract.column_names)
        else:
            err.print(f"Wrote {result.rows:,} rows to {output}")
    if result.failed:
        fail(f"{result.failed:,} of {result.rows:,} rows failed; see the error column", EXIT_FAILURE)


def _score_on_dask(
    input_path: Path,
    output: Path | None,
    scheduler: str,
    workers: int,
    endpoint: str | None,
    key_file: Path | None,
    swagger: str | None,
    proba: bool,
    on_error: OnErrorChoice,
    options: dict[str, Any],
) -> None:
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        fail('--dask needs the dask extra: pip install "bankscore[dask]"')
    if output is None:
        fail("--dask writes a file: give -o OUTPUT")
    from .dask import PartitionError
    from .dask import score_file as score_on_cluster
    from .files import FileFormatError

    remote = scheduler != "local"
    with _client(endpoint, key_file, swagger, share_key=True, **options) as client:
        if remote and client.endpoint.startswith(("http://127.0.0.1", "http://localhost")):
            fail("a remote Dask cluster can't reach an endpoint on this machine's loopback; give --endpoint URL")
        started = time.monotonic()
        try:
            result = score_on_cluster(
                input_path,
                output,
                scheduler=scheduler,
                workers=workers,
                proba=proba,
                on_error="column" if on_error is OnErrorChoice.column else "raise",
                endpoint=client.endpoint,
                swagger=swagger,
                key_file=str(key_file) if key_file else None,
                **{k: v for k, v in options.items() if k != "concurrency"},
            )
        except PartitionError as exc:
            from ._exceptions import InputValidationError

            if isinstance(exc.error, InputValidationError):
                fail(f"partition {exc.partition}: {_one_line(exc.error)}")
            fail(str(exc).splitlines()[0], EXIT_FAILURE)
        except FileFormatError as exc:
            fail(str(exc))
        rate = result.rows / max(time.monotonic() - started, 1e-9)
        err.print(f"Wrote {result.rows:,} rows to {output} ({rate:,.0f} rows/s on Dask {scheduler})")
    if result.failed:
        fail(f"{result.failed:,} of {result.rows:,} rows failed; see the error column", EXIT_FAILURE)


def _cell(value: Any) -> str:
    if value is None or value != value:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_table(frame: Any, features: tuple[str, ...], limit: int = 50) -> None:
    """CSV when piped; on a terminal, a table narrow enough to read: ids, a few features, the results."""
    if not out.is_terminal:
        sys.stdout.write(frame.to_csv(index=False))
        return
    shown_features = [c for c in features[:4] if c in frame.columns]
    columns = [c for c in frame.columns if c not in features] + shown_features
    columns = sorted(columns, key=list(frame.columns).index)
    result_columns = [c for c in columns if c == "prediction" or c == "error" or str(c).startswith("proba_")]
    columns = [c for c in columns if c not in result_columns] + result_columns
    frame = frame[columns]
    table = Table(caption=f"{len(features) - len(shown_features)} more input columns not shown; use -o FILE for all")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold", style="bold" if column == "prediction" else None)
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    out.print(table)
    if len(frame) > limit:
        err.print(f"… {len(frame) - limit:,} more rows; write them all with -o FILE")


@app.command()
def schema(endpoint: EndpointOption = None, key_file: KeyFileOption = None, swagger: SwaggerOption = None) -> None:
    """Print the endpoint's contract: envelope, columns and types, declared output."""
    with _client(endpoint, key_file, swagger) as client:
        contract = client.contract
        table = Table(title=f"{contract.title or 'endpoint'} — POST {contract.score_path}")
        for column in ("#", "column", "type", "required", "levels seen by the model"):
            table.add_column(column)
        for i, c in enumerate(contract.columns, 1):
            levels = ", ".join(c.levels[:8]) + (" …" if len(c.levels) > 8 else "")
            table.add_row(str(i), c.name, c.type, "yes" if c.required else "no", levels)
        out.print(table)
        from .contract import ENVELOPE_NAMES

        out.print(f"Envelope: {ENVELOPE_NAMES[contract.envelope]}")
        out.print(f"predict_proba: {'yes' if contract.supports_proba else 'no'}; classes: {contract.class_names()}")
        out.print(f"Declared output: {contract.declared_output} (bankscore trusts the values it receives)")


@app.command()
def health(endpoint: EndpointOption = None, key_file: KeyFileOption = None) -> None:
    """Check that GET / answers 200 (exit 0) or not (exit 1)."""
    with _client(endpoint, key_file, swagger=None) as client:
        healthy = client.health()
        target = client.endpoint
    if not healthy:
        fail(f"{target}: not healthy (GET / did not answer 200)", EXIT_FAILURE)
    out.print(f"{target}: Healthy")


@app.command()
def codegen(
    output: Annotated[Path, typer.Option("-o", "--output", help="Python module to write.")],
    swagger: SwaggerOption = None,
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
) -> None:
    """Write a typed module (row model with aliases + a thin typed client) for the endpoint's contract."""
    from .codegen import generate_module
    from .contract import load_swagger_file, parse_swagger
    from .files import atomic_path

    if swagger is not None and not swagger.startswith(("http://", "https://")):
        try:
            contract = parse_swagger(load_swagger_file(swagger))
        except BankscoreError as exc:
            fail(str(exc))
        source = generate_module(contract, endpoint=endpoint)
    else:
        with _client(endpoint, key_file, swagger) as client:
            source = generate_module(client.contract, endpoint=endpoint)
    if output.suffix != ".py":
        fail(f"{output}: the output must be a .py file")
    with atomic_path(output) as temporary:
        temporary.write_text(source, encoding="utf-8")
    out.print(f"Wrote {output}")


@app.command()
def loadtest(
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    requests: Annotated[
        int | None, typer.Option("-n", "--requests", help="Stop after this many score requests.", min=1)
    ] = None,
    duration: Annotated[
        str | None, typer.Option("-t", "--duration", help="Run this long: 30s, 2m, 1h30m. Default 10s.")
    ] = None,
    users: Annotated[int, typer.Option("-u", "--users", help="Concurrent users (ab's -c).", min=1)] = 4,
    rows_per_request: Annotated[int, typer.Option(help="Rows in each request.", min=1)] = 1,
    rows_file: Annotated[Path | None, typer.Option(help="Rows to send (CSV/Parquet/XLSX/JSONL).")] = None,
    wait_ms: Annotated[float, typer.Option(help="Pause per user between requests, ms.", min=0)] = 0.0,
    slo_p95_ms: Annotated[float | None, typer.Option(help="Fail when p95 latency exceeds this (ms).")] = None,
    slo_p99_ms: Annotated[float | None, typer.Option(help="Fail when p99 latency exceeds this (ms).")] = None,
    slo_error_rate: Annotated[
        float | None, typer.Option(help="Failures allowed, as a fraction (default: none).", min=0, max=1)
    ] = None,
    slo_min_rps: Annotated[float | None, typer.Option(help="Fail below this many requests/s.")] = None,
    cpu_limit: Annotated[
        float, typer.Option(help="Fail when locust's own CPU goes above this % of a core.", min=0, max=100)
    ] = 90.0,
    health: Annotated[bool, typer.Option(help="Also run the health task (tagged separately).")] = False,
    csv: Annotated[str | None, typer.Option(help="Write locust's CSV reports with this prefix.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write locust's HTML report here.")] = None,
) -> None:
    """Load-test an endpoint with locust, headless and bounded, with SLO gates and an ab-style summary."""
    import importlib.util
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    if importlib.util.find_spec("locust") is None:  # not imported here: it monkey-patches with gevent
        fail('load tests need the loadtest extra: pip install "bankscore[loadtest]"')
    if requests is not None and duration is not None:
        fail("give -n REQUESTS or -t DURATION, not both")
    seconds = _duration_seconds(duration or "10s") if requests is None else 600.0
    if seconds is None:
        fail(f"-t {duration!r}: use a duration like 30s, 2m or 1h30m")
    env = {
        k: v for k, v in os.environ.items() if k != "BANKSCORE_KEY" or endpoint or os.environ.get("BANKSCORE_ENDPOINT")
    }
    local = None
    try:
        target = endpoint or os.environ.get("BANKSCORE_ENDPOINT")
        if target is None:
            from .endpoint.runner import start_local_endpoint

            local, key = start_local_endpoint(announce=err.print)
            target = local.scoring_uri
            env["BANKSCORE_KEY"] = key  # to the child through its environment, never its command line
            env.pop("BANKSCORE_KEY_FILE", None)
            err.print(f"No endpoint configured: load-testing the embedded local endpoint at {target}.")
        elif key_file is not None:
            env["BANKSCORE_KEY_FILE"] = str(key_file)
        from ._base_client import scoring_uri

        parts = urlsplit(scoring_uri(target))
        host = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        locustfile = Path(__file__).with_name("loadtest") / "locustfile.py"
        command = [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
            "--host", host, "--score-path", parts.path or "/score",
            "-u", str(users), "-r", str(users), "--stop-timeout", "5",
            "--rows-per-request", str(rows_per_request), "--wait-ms", str(wait_ms), "--cpu-limit", str(cpu_limit),
        ]  # fmt: skip
        command += (
            ["--max-requests", str(requests), "--run-time", "600s"] if requests else ["--run-time", duration or "10s"]
        )
        if not health:
            command += ["--exclude-tags", "health"]
        for flag, value in (
            ("--rows-file", rows_file), ("--slo-p95-ms", slo_p95_ms), ("--slo-p99-ms", slo_p99_ms),
            ("--slo-error-rate", slo_error_rate), ("--slo-min-rps", slo_min_rps), ("--csv", csv), ("--html", html),
        ):  # fmt: skip
            if value is not None:
                command += [flag, str(value)]
        env["PYTHONUNBUFFERED"] = "1"
        process = subprocess.Popen(command, env=env)
        try:
            code = process.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            fail("the load test did not stop on time and was stopped", EXIT_FAILURE)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
    finally:
        if local is not None:
            local.stop()
    if code != 0:
        raise typer.Exit(EXIT_FAILURE)


def _duration_seconds(text: str) -> float | None:
    """30s, 2m, 1h30m, 45 → seconds; None when it isn't a duration."""
    import re

    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not match or not text.strip():
        return None
    hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + secs
    return float(total) if total > 0 else None


excel_app = typer.Typer(name="excel", help="The Excel add-in: template workbook and key storage.", no_args_is_help=True)
app.add_typer(excel_app)


def _need_excel() -> None:
    try:
        import xlwings  # noqa: F401
    except ImportError:
        fail('the Excel add-in needs the excel extra: pip install "bankscore[excel]"')


@excel_app.command("template")
def excel_template(
    output: Annotated[Path, typer.Option("-o", "--output", help="Workbook to write (.xlsm).")] = Path("bankscore.xlsm"),
) -> None:
    """Write the template workbook: Customers sheet with formulas, Settings sheet, xlwings.conf."""
    _need_excel()
    from .excel.template import TEMPLATE_NAME, build_template

    if output.suffix.lower() != ".xlsm":
        fail(f"{output}: the template is a macro workbook; use a .xlsm name")
    if output.name != TEMPLATE_NAME:
        err.print(f"Note: the button runs `<workbook name>.main()`; keep the name {TEMPLATE_NAME} for it to work.")
    build_template(output)
    out.print(f"Wrote {output}")


@excel_app.command("set-key")
def excel_set_key(
    endpoint: Annotated[
        str | None, typer.Option(help="The scoring URI the key belongs to. Default: BANKSCORE_ENDPOINT.")
    ] = None,
) -> None:
    """Store an endpoint's key in the OS keyring for the add-in (asked for, never on the command line)."""
    _need_excel()
    from .excel.settings import store_key

    endpoint = endpoint or os.environ.get("BANKSCORE_ENDPOINT")
    if not endpoint:
        fail("give --endpoint URL (or set BANKSCORE_ENDPOINT): the key is stored per endpoint")
    key = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt("Key", hide_input=True)
    if not key:
        fail("no key given")
    try:
        store_key(endpoint, key)
    except Exception as exc:  # the keyring backend's own errors: one line, never the key
        fail(f"the OS keyring refused the key ({type(exc).__name__}); use BANKSCORE_KEY or a key file instead")
    out.print(f"Stored the key for {endpoint} in the OS keyring.")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
