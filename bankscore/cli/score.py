"""`bankscore score`: every row of a file, streamed through the endpoint into an output file (or a table)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.table import Table

from ._app import EXIT_FAILURE, OnErrorChoice, err, fail, out

if TYPE_CHECKING:
    from .. import ClientStats
    from ..files import JobInterrupted, Resumed

from ..credentials import is_loopback
from ._endpoint import AuthChoice, AuthOption, EndpointOption, KeyFileOption, SwaggerOption, one_line, scoring_client

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def _import_lightgbm_lean() -> None:
    """Import lightgbm without scikit-learn, before the embedded endpoint loads a LightGBM model.

    The endpoint only calls lightgbm's Booster; lightgbm imports scikit-learn (and SciPy) for its
    scikit-learn API whenever it is installed, about a second of every run's start. Nothing in this
    command uses that API, so scikit-learn is hidden while lightgbm is imported, and only then.
    """
    import importlib.util

    if "lightgbm" in sys.modules or "sklearn" in sys.modules or importlib.util.find_spec("lightgbm") is None:
        return
    try:  # the cached default model; one not trained yet is trained with the full lightgbm
        from ..server.model import MODEL_FILE
        from ..server.runner import SYNTHETIC_MODEL, cache_dir

        described = (cache_dir() / "models" / SYNTHETIC_MODEL / MODEL_FILE).read_text(encoding="utf-8")
    except (ImportError, OSError, UnicodeDecodeError):
        return  # no server extra: the endpoint's own start says so, as it always has
    if '"lightgbm"' not in described:
        return  # a linear model needs no lightgbm at all
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # an import of it raises ImportError
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        pass  # the endpoint reports a broken install the way it always has
    finally:
        del sys.modules["sklearn"]


def score(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV, Parquet, XLSX or JSONL file of rows.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here (format by extension). Default: stdout.")
    ] = None,
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    auth: AuthOption = AuthChoice.key,
    swagger: SwaggerOption = None,
    proba: Annotated[bool, typer.Option("--proba", help="Add one probability column per class.")] = False,
    explain: Annotated[
        int | None,
        typer.Option(
            "--explain",
            metavar="K",
            help="Add why each row scores as it does: proba_<positive class> and reason_1..reason_K, its K largest "
            "contributions as text (the endpoint must explain: bankscore serve, or an AutoML explainer deployment).",
            min=0,
        ),
    ] = None,
    contributions: Annotated[
        bool,
        typer.Option(
            "--contributions",
            help="With --explain: also base_value_log_odds and one contribution_<column> per input column.",
        ),
    ] = False,
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
    max_retries: Annotated[
        int | None,
        typer.Option(
            help="Retries per batch for transient failures. Default: no count limit, only --retry-deadline.", min=0
        ),
    ] = None,
    retry_deadline: Annotated[
        float, typer.Option(help="Seconds one batch may keep retrying transient failures (429, 5xx, resets).", min=0.1)
    ] = 600.0,
    patience: Annotated[
        float,
        typer.Option(help="Seconds the job goes on while no batch succeeds anywhere (the endpoint is down).", min=0.1),
    ] = 300.0,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Discard the journal of an interrupted run (OUTPUT.partial) and score from the start."
        ),
    ] = False,
    no_journal: Annotated[
        bool,
        typer.Option(
            "--no-journal",
            help="Don't keep OUTPUT.partial while scoring: faster on slow disks, but a stopped run starts over.",
        ),
    ] = False,
) -> None:
    """Score every row of a file; adds a prediction column (and probabilities with --proba).

    A CSV, JSONL or Parquet output is journaled in OUTPUT.partial as it is written: if the run
    stops (a crash, Ctrl-C, the endpoint failing), the same command again continues where it
    stopped and writes the same file an uninterrupted run would.
    """
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    from ..files import FileFormatError, JobInterrupted, file_format
    from ..files.scoring import score_file

    try:
        if output is not None:
            file_format(output)
        file_format(input_path)
    except FileFormatError as exc:
        fail(str(exc))
    if not input_path.is_file():
        fail(f"{input_path}: no such file")
    if explain is not None and proba:
        fail("--explain already adds the positive class's probability; drop --proba")
    if contributions and explain is None:
        fail("--contributions come with --explain K (K may be 0)")
    given: dict[str, Any] = {"batch_rows": batch_rows, "concurrency": concurrency, "timeout": timeout}
    options = {name: value for name, value in given.items() if value is not None}
    options |= {"max_retries": max_retries, "deadline": retry_deadline, "patience": patience}
    if dask is not None:
        _score_on_dask(
            input_path, output, dask, dask_workers, endpoint, key_file, swagger, proba, on_error, options,
            restart=restart, no_journal=no_journal, auth=auth, explain=explain, contributions=contributions,
        )  # fmt: skip
        return
    if endpoint is None:
        _import_lightgbm_lean()
    with scoring_client(endpoint, key_file, swagger, auth=auth, **options) as client:
        contract = client.contract
        with Progress(
            TextColumn("Scoring"),
            TextColumn("{task.completed:,} rows"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[health]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("score", total=None, rate="", health="")
            started = time.monotonic()

            def progress(done: int, _total: int | None) -> None:
                rate = done / max(time.monotonic() - started, 1e-9)
                bar.update(task, completed=done, rate=f"{rate:,.0f} rows/s", health=health_line(client.stats))

            def resuming(found: Resumed) -> None:
                _resuming(found)
                bar.update(task, completed=found.rows)

            try:
                result = score_file(
                    client,
                    input_path,
                    output,
                    proba=proba,
                    explain=explain,
                    contributions=contributions,
                    on_error="column" if on_error is OnErrorChoice.column else "raise",
                    chunk_rows=chunk_rows,
                    progress=progress,
                    on_ignored=lambda names: err.print(
                        f"Not sent (not in the contract), kept in the output: {', '.join(names)}"
                    ),
                    resume=not restart,
                    journal=not no_journal,
                    on_resume=resuming,
                    max_retries=max_retries,
                    retry_deadline=retry_deadline,
                    patience=patience,
                )
            except FileFormatError as exc:
                fail(str(exc))
            except JobInterrupted as stopped:
                bar.stop()
                _interrupted(stopped)
        if result.frame is not None:
            _print_table(result.frame, contract.column_names)
        else:
            err.print(f"Wrote {result.rows:,} rows to {output}")
    if result.failed:
        fail(f"{result.failed:,} of {result.rows:,} rows failed; see the error column", EXIT_FAILURE)


def _resuming(found: Resumed) -> None:
    err.print(f"resuming: {found.rows:,} rows already written ({found.journal.name}); --restart to start over instead")
    if found.endpoint_was is not None:
        err.print(f"note: those rows were scored by {found.endpoint_was}")


def _interrupted(stopped: JobInterrupted) -> NoReturn:
    """Ctrl-C: what was written is safe in the journal; say how to go on, and stop (exit 130)."""
    err.print(
        f"interrupted: {stopped.rows:,} rows written are kept in {stopped.journal}; "
        f"to resume, run the same command again:\n  {_same_command()}"
    )
    _exit_now_if_senders_linger()
    raise typer.Exit(EXIT_INTERRUPTED) from None


def _exit_now_if_senders_linger() -> None:
    """After Ctrl-C the journal is safe on disk, but sender threads may still wait on requests held on the wire
    (up to --timeout): Python would wait for them before exiting. Exit at once instead, as the user asked."""
    import os
    import threading

    lingering = [t for t in threading.enumerate() if t.is_alive() and not t.daemon and t is not threading.main_thread()]
    if lingering:
        sys.stdout.flush()
        sys.stderr.flush()
        err.file.flush()
        os._exit(EXIT_INTERRUPTED)


def health_line(stats: ClientStats) -> str:
    """What the progress bar says of the endpoint: retries so far and the in-flight limit AIMD has settled on."""
    retries = f"{stats.retries:,} retr{'y' if stats.retries == 1 else 'ies'}"
    throttled = (
        f" ({stats.rate_limited:,} × 429, {stats.unavailable:,} × 503)"
        if stats.rate_limited or stats.unavailable
        else ""
    )
    return f"{retries}{throttled} · {stats.limit}/{stats.concurrency} in flight"


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
    *,
    restart: bool = False,
    no_journal: bool = False,
    auth: AuthChoice = AuthChoice.key,
    explain: int | None = None,
    contributions: bool = False,
) -> None:
    from .._extras import check

    check("dask", "--dask")
    if output is None:
        fail("--dask writes a file: give -o OUTPUT")
    from urllib.parse import urlsplit

    from ..files import FileFormatError, JobInterrupted

    # A scheduler on this machine's loopback runs its workers here too: they reach a loopback endpoint.
    remote = scheduler != "local" and not is_loopback(urlsplit(scheduler).hostname or "")
    with scoring_client(endpoint, key_file, swagger, auth=auth, share_key=True, **options) as client:
        if remote and client.endpoint.startswith(("http://127.0.0.1", "http://localhost")):
            fail("a remote Dask cluster can't reach an endpoint on this machine's loopback; give --endpoint URL")
        from ..integrations.dask import PartitionError  # after the refusals: dask.dataframe takes a while to import
        from ..integrations.dask import score_file as score_on_cluster

        started = time.monotonic()
        try:
            result = score_on_cluster(
                input_path,
                output,
                scheduler=scheduler,
                workers=workers,
                proba=proba,
                explain=explain,
                contributions=contributions,
                on_error="column" if on_error is OnErrorChoice.column else "raise",
                endpoint=client.endpoint,
                swagger=swagger,
                key_file=str(key_file) if key_file else None,
                auth=auth.value,
                resume=not restart,
                journal=not no_journal,
                on_resume=_resuming,
                **{k: v for k, v in options.items() if k != "concurrency"},
            )
        except JobInterrupted as stopped:
            _interrupted(stopped)
        except PartitionError as exc:
            from .._exceptions import InputValidationError

            if isinstance(exc.error, InputValidationError):
                fail(f"partition {exc.partition}: {one_line(exc.error)}")
            fail(str(exc).splitlines()[0], EXIT_FAILURE)
        except FileFormatError as exc:
            fail(str(exc))
        rate = result.rows / max(time.monotonic() - started, 1e-9)
        err.print(f"Wrote {result.rows:,} rows to {output} ({rate:,.0f} rows/s on Dask {scheduler})")
    if result.failed:
        fail(f"{result.failed:,} of {result.rows:,} rows failed; see the error column", EXIT_FAILURE)


def _same_command() -> str:
    """This command line as the user typed it (no key is ever on it), without --restart."""
    import os
    import shlex
    import subprocess

    words = ["bankscore", *(w for w in sys.argv[1:] if w != "--restart")]
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


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
    result_columns = [c for c in columns if c in ("prediction", "error") or str(c).startswith(("proba_", "reason_"))]
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
