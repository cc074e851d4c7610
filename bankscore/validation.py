"""Check rows against the contract before anything is sent, column by column.

Every input form (DataFrame, list of dicts, list of row models) becomes plain column lists
first; the checks then run once per column with C-speed type-set tests, and the row-by-row
search for offenders runs only when a column is already known to be bad. pandas is imported
on first use, not with the package.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from ._exceptions import InputValidationError, Problem
from ._types import ExtraColumns
from .contract import Contract

if TYPE_CHECKING:
    import pandas as pd

    from ._types import Rows

_MISSING = object()
_EXPECTED = {
    "int64": "a whole number",
    "double": "a number",
    "string": "text",
    "boolean": "true or false",
    "any": "a value",
}
MAX_PROBLEMS = 1_000


@dataclass
class Table:
    """Rows as contract-ordered column lists, plus the labels used to name rows in errors and results."""

    columns: dict[str, list[Any]]
    n_rows: int
    index: pd.Index
    ignored: tuple[str, ...] = ()

    def slice(self, start: int, stop: int) -> Table:
        return Table({k: v[start:stop] for k, v in self.columns.items()}, stop - start, self.index[start:stop])


def to_table(
    rows: Rows, contract: Contract, *, extra_columns: ExtraColumns = "error", max_problems: int = MAX_PROBLEMS
) -> Table:
    """Normalise any accepted input, then validate it; raises InputValidationError listing every problem."""
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        table = _from_frame(rows, contract, extra_columns)
    elif _not_rows(rows):
        raise TypeError(f"rows must be a DataFrame, a list of dicts or a list of row models, not {type(rows).__name__}")
    else:
        table = _from_records(list(rows), contract, extra_columns)
    validate(table, contract, max_problems=max_problems)
    return table


def _from_frame(frame: pd.DataFrame, contract: Contract, extra_columns: ExtraColumns) -> Table:
    names = [str(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputValidationError(
            [Problem("*", n, "(duplicate column)", "each column once") for n in duplicated],
            hint="Remove or rename the duplicated column(s).",
        )
    expected = contract.column_names
    problems = _column_problems(set(names), contract, extra_columns)
    if problems:
        raise InputValidationError(problems, hint=_column_hint(contract))
    columns: dict[str, list[Any]] = {}
    for name in expected:
        if name not in names:  # optional column left out
            columns[name] = [None] * len(frame)
            continue
        series = frame[name]
        values = series.tolist()
        missing = series.isna()
        if missing.any():  # NaN, None, pd.NA, NaT, whatever the dtype: all become JSON null
            values = [None if hole else v for v, hole in zip(values, missing.tolist(), strict=True)]
        columns[name] = values
    ignored = tuple(n for n in names if n not in contract.types)
    return Table(columns, len(frame), frame.index, ignored)


def _from_records(records: list[Any], contract: Contract, extra_columns: ExtraColumns) -> Table:
    import pandas as pd

    if not records:
        return Table({name: [] for name in contract.column_names}, 0, pd.RangeIndex(0))
    if records and isinstance(records[0], BaseModel):
        records = [r.model_dump(by_alias=True) if isinstance(r, BaseModel) else r for r in records]
    bad = next((i for i, r in enumerate(records) if not isinstance(r, Mapping)), None)
    if bad is not None:
        raise InputValidationError(
            [Problem(bad, "*", records[bad], "a mapping of column to value")],
            hint="Pass a DataFrame, a list of dicts or a list of row models.",
        )
    seen: set[str] = set()
    for r in records:
        seen.update(r)
    problems = _column_problems(seen, contract, extra_columns, records)
    if problems:
        raise InputValidationError(problems[:MAX_PROBLEMS], total=len(problems), hint=_column_hint(contract))
    columns = {name: [r.get(name) for r in records] for name in contract.column_names}
    for name, values in columns.items():  # NaN means "missing" in records too, as it does in DataFrames
        if float in set(map(type, values)) and any(v != v for v in values):
            columns[name] = [None if v != v else v for v in values]
    ignored = tuple(sorted(seen - set(contract.types)))
    return Table(columns, len(records), pd.RangeIndex(len(records)), ignored)


def _column_problems(
    present: set[str],
    contract: Contract,
    extra_columns: ExtraColumns,
    records: list[Mapping[str, Any]] | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    for column in contract.columns:
        if column.name in present:
            if records is not None and column.required:
                problems.extend(
                    Problem(i, column.name, "(missing)", _EXPECTED[column.type])
                    for i, r in enumerate(records)
                    if column.name not in r
                )
            continue
        if column.required:
            problems.append(Problem("*", column.name, "(missing column)", _EXPECTED[column.type]))
    if extra_columns == "error":
        problems.extend(
            Problem("*", name, "(unknown column)", "one of the contract's columns")
            for name in sorted(present - set(contract.types))
        )
    return problems


def _column_hint(contract: Contract) -> str:
    near = ", ".join(contract.column_names)
    return f"The endpoint takes these columns: {near}. Pass extra_columns='ignore' to leave others out."


def validate(table: Table, contract: Contract, *, max_problems: int = MAX_PROBLEMS) -> None:
    """Type-check every column; coerces whole floats to int in int64 columns (Excel sends 45.0 for 45)."""
    problems: list[Problem] = []
    total = 0
    for column in contract.columns:
        values = table.columns[column.name]
        kind = column.type
        if kind == "any":
            continue
        found = set(map(type, values))
        clean = not (type(None) in found and column.required) and _column_ok(values, found, kind)
        if clean:
            if kind == "int64" and float in found:  # whole floats (Excel's 45.0) become ints
                table.columns[column.name] = [None if v is None else int(v) for v in values]
            continue
        for i, value in enumerate(values):
            if _ok(value, kind, column.required):
                continue
            total += 1
            if len(problems) < max_problems:
                problems.append(Problem(table.index[i], column.name, value, _describe(kind, value)))
    if problems:
        raise InputValidationError(problems, total=total, hint="Fix these cells, or drop their rows, and try again.")


def _not_rows(rows: object) -> bool:
    return isinstance(rows, str | bytes | Mapping) or not isinstance(rows, Iterable)


INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


def _column_ok(values: list[Any], found: set[type], kind: str) -> bool:
    """The whole column at once; False sends the caller looking cell by cell."""
    present = [v for v in values if v is not None] if type(None) in found else values
    found = found - {type(None)}
    if kind == "string":
        return found <= {str}
    if kind == "boolean":
        return found <= {bool}
    if kind == "double":
        return found <= {float, int} and all(map(math.isfinite, present))
    if kind == "int64":
        if not found <= {int, float}:
            return False
        if float in found and not all(float(v).is_integer() for v in present if type(v) is float):
            return False
        return not present or (min(present) >= INT64_MIN and max(present) <= INT64_MAX)
    return True


def _ok(value: Any, kind: str, required: bool) -> bool:
    t = type(value)
    if value is None:
        return not required
    if kind == "int64":
        whole = t is int or (t is float and math.isfinite(value) and value.is_integer())
        return whole and INT64_MIN <= value <= INT64_MAX
    if kind == "double":
        return (t is int or t is float) and math.isfinite(value)
    if kind == "string":
        return t is str
    if kind == "boolean":
        return t is bool
    return True


def _describe(kind: str, value: Any) -> str:
    if value is None:
        return f"{_EXPECTED[kind]}; the cell is empty"
    if kind == "double" and isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    if kind == "int64" and type(value) in (int, float) and math.isfinite(value) and float(value).is_integer():
        return "a whole number within the int64 range"
    return _EXPECTED[kind]


def coerce_numpy(value: Any) -> Any:
    """orjson default hook: numpy scalars and timestamps that slipped through `tolist`."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"can't send a {type(value).__name__} as JSON")
