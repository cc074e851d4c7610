"""Score a Dask DataFrame across a cluster: `bankscore.integrations.dask.predict(ddf, endpoint=...)`.

Each partition is scored on the worker that holds it, by a client that worker builds once and
reuses. Only options travel in the task graph: the key is read on the worker from its own
environment (`BANKSCORE_KEY`) or a key file, and with `auth="entra"` each worker builds its own
DefaultAzureCredential from its environment, so no key or token is ever pickled. The contract is fetched
once here and shipped with the options, so workers don't each fetch the swagger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from .. import Method, ScoringClient
from .._exceptions import APIError, BankscoreError, FileFormatError, InputValidationError
from .._extras import require
from ..contract import Contract
from ..files.formats import file_format, open_writer, restore_numbers
from ..files.journal import JOURNALED, Journal, Resumed, output_options
from ..files.scoring import FileScore, OnRowError, score_frames

if TYPE_CHECKING:
    import dask.dataframe as dd
else:
    dd = require("dask.dataframe", "dask", "Scoring on Dask")

PER_WORKER_CONCURRENCY: Final = 4  # requests in flight per partition being scored


class PartitionError(BankscoreError):
    """Scoring one partition failed; says which partition, and which rows when the rows were the problem."""

    def __init__(self, partition: int | None, error: BankscoreError) -> None:
        self.partition = partition
        self.error = error
        where = f"partition {partition}" if partition is not None else "a partition"
        super().__init__(f"{where}: {error}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.partition, self.error))  # it travels from a worker to the caller


@dataclass(frozen=True)
class _Scorer:
    """The picklable half: client options and the contract, never a key.

    Scores one partition on a worker: labels (predict), probabilities (predict_proba), or with
    `file_chunk` the same scored chunk `bankscore score` writes out (prediction, probabilities, error).
    """

    options: tuple[tuple[str, Any], ...]
    contract: Contract
    method: Method = "predict"
    file_chunk: bool = False
    on_error: OnRowError = "raise"
    endpoint: str = ""  # where the contract came from, for a journal's manifest (never credentials)
    explain: int | None = None  # reasons per row (method "explain")
    contributions: bool = False

    def __call__(self, part: pd.DataFrame, partition_info: dict[str, Any] | None = None) -> Any:
        number = partition_info.get("number") if partition_info else None
        client = _worker_client(self.options, self.contract)
        part = restore_numbers(part.copy(deep=False), self.contract.types)
        try:
            if self.file_chunk:
                proba = self.method == "predict_proba"
                chunk = score_frames(
                    client, [part], proba=proba, explain=self.explain, contributions=self.contributions,
                    on_error=self.on_error,
                )  # fmt: skip
                return next(chunk)
            if self.method == "predict":
                return client.predict(part, extra_columns="ignore").astype(object)
            if self.method == "explain":
                return client.explain(part, self.explain or 0, extra_columns="ignore")
            return client.predict_proba(part, extra_columns="ignore")
        except (InputValidationError, APIError) as exc:
            raise PartitionError(number, exc) from None


_CLIENTS: dict[tuple[tuple[str, Any], ...], ScoringClient] = {}
_CLIENTS_LOCK = threading.Lock()


def _worker_client(options: tuple[tuple[str, Any], ...], contract: Contract) -> ScoringClient:
    """One client per worker process and options: connections are reused across partitions."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(options)
        if client is None:
            # The contract fetched on the caller replaces any swagger source: workers never fetch it again.
            client = ScoringClient(**{**_client_kwargs(dict(options)), "swagger": contract})
            _CLIENTS[options] = client
        return client


def _client_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """ScoringClient's keywords from the options that travelled: `auth="entra"` becomes this process's credential."""
    auth = options.pop("auth", "key")
    if auth == "entra":
        from ..credentials import default_azure_credential

        options["credential"] = default_azure_credential()
    elif auth != "key":
        raise ValueError(f"auth must be 'key' or 'entra', not {auth!r}")
    return options


def _scorer(client_options: dict[str, Any], method: Method) -> _Scorer:
    if "key" in client_options or "secondary_key" in client_options:
        raise TypeError(
            "don't pass key= to bankscore.integrations.dask: it would travel inside the task graph to every worker; "
            "set BANKSCORE_KEY in the workers' environment or pass key_file= (a path they can read)"
        )
    if "credential" in client_options:
        raise TypeError(
            "don't pass credential= to bankscore.integrations.dask: credentials don't travel to workers; pass "
            'auth="entra" and each worker builds DefaultAzureCredential from its own environment'
        )
    client_options.setdefault("concurrency", PER_WORKER_CONCURRENCY)
    for name, value in client_options.items():
        if isinstance(value, dict | list):
            raise TypeError(f"{name}= must be a plain value (a path or URL for swagger) to travel to the workers")
    with ScoringClient(**_client_kwargs(dict(client_options))) as here:  # fetch the contract once, here
        contract, endpoint = here.contract, here.endpoint
    options = tuple(sorted(client_options.items()))
    return _Scorer(options, contract, method, endpoint=endpoint)


def predict(ddf: dd.DataFrame, **client_options: Any) -> dd.Series:
    """One label per row, as a Dask Series aligned to `ddf` (named "prediction").

    `client_options` are ScoringClient's (endpoint, swagger, key_file, timeout, batch_rows,
    concurrency per partition, ...); the key comes from each worker's BANKSCORE_KEY or key_file, or
    `auth="entra"` has each worker get Entra tokens from its own environment.
    """
    scorer = _scorer(dict(client_options), "predict")
    meta = pd.Series([], dtype=object, name="prediction")
    frame: Any = ddf  # dask's collections are untyped
    series: dd.Series = frame.map_partitions(scorer, meta=meta)
    return series


def predict_proba(ddf: dd.DataFrame, **client_options: Any) -> dd.DataFrame:
    """One probability column per class, as a Dask DataFrame aligned to `ddf`."""
    scorer = _scorer(dict(client_options), "predict_proba")
    classes = scorer.contract.proba_columns(2)
    meta = pd.DataFrame({name: pd.Series([], dtype="float64") for name in classes})
    frame: Any = ddf
    probabilities: dd.DataFrame = frame.map_partitions(scorer, meta=meta)
    return probabilities


def explain(ddf: dd.DataFrame, top: int = 3, **client_options: Any) -> dd.DataFrame:
    """`ScoringClient.explain` across a cluster: prediction, P(positive), base, contributions and reasons per row,
    as a Dask DataFrame aligned to `ddf`."""
    from ..explanations import BASE_COLUMN, explained_features, positive_class

    scorer = replace(_scorer(dict(client_options), "explain"), explain=top)
    contract = scorer.contract
    columns: dict[str, Any] = {
        "prediction": pd.Series([], dtype=object),
        f"proba_{positive_class(contract)}": pd.Series([], dtype="float64"),
        BASE_COLUMN: pd.Series([], dtype="float64"),
    }
    columns |= {name: pd.Series([], dtype="float64") for name in explained_features(contract)}
    columns |= {f"reason_{k}": pd.Series([], dtype=object) for k in range(1, top + 1)}
    frame: Any = ddf
    explained: dd.DataFrame = frame.map_partitions(scorer, meta=pd.DataFrame(columns))
    return explained


def iter_computed(collection: Any, client: Any, window: int = 4, start: int = 0) -> Any:
    """Partitions of a Dask collection computed in parallel and yielded in order, for writing one output.

    At most `window` partitions are in flight or waiting to be written, so memory stays bounded on the
    workers and here whatever the number of partitions. Earlier partitions get a higher priority, a hint
    so the next one to write is rarely left waiting (a cluster may still start those in flight in any order).
    `start` skips the partitions already written (a resumed journal); they are never computed.
    """
    parts = collection.to_delayed()[start:]
    count = len(parts)
    pending: list[Any] = []
    queue = iter(enumerate(parts))

    def submit(index: int, part: Any) -> None:
        pending.append(client.compute(part, priority=count - index))

    for index, part in queue:
        submit(index, part)
        if len(pending) >= window:
            break
    try:
        while pending:
            future = pending.pop(0)
            result = future.result()
            future.release()
            following = next(queue, None)
            if following is not None:
                submit(*following)
            yield result
    finally:
        for future in pending:  # stopped early (an error, Ctrl-C): don't leave work running on the cluster
            future.cancel()


# ------------------------------------------------------------------------------------------- whole files


def score_file(
    source: Any,
    target: Any,
    *,
    scheduler: str = "local",
    proba: bool = False,
    explain: int | None = None,
    contributions: bool = False,
    on_error: str = "raise",
    blocksize: str = "8MB",
    workers: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    resume: bool = True,
    journal: bool = True,
    on_resume: Callable[[Resumed], None] | None = None,
    **client_options: Any,
) -> Any:
    """`bankscore score --dask ...`: read `source` as partitions, score them on the cluster, write one `target`.

    Partitions are computed in parallel and written in order, as they come back, so the output is
    the same file a single process writes. `scheduler` is "local" (a LocalCluster of worker
    processes on this machine, bound to 127.0.0.1) or a scheduler address such as tcp://host:8786.
    Retries have a file job's budget (see `bankscore.files.score_file`) unless `client_options` say otherwise.

    A CSV, JSONL or Parquet target is journaled in `TARGET.partial/` one partition per chunk, as
    `bankscore.files.score_file` journals its chunks (journal=False: not): the same call after a
    crash, Ctrl-C or a failed job computes only the partitions not yet written, and the output is
    byte-identical to an uninterrupted run. Another input, other options (blocksize included) or a
    journal left by a run without Dask is refused (JournalMismatch); resume=False starts over.
    Ctrl-C raises JobInterrupted once what was written is safe.
    """
    from pathlib import Path

    from ..files.scoring import JOB_MAX_RETRIES, JOB_PATIENCE, JOB_RETRY_DEADLINE

    source, target = Path(source), Path(target)
    # A file job's retry budget, as in one process: bounded by time per batch and by the job's patience.
    budget = {"max_retries": JOB_MAX_RETRIES, "deadline": JOB_RETRY_DEADLINE, "patience": JOB_PATIENCE}
    if "retry_policy" not in client_options:
        client_options = {**budget, **client_options}
    from ..files.scoring import _What

    what = _What(proba, explain, contributions)
    scorer = _scorer(dict(client_options), what.method)
    errors = on_error == "column"
    file_scorer = replace(
        scorer, file_chunk=True, on_error="column" if errors else "raise", explain=explain, contributions=contributions
    )
    frame = _read(source, scorer.contract, blocksize)
    book: Journal | None = None
    if journal and file_format(target) in JOURNALED:
        # The partitions are the journal's chunks: they follow from the input and the blocksize, and
        # their count is recorded too, so a Dask that cuts the same file differently is refused, not mixed.
        options = output_options(
            scorer.contract, target, engine="dask", on_error="column" if errors else "raise",
            blocksize=blocksize, partitions=frame.npartitions, **what.options(),
        )  # fmt: skip
        book = Journal.open(target, source=source, options=options, endpoint=scorer.endpoint, resume=resume)
        if book.resumed is not None and book.resumed.rows and on_resume is not None:
            on_resume(book.resumed)
    cluster_api: Any = require("distributed", "dask", "Scoring on a Dask cluster")  # untyped
    result = FileScore()
    if book is not None:
        result.rows, result.failed = book.rows, book.failed
        if progress is not None and result.rows:
            progress(result.rows, None)
    cluster = None
    try:
        if scheduler == "local":
            cluster = cluster_api.LocalCluster(
                n_workers=workers or 2,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.CRITICAL,  # a failed partition is reported once, as our error, not as worker logs
            )
        with cluster_api.Client(cluster if cluster is not None else scheduler) as dask_client:
            meta = _scored_meta(frame, scorer.contract, what, errors)
            scored: Any = frame.map_partitions(file_scorer, meta=meta)
            computed = iter_computed(scored, dask_client, start=len(book.chunks) if book is not None else 0)
            parts = _counted(computed, result, progress)
            try:
                if book is not None:
                    _journaled(book, parts, source)
                else:
                    with open_writer(target) as writer:
                        for part in parts:
                            writer.write(part)
                        if not result.rows:  # inside the writer: no empty output is left behind
                            raise FileFormatError(f"{source.name} has no data rows")
            finally:
                computed.close()  # cancels what is still in flight, while the cluster is still there
    finally:
        if cluster is not None:
            cluster.close()
    return result


def _counted(parts: Iterator[pd.DataFrame], result: FileScore, progress: Any) -> Iterator[pd.DataFrame]:
    for part in parts:
        result.rows += len(part)
        if "error" in part.columns:
            result.failed += int(part["error"].notna().sum())
        if progress is not None:
            progress(result.rows, None)
        yield part


def _journaled(book: Journal, parts: Iterator[pd.DataFrame], source: Any) -> None:
    """Each partition journaled as it comes back, in order. Bad input ends the journal (the input must
    change, so it can't be resumed); any other stop keeps it for the next run, as in one process."""

    def unresumable(error: BaseException) -> bool:
        bad_rows = isinstance(error, PartitionError) and isinstance(error.error, InputValidationError)
        return bad_rows or isinstance(error, FileFormatError)

    with book.kept(unresumable):
        for part in parts:
            book.write(part)
        if not book.chunks:
            raise FileFormatError(f"{source.name} has no data rows")
        book.finish()


def _read(source: Any, contract: Contract, blocksize: str) -> Any:
    fmt = file_format(source)
    # Every contract column as text: Dask fixes dtypes from the first block, so a bad cell later on
    # would fail the read; each partition's numbers are restored before it is scored.
    text = {c.name: "object" for c in contract.columns}
    if fmt == "csv":
        return dd.read_csv(str(source), blocksize=blocksize, dtype=text, keep_default_na=False, na_values=[""])
    if fmt == "parquet":
        return dd.read_parquet(str(source))
    if fmt == "jsonl":
        return dd.read_json(str(source), lines=True, blocksize=blocksize, dtype=text)
    raise FileFormatError(f"{source.name}: --dask reads CSV, Parquet and JSONL; score an {fmt} file without --dask")


def _scored_meta(frame: Any, contract: Contract, what: Any, errors: bool) -> pd.DataFrame:
    from ..explanations import BASE_COLUMN, explained_features, positive_class

    meta: pd.DataFrame = frame._meta.copy()
    meta["prediction"] = pd.Series([], dtype=object)
    if what.proba:
        for name in contract.proba_columns(2):
            meta[f"proba_{name}"] = pd.Series([], dtype="float64")
    if what.explain is not None:
        meta[f"proba_{positive_class(contract)}"] = pd.Series([], dtype="float64")
        for k in range(1, what.explain + 1):
            meta[f"reason_{k}"] = pd.Series([], dtype=object)
        if what.contributions:
            meta[BASE_COLUMN] = pd.Series([], dtype="float64")
            for name in explained_features(contract):
                meta[f"contribution_{name}"] = pd.Series([], dtype="float64")
    if errors:
        meta["error"] = pd.Series([], dtype=object)
    return meta
