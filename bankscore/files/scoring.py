"""Score a whole file in chunks: read ahead, score, write, with one output put into place at the end.

Memory stays bounded by a few chunks whatever the file size, and reading the next chunk overlaps
scoring the current one (the parsers and the model release the GIL for much of their work).
CSV, JSONL and Parquet outputs are journaled (see journal.py): each chunk is written and made
durable as soon as it is scored, so a crash or Ctrl-C loses at most the chunk being scored, and
the same call resumes. XLSX, and journal=False, write behind into a temporary file renamed at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import pandas as pd

from .. import Method
from .._exceptions import APIError, FileFormatError, InputValidationError, Problem
from ..contract import Contract
from ..explanations import BASE_COLUMN, RowExplanation, explained_features, positive_class, to_explanation_frame
from ..validation import MAX_PROBLEMS, Table, to_table
from .formats import DEFAULT_CHUNK_ROWS, file_format, iter_frames, open_writer
from .journal import JOURNALED, Journal, Resumed, output_options
from .streaming import read_ahead, write_behind

if TYPE_CHECKING:
    from .. import ScoringClient

OnRowError = Literal["raise", "column"]
FileProgress = Callable[[int, "int | None"], None]

JOB_MAX_RETRIES: Final = None
"""A file job's batches retry transient failures with no count limit, bounded by time instead:"""
JOB_RETRY_DEADLINE: Final = 600.0
"""seconds one batch may keep retrying, and"""
JOB_PATIENCE: Final = 300.0
"""seconds the job goes on with no batch succeeding anywhere (the endpoint is down, not flaky)."""

READ_AHEAD: Final = 2  # chunks read before they are needed
WRITE_BEHIND: Final = 2  # scored chunks waiting for the writer (unjournaled outputs only)


@dataclass
class FileScore:
    """What a scoring job did: rows scored, rows that failed (with --on-error column), columns not sent."""

    rows: int = 0
    failed: int = 0
    ignored: tuple[str, ...] = ()
    frame: pd.DataFrame | None = None  # the scored table, when no target file was given


def score_file(
    client: ScoringClient,
    source: Path,
    target: Path | None = None,
    *,
    proba: bool = False,
    explain: int | None = None,
    contributions: bool = False,
    on_error: OnRowError = "raise",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: FileProgress | None = None,
    on_ignored: Callable[[tuple[str, ...]], None] | None = None,
    resume: bool = True,
    journal: bool = True,
    on_resume: Callable[[Resumed], None] | None = None,
    max_retries: int | None = JOB_MAX_RETRIES,
    retry_deadline: float | None = JOB_RETRY_DEADLINE,
    patience: float | None = JOB_PATIENCE,
) -> FileScore:
    """Score every row of `source` into `target` (format by extension), or into `FileScore.frame`.

    With on_error="raise" the first invalid chunk stops scoring; the rest of the file is still
    checked so the error lists every bad cell, and no output file is written. With "column",
    bad and failed rows get an `error` text and everything else is scored.

    `explain=K` asks the endpoint to explain each row (see `ScoringClient.explain`) and adds `proba_<positive>`
    and `reason_1..reason_K`; `contributions=True` adds `base_value_log_odds` and one `contribution_<column>`
    per input column too.

    A CSV, JSONL or Parquet target is journaled in `TARGET.partial/` (journal=False: not). A job
    that stopped (crash, Ctrl-C, a failure other than bad input) is continued by the same call:
    only the chunks not yet written are scored, and the output is byte-identical to an uninterrupted
    run; `on_resume` is told how much was already there. A journal started with another input or
    other options is refused (JournalMismatch); resume=False discards any journal and starts over.
    Ctrl-C raises JobInterrupted (a KeyboardInterrupt) once what was written is safe.

    Retries are sized for a job of thousands of requests, not for one: a batch keeps retrying
    transient failures for up to `retry_deadline` seconds (`max_retries` attempts beyond the first;
    None: no count limit), and the job stops when no batch has succeeded for `patience` seconds. A
    client made with `retry_policy=` keeps its own policy.
    """
    job = job_client(client, max_retries=max_retries, retry_deadline=retry_deadline, patience=patience)
    try:
        return _score_file(
            job, source, target, what=_What(proba, explain, contributions), on_error=on_error,
            chunk_rows=chunk_rows, progress=progress, on_ignored=on_ignored, resume=resume, journal=journal,
            on_resume=on_resume,
        )  # fmt: skip
    finally:
        if job is not client:
            job.close()


def _score_file(
    client: ScoringClient,
    source: Path,
    target: Path | None,
    *,
    what: _What,
    on_error: OnRowError,
    chunk_rows: int,
    progress: FileProgress | None,
    on_ignored: Callable[[tuple[str, ...]], None] | None,
    resume: bool,
    journal: bool,
    on_resume: Callable[[Resumed], None] | None,
) -> FileScore:
    contract = client.contract
    result = FileScore()
    book: Journal | None = None
    if target is not None and journal and file_format(target) in JOURNALED:
        options = output_options(
            contract, target, engine="file", on_error=on_error, chunk_rows=chunk_rows, **what.options()
        )
        if not source.is_file():
            raise FileFormatError(f"{source}: no such file")
        book = Journal.open(target, source=source, options=options, endpoint=client.endpoint, resume=resume)
        result.rows, result.failed = book.rows, book.failed
        if book.resumed is not None and book.resumed.rows and on_resume is not None:
            on_resume(book.resumed)
    # Reading and checking run ahead on their own thread, so the next chunk is ready when this one is scored.
    frames = iter_frames(source, types=contract.types, chunk_rows=chunk_rows)
    if book is not None:
        frames = book.skip(frames)
    checked = read_ahead(_check(frames, contract, on_error), READ_AHEAD)
    scored = _score_checked(client, checked, what=what, on_error=on_error, progress=progress, into=result)
    try:
        if target is None:
            parts = list(scored)
            result.frame = pd.concat(parts) if len(parts) > 1 else parts[0]
        elif book is not None:
            _journaled(book, scored)
        else:
            with open_writer(target) as writer, write_behind(writer.write, WRITE_BEHIND) as write:
                for part in scored:
                    write(part)
        if on_ignored is not None and result.ignored:
            on_ignored(result.ignored)
    finally:
        checked.close()
    return result


def job_client(
    client: ScoringClient,
    *,
    max_retries: int | None = JOB_MAX_RETRIES,
    retry_deadline: float | None = JOB_RETRY_DEADLINE,
    patience: float | None = JOB_PATIENCE,
) -> ScoringClient:
    """The client with a job's retry budget: itself when it has that budget already (or its own retry_policy)."""
    options = client.options
    wanted = (max_retries, retry_deadline, patience)
    if options.retry_policy is not None or (options.max_retries, options.deadline, options.patience) == wanted:
        return client
    return client.with_options(max_retries=max_retries, deadline=retry_deadline, patience=patience)


def _journaled(book: Journal, scored: Iterator[pd.DataFrame]) -> None:
    """Each chunk written as soon as it is scored, in this thread: a finished chunk never waits in a queue
    where a kill would lose it. Bad input ends the journal (the input must change, so it can't be resumed);
    any other stop keeps it for the next run."""
    with book.kept(lambda error: isinstance(error, InputValidationError | FileFormatError)):
        for part in scored:
            book.write(part)
        book.finish()


def score_frames(
    client: ScoringClient,
    frames: Iterable[pd.DataFrame],
    *,
    proba: bool = False,
    explain: int | None = None,
    contributions: bool = False,
    on_error: OnRowError = "raise",
    progress: FileProgress | None = None,
    into: FileScore | None = None,
) -> Iterator[pd.DataFrame]:
    """Score chunk after chunk; each comes back with a `prediction` column (and probabilities, reasons, errors)."""
    checked = _check(frames, client.contract, on_error)
    what = _What(proba, explain, contributions)
    return _score_checked(client, checked, what=what, on_error=on_error, progress=progress, into=into)


@dataclass(frozen=True)
class _What:
    """What a file job adds to each row: a label, probabilities, or an explanation (reasons, contributions)."""

    proba: bool = False
    explain: int | None = None
    contributions: bool = False

    def __post_init__(self) -> None:
        if self.explain is not None and self.proba:
            raise ValueError("explain already adds the positive class's probability: don't ask for proba too")
        if self.explain is not None and self.explain < 0:
            raise ValueError("explain=K needs K >= 0 reasons")
        if self.contributions and self.explain is None:
            raise ValueError("contributions come with explain=K (K may be 0)")

    @property
    def method(self) -> Method:
        return "explain" if self.explain is not None else "predict_proba" if self.proba else "predict"

    def options(self) -> dict[str, Any]:
        """What a journal must match to resume (the proba-only form, as journals written before explain)."""
        if self.explain is None:
            return {"proba": self.proba}
        return {"proba": self.proba, "explain": self.explain, "contributions": self.contributions}


@dataclass
class _Checked:
    """One chunk after validation: the table to send, or the problem that stops the job."""

    frame: pd.DataFrame
    table: Table | None = None
    errors: pd.Series | None = None  # per row: why it was not sent (on_error="column")
    problem: InputValidationError | None = None


def _check(frames: Iterable[pd.DataFrame], contract: Contract, on_error: OnRowError) -> Iterator[_Checked]:
    for frame in frames:
        try:
            table = to_table(frame, contract, extra_columns="ignore", max_problems=_cap(frame, on_error))
        except InputValidationError as exc:
            if on_error == "raise" or any(p.row == "*" for p in exc.problems):
                yield _Checked(frame, problem=exc)
                continue
            table, errors = _drop_invalid(frame, exc, contract)
        else:
            errors = pd.Series(None, index=frame.index, dtype=object)
        yield _Checked(frame, table, errors)


def _score_checked(
    client: ScoringClient,
    chunks: Iterator[_Checked],
    *,
    what: _What,
    on_error: OnRowError,
    progress: FileProgress | None,
    into: FileScore | None,
) -> Iterator[pd.DataFrame]:
    result = into if into is not None else FileScore()
    method = what.method
    for chunk in chunks:
        if chunk.problem is not None:
            raise _all_problems(chunk.problem, chunks) from None
        table, errors = chunk.table, chunk.errors
        assert table is not None and errors is not None
        result.ignored = result.ignored or table.ignored
        done = result.rows

        def report(rows: int, _total: int, done: int = done) -> None:
            if progress is not None:
                progress(done + rows, None)

        results = client.score_table(table, method, report, on_error="return" if on_error == "column" else "raise")
        frame = chunk.frame
        out = _attach(frame, table, results, errors, client, what=what, keep_going=on_error == "column")
        result.rows += len(frame)
        result.failed += int(errors.notna().sum())
        if progress is not None:
            progress(result.rows, None)
        yield out


def _cap(frame: pd.DataFrame, on_error: OnRowError) -> int:
    """Every problem when each bad row needs its error text; otherwise the listing's cap."""
    return len(frame) * max(len(frame.columns), 1) if on_error == "column" else MAX_PROBLEMS


def _all_problems(first: InputValidationError, rest: Iterator[_Checked]) -> InputValidationError:
    """Gather the problems of the chunks not yet scored too, so the error names every bad cell in the file."""
    if any(p.row == "*" for p in first.problems):
        return first
    problems: list[Problem] = list(first.problems)
    total = first.total
    for chunk in rest:
        if chunk.problem is not None:
            problems.extend(chunk.problem.problems[: max(0, MAX_PROBLEMS - len(problems))])
            total += chunk.problem.total
    return InputValidationError(problems, total=total, hint=first.hint)


def _drop_invalid(frame: pd.DataFrame, exc: InputValidationError, contract: Contract) -> tuple[Table, pd.Series]:
    errors = pd.Series(None, index=frame.index, dtype=object)
    for problem in exc.problems:
        if pd.isna(errors[problem.row]):
            errors[problem.row] = f"invalid input: {problem}"
    return to_table(frame[errors.isna()], contract, extra_columns="ignore"), errors


def _attach(
    frame: pd.DataFrame,
    table: Table,
    results: list[Any],
    errors: pd.Series,
    client: ScoringClient,
    *,
    what: _What,
    keep_going: bool,
) -> pd.DataFrame:
    scored = frame.copy(deep=False)
    if keep_going:
        for label, outcome in zip(table.index, results, strict=True):
            if isinstance(outcome, APIError):
                errors[label] = f"scoring failed: {outcome}"
    if what.explain is not None:
        _attach_explanations(scored, table, results, client.contract, what)
    elif what.proba:
        ok = [r for r in results if not isinstance(r, APIError)]
        width = len(ok[0]) if ok else 2
        names = client.contract.proba_columns(width)
        matrix = [r if not isinstance(r, APIError) else [None] * width for r in results]
        probabilities = pd.DataFrame(matrix, index=table.index, columns=[f"proba_{n}" for n in names], dtype=float)
        labels = [None if row[0] is None else names[_argmax(row)] for row in matrix]
        scored["prediction"] = pd.Series(labels, index=table.index, dtype=object)
        for column in probabilities.columns:
            scored[column] = probabilities[column]
    else:
        labels = [None if isinstance(r, APIError) else r for r in results] if keep_going else results
        scored["prediction"] = pd.Series(labels, index=table.index, dtype=object)
    if keep_going:
        scored["error"] = errors
    return scored


def _attach_explanations(
    scored: pd.DataFrame, table: Table, results: list[Any], contract: Contract, what: _What
) -> None:
    """prediction, proba_<positive>, reason_1..K (and base + contribution_<column>) into the scored chunk."""
    assert what.explain is not None
    names = explained_features(contract)
    failed = [isinstance(r, APIError) for r in results]
    blank = RowExplanation(None, math.nan, math.nan, [math.nan] * len(names))
    rows = [blank if bad else r for r, bad in zip(results, failed, strict=True)]
    explained = to_explanation_frame(table, rows, names, positive_class(contract), what.explain)
    for k in range(1, what.explain + 1):
        explained.loc[failed, f"reason_{k}"] = None
    scored["prediction"] = explained["prediction"].astype(object)
    positive = f"proba_{positive_class(contract)}"
    scored[positive] = explained[positive]
    for k in range(1, what.explain + 1):
        scored[f"reason_{k}"] = explained[f"reason_{k}"].astype(object)
    if what.contributions:
        scored[BASE_COLUMN] = explained[BASE_COLUMN]
        for name in names:
            scored[f"contribution_{name}"] = explained[name]


def _argmax(values: list[Any]) -> int:
    return max(range(len(values)), key=lambda i: float(values[i]))
