"""Score an Excel range: map its headers to the contract, coerce Excel's types, one call per range, rows cached.

Excel hands over a header row and rows of floats, text, `None` for empty cells and `datetime`
for dates. Everything a user can get wrong here becomes a short text in that row's result cell,
never a traceback or `#VALUE!`, and unchanged rows are answered from a cache instead of the network.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import re
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

import pandas as pd

from .. import Method, ScoringClient
from .._exceptions import APIError, BankscoreError, InputValidationError
from ..contract import Contract
from ..explanations import explained_features, reasons
from ..validation import Table, as_plain, to_table

What = Literal["predict", "proba", "explain"]
Cell = Any
Grid = Sequence[Sequence[Cell]]

CACHE_ROWS: Final = 500_000
CACHE_SECONDS: Final = 15 * 60.0
CACHE_RANGES: Final = 32  # whole-range answers kept, holding no more rows in all than the row cache may
_SEPARATORS: Final = re.compile(r"[\s._\-]+")
MISS: Final = object()  # not in the cache


class RangeError(BankscoreError, ValueError):
    """The range as a whole can't be scored (no header row, a required column missing, ...)."""


def normalise(name: object) -> str:
    """`Emp_Var_Rate`, `emp var rate` and `emp.var.rate` all become `empvarrate`."""
    return _SEPARATORS.sub("", str(name)).casefold()


@dataclass(frozen=True)
class HeaderMap:
    """Which sheet column feeds which contract column."""

    positions: dict[str, int]  # contract column → index in the range's rows
    ignored: tuple[str, ...]  # sheet headers the contract doesn't know


def map_headers(headers: Sequence[Cell], contract: Contract) -> HeaderMap:
    """Exact names first, then case/separator-insensitive ones; ambiguity and gaps are errors."""
    texts = [("" if h is None else str(h).strip()) for h in headers]
    positions: dict[str, int] = {}
    for i, text in enumerate(texts):
        if text in contract.types:
            if text in positions:
                raise RangeError(f"the header {text!r} appears twice (columns {positions[text] + 1} and {i + 1})")
            positions[text] = i
    by_norm: dict[str, list[str]] = {}
    for column in contract.column_names:
        by_norm.setdefault(normalise(column), []).append(column)
    for i, text in enumerate(texts):
        if not text or i in positions.values():
            continue
        candidates = [c for c in by_norm.get(normalise(text), []) if c not in positions]
        if len(candidates) == 1:
            positions[candidates[0]] = i
        elif any(positions.get(c) is not None for c in by_norm.get(normalise(text), [])):
            column = by_norm[normalise(text)][0]
            raise RangeError(f"the headers {texts[positions[column]]!r} and {text!r} both mean {column!r}")
    missing = [c.name for c in contract.columns if c.required and c.name not in positions]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise RangeError(
            f"missing column{'s' if len(missing) > 1 else ''} {shown}: the first row of the range must be the "
            "headers (Sample data writes them)"
        )
    used = set(positions.values())
    ignored = tuple(t for i, t in enumerate(texts) if i not in used and t)
    return HeaderMap(positions, ignored)


def coerce(value: Cell, kind: str, column: str) -> Any:
    """One cell as the contract wants it; raises ValueError with a short reason for the result cell."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{column} is empty")
    if isinstance(value, bool):
        if kind == "boolean":
            return value
        raise ValueError(f"{column}: {value} is not {_WANTED[kind]}")
    if kind == "string":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a code typed as a number: 1 → "1"
        if isinstance(value, datetime | date):
            return value.isoformat()
        return str(value) if not isinstance(value, str) else value.strip()
    if isinstance(value, datetime | date):
        raise ValueError(f"{column}: a date is not {_WANTED[kind]}")
    if isinstance(value, str) and kind in ("int64", "double"):
        # Numbers stored as text read by the SDK's own rules: exact, and never guessing at "1,5" (1.5 or 15?).
        number = as_plain(value, kind)
        if isinstance(number, str):
            separated = any(mark in value for mark in ",'\u00a0")
            hint = " (type it without thousands separators, with a decimal point)" if separated else ""
            raise ValueError(f"{column}: {_short(value)} is not {_WANTED[kind]}{hint}")
        return number
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{column}: {value} is not {_WANTED[kind]}")
        if kind == "int64":
            if not number.is_integer():
                raise ValueError(f"{column}: {value:g} is not a whole number")
            return int(number)
        if kind == "double":
            return value
    if kind == "any":
        return value
    raise ValueError(f"{column}: {_short(value)} is not {_WANTED.get(kind, kind)}")


_WANTED: Final = {"int64": "a whole number", "double": "a number", "string": "text", "boolean": "TRUE or FALSE"}


def _short(value: Any, limit: int = 24) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class RangeMemo:
    """A whole range's answer: valid while its oldest row's answer would still come from the cache."""

    stamp: float  # when the oldest row's answer was cached
    values: tuple[Any, ...]
    answered: int  # rows answered by the endpoint or the cache (no error text)
    failed: int  # rows with an error text from their own cells (endpoint failures are never memoised)
    ignored: tuple[str, ...]


class RowCache:
    """Results by (identity, row values), oldest first out, each kept for a while only.

    A redeployed model behind the same URL and swagger would otherwise keep answering from the
    cache; the time limit bounds how stale an answer can be (clearing the cache ends it at once).
    Beside the rows, the last few whole ranges by digest: recalculating an unchanged range then costs
    one digest, not one key per row. A range answer lives no longer than its oldest row's would.
    """

    def __init__(
        self, max_rows: int = CACHE_ROWS, max_age: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_rows = max_rows
        self.max_age = max_age
        self.max_ranges = CACHE_RANGES
        self._clock = clock
        self._spaces: dict[Hashable, dict[Hashable, tuple[float, Any]]] = {}
        self._ranges: dict[tuple[Hashable, bytes], RangeMemo] = {}
        self._range_rows = 0  # rows in all the kept range answers: bounded by max_rows, as the row cache is
        self._size = 0
        self._lock = threading.Lock()

    def get_many(self, identity: Hashable, keys: Sequence[Hashable]) -> list[Any]:
        """One entry per key: the cached value, or `MISS`."""
        return self.lookup(identity, keys)[0]

    def lookup(self, identity: Hashable, keys: Sequence[Hashable]) -> tuple[list[Any], float]:
        """`get_many`, and when the oldest of the answers found was cached (now if none was)."""
        now = self._clock()
        if self.max_age <= 0:  # Cache minutes 0: nothing is answered from the cache
            return [MISS] * len(keys), now
        oldest = now - self.max_age
        with self._lock:
            space = self._spaces.get(identity)
            if not space:
                return [MISS] * len(keys), now
            found = list(map(space.get, keys))
        fresh = [entry for entry in found if entry is not None and entry[0] >= oldest]
        stamp = min((entry[0] for entry in fresh), default=now)
        return [MISS if entry is None or entry[0] < oldest else entry[1] for entry in found], stamp

    def put_many(self, identity: Hashable, items: dict[Hashable, Any]) -> float:
        """Cache the answers; returns the time they were cached at."""
        now = self._clock()
        with self._lock:
            space = self._spaces.setdefault(identity, {})
            before = len(space)
            for key, value in items.items():
                space.pop(key, None)  # re-inserted: it becomes the newest
                space[key] = (now, value)
            self._size += len(space) - before
            while self._size > self.max_rows:
                victim = min(self._spaces.values(), key=lambda s: next(iter(s.values()))[0] if s else float("inf"))
                if not victim:
                    break
                del victim[next(iter(victim))]
                self._size -= 1
        return now

    def get_range(self, identity: Hashable, digest: bytes) -> RangeMemo | None:
        """The memo of a range with this digest, if every row of it would still be answered from the cache."""
        if self.max_age <= 0:
            return None
        oldest = self._clock() - self.max_age
        with self._lock:
            memo = self._ranges.get((identity, digest))
            if memo is not None and memo.stamp < oldest:
                self._drop_range((identity, digest))
                return None
            return memo

    def put_range(self, identity: Hashable, digest: bytes, memo: RangeMemo) -> None:
        if self.max_age <= 0 or self.max_ranges <= 0 or len(memo.values) > self.max_rows:
            return
        with self._lock:
            self._drop_range((identity, digest))  # re-inserted: it becomes the newest
            self._ranges[identity, digest] = memo
            self._range_rows += len(memo.values)
            while len(self._ranges) > self.max_ranges or self._range_rows > self.max_rows:
                self._drop_range(next(iter(self._ranges)))

    def _drop_range(self, key: tuple[Hashable, bytes]) -> None:
        memo = self._ranges.pop(key, None)
        if memo is not None:
            self._range_rows -= len(memo.values)

    def clear(self) -> None:
        with self._lock:
            self._spaces.clear()
            self._ranges.clear()
            self._range_rows = 0
            self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def ranges(self) -> int:
        """How many whole-range answers are kept."""
        return len(self._ranges)


@dataclass
class RangeResult:
    """One value (or error text) per data row, plus how the rows were answered."""

    header: str
    values: list[Any]
    scored: int = 0  # rows sent to the endpoint
    cached: int = 0  # rows answered from the cache
    failed: int = 0  # rows with an error text
    ignored: tuple[str, ...] = ()

    def column(self) -> list[list[Any]]:
        """The result as Excel wants a spilled column: the header cell, then one cell per row."""
        return [[self.header], *([v] for v in self.values)]

    def reasons(self, top: int) -> list[list[Any]]:
        """An explain result as a spilled block: reason_1..reason_top, then each row's (an error in the first cell)."""
        top = max(1, top)
        block: list[list[Any]] = [[f"reason_{k}" for k in range(1, top + 1)]]
        for value in self.values:
            if isinstance(value, tuple):
                block.append([*value[:top], *([""] * (top - len(value)))])
            else:  # an error text, or "" for a blank row
                block.append([value, *([""] * (top - 1))])
        return block


class ExcelScorer:
    """Scores ranges through one client; identical rows share one cache entry and one request slot."""

    def __init__(self, client: ScoringClient, cache: RowCache | None = None) -> None:
        self.client = client
        self.cache = cache if cache is not None else RowCache()
        self._digest: tuple[Contract, int] | None = None

    def score(self, grid: Grid, what: What = "predict") -> RangeResult:
        contract = self.client.contract
        rows = _rows(grid)
        if not rows:
            raise RangeError("the range is empty: select the header row and the rows to score")
        identity = (self.client.endpoint, self._contract_digest(contract), what)
        digest = _digest(rows)
        memo = self.cache.get_range(identity, digest) if digest is not None else None
        if memo is not None:
            header = _header(what, contract)
            return RangeResult(header, list(memo.values), 0, memo.answered, memo.failed, memo.ignored)
        headers, data = rows[0], rows[1:]
        mapping = map_headers(headers, contract)
        positive = _positive_class(contract) if what == "proba" else ""
        header = _header(what, contract)
        values: list[Any] = [""] * len(data)
        result = RangeResult(header, values, ignored=mapping.ignored)
        keys, errors = _coerce_rows(data, mapping, contract)
        for i, message in errors.items():
            values[i] = f"error: {message}"
        result.failed = len(errors)
        order = list(keys)
        hits, stamp = self.cache.lookup(identity, [keys[i] for i in order])
        pending: dict[tuple[Any, ...], list[int]] = {}
        for i, hit in zip(order, hits, strict=True):
            if hit is MISS:
                pending.setdefault(keys[i], []).append(i)
            else:
                values[i] = hit
                result.cached += 1
        endpoint_failed = 0
        if pending:
            answers = self._score_rows(list(pending), contract, what, positive)
            fresh: dict[Hashable, Any] = {}
            for key, answer in zip(pending, answers, strict=True):
                for i in pending[key]:
                    values[i] = answer
                if isinstance(answer, str) and answer.startswith("error: "):
                    endpoint_failed += len(pending[key])
                else:
                    fresh[key] = answer
                    result.scored += len(pending[key])
            result.failed += endpoint_failed
            put = self.cache.put_many(identity, fresh)
            stamp = min(stamp, put)
        if digest is not None and not endpoint_failed:  # a failed row is retried next time, so never memoised
            answered = result.scored + result.cached
            memo = RangeMemo(stamp, tuple(values), answered, result.failed, mapping.ignored)
            self.cache.put_range(identity, digest, memo)
        return result

    def _contract_digest(self, contract: Contract) -> int:
        """Hashing the contract costs; it is the same object for the client's life, so hash it once."""
        if self._digest is None or self._digest[0] is not contract:
            self._digest = (contract, hash(contract))
        return self._digest[1]

    def _score_rows(self, keys: list[tuple[Any, ...]], contract: Contract, what: What, positive: str) -> list[Any]:
        names = contract.column_names
        records = [{n: v for n, v in zip(names, key, strict=True) if v is not None} for key in keys]
        answers: list[Any] = [None] * len(records)
        try:
            table = to_table(records, contract, extra_columns="ignore", max_problems=len(records) * len(names))
        except InputValidationError as exc:  # what coercion let through (an int beyond int64, ...)
            bad: dict[int, str] = {}
            for problem in exc.problems:
                if isinstance(problem.row, int):
                    bad.setdefault(problem.row, f"error: {problem.column}: {problem.expected}")
            if not bad:
                raise
            for i, text in bad.items():
                answers[i] = text
            keep = [i for i in range(len(records)) if i not in bad]
            table = to_table([records[i] for i in keep], contract, extra_columns="ignore")
            table.index = pd.Index(keep)
        methods: dict[What, Method] = {"predict": "predict", "proba": "predict_proba", "explain": "explain"}
        method = methods[what]
        results = self.client.score_table(table, method, on_error="return")
        classes = list(contract.class_names() or ())
        ranked = _ranked_reasons(table, results, contract) if what == "explain" else []
        for j, (i, outcome) in enumerate(zip(table.index, results, strict=True)):
            if isinstance(outcome, APIError):
                answers[i] = f"error: {_one_line(outcome)}"
            elif what == "explain":
                answers[i] = ranked[j]  # every reason, largest first: any K is a slice of the cached answer
            elif what == "predict":
                answers[i] = outcome
            else:
                answers[i] = float(outcome[classes.index(positive)] if positive in classes else outcome[-1])
        return answers


def _ranked_reasons(table: Table, results: list[Any], contract: Contract) -> list[tuple[str, ...]]:
    """Each row's reasons, all of them, largest |contribution| first (rows that failed get none)."""
    import numpy as np

    names = explained_features(contract)
    matrix = np.asarray(
        [r.contributions if not isinstance(r, APIError) else [0.0] * len(names) for r in results], dtype=np.float64
    ).reshape(len(results), len(names))
    slots = reasons(table, matrix, names, len(names))
    return [tuple(slot[row] for slot in slots) for row in range(len(results))]


def _coerce_rows(
    data: Sequence[Sequence[Cell]], mapping: HeaderMap, contract: Contract
) -> tuple[dict[int, tuple[Any, ...]], dict[int, str]]:
    """Row keys (contract order, coerced) and per-row error texts; blank rows get neither.

    Column by column with C-speed checks for the usual case (numbers as floats, clean text), and
    cell by cell only in a column that needs it: a 10,000-row range costs milliseconds.
    """
    n = len(data)
    width = max((len(r) for r in data), default=0)
    if any(len(r) != width for r in data):
        data = [[*r, *([None] * (width - len(r)))] for r in data]
    sheet_columns = list(zip(*data, strict=True)) if data else []
    holes: set[int] = set()
    for column in sheet_columns:
        if None in column or "" in column:
            holes.update(i for i, v in enumerate(column) if v is None or v == "")
    blank = {i for i in holes if all(v is None or v == "" for v in data[i])}
    errors: dict[int, str] = {}
    coerced: list[Sequence[Any]] = []
    for spec in contract.columns:
        position = mapping.positions.get(spec.name)
        if position is None:
            coerced.append([None] * n)
            continue
        values = sheet_columns[position] if position < width else (None,) * n
        fast = _coerce_column(values, spec.type)
        if fast is not None:
            coerced.append(fast)
            continue
        out: list[Any] = []
        for i, value in enumerate(values):
            try:
                out.append(coerce(value, spec.type, spec.name))
            except ValueError as exc:
                out.append(None)
                if i not in blank:
                    errors.setdefault(i, str(exc))
        coerced.append(out)
    keys = {i: key for i, key in enumerate(zip(*coerced, strict=True)) if i not in errors and i not in blank}
    return keys, errors


def _coerce_column(values: Sequence[Cell], kind: str) -> list[Any] | None:
    """The whole column at once when every cell is already clean; None sends it cell by cell."""
    found = set(map(type, values))
    if kind == "int64" and found <= {float, int}:
        if all(map(float.is_integer, map(float, values))):  # False for NaN and infinities too
            return list(map(int, values))
    elif kind == "double" and found <= {float, int}:
        if all(map(math.isfinite, values)):
            return list(values)
    elif kind == "string" and found == {str}:
        stripped = list(map(str.strip, values))
        if all(stripped):
            return stripped
    return None


def _digest(rows: Sequence[Sequence[Cell]], chunk: int = 10_000) -> bytes | None:
    """The range's cells (values and types: TRUE is not 1) as 16 bytes, or None for cells that won't pickle.

    Pickle is lossless for Excel's types and each pickle ends itself, so equal digests mean equal
    ranges (bar a 2^-128 chance); it runs at C speed, where keying 10,000 rows one by one costs far
    more. In chunks, so a million-row range never holds its whole pickle in memory.
    """
    digest = hashlib.blake2b(digest_size=16)
    try:
        for start in range(0, len(rows), chunk):
            digest.update(pickle.dumps(rows[start : start + chunk], protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # an exotic cell: the per-row path judges it
        return None
    return digest.digest()


def _header(what: What, contract: Contract) -> str:
    if what == "proba":
        return f"proba_{_positive_class(contract)}"
    return {"predict": "prediction", "explain": "reason_1"}[what]


def _rows(grid: Grid) -> list[Sequence[Cell]]:
    """A 2-D list as Excel passes it (a single row may arrive 1-D); rows are not copied."""
    if not grid:
        return []
    if not isinstance(grid[0], list | tuple):
        return [list(grid)]
    return list(grid)


def _at(row: Sequence[Cell], position: int | None) -> Cell:
    return row[position] if position is not None and position < len(row) else None


def _positive_class(contract: Contract) -> str:
    classes = contract.class_names()
    return str(classes[-1]) if classes else "1"


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
