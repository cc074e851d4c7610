"""Check rows against the contract before anything is sent, column by column.

Every input form (DataFrame, list of dicts, list of row models) becomes plain column lists
first; the checks then run once per column with C-speed type-set tests, and the row-by-row
search for offenders runs only when a column is already known to be bad. pandas is imported
on first use, not with the package.

Cells are judged by value, as Microsoft's server judges them (it casts each column to the
sample's dtype): in a number column, text that reads as a number ("57", " -1.8 ", "5.7e1"),
`Decimal`, numpy scalars and whole floats in whole-number columns are the numbers they mean,
sent as JSON numbers. That conversion is the slow path, taken only by a column the type-set
test didn't pass; a column of plain ints and floats never pays for it.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
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

    if type(rows) is list:  # the common case first: a list is rows, without the ABC checks
        table = _from_records(list(rows), contract, extra_columns)
    elif isinstance(rows, pd.DataFrame):
        table = _from_frame(rows, contract, extra_columns)
    elif _not_rows(rows):
        raise TypeError(f"rows must be a DataFrame, a list of dicts or a list of row models, not {type(rows).__name__}")
    else:
        table = _from_records(list(rows), contract, extra_columns)
    validate(table, contract, max_problems=max_problems)
    return table


def _from_frame(frame: pd.DataFrame, contract: Contract, extra_columns: ExtraColumns) -> Table:
    names, all_text, ignored = _frame_labels(frame.columns, contract, extra_columns)
    expected = contract.column_names
    walk = getattr(frame, "_iter_column_arrays", None)  # pandas' own column walk (1.x to 3.x)
    if walk is not None and len(frame) <= SMALL_FRAME_ROWS and all_text:
        arrays = _column_arrays(frame)
        columns = _small_frame_columns(frame, walk() if arrays is None else arrays, expected, names)
    else:
        columns = _frame_columns(frame, expected, names)
    return Table(columns, len(frame), frame.index, ignored)


def _frame_labels(
    labels_: pd.Index, contract: Contract, extra_columns: ExtraColumns
) -> tuple[list[str], bool, tuple[str, ...]]:
    """A frame's column names, whether all its labels are str, and those the contract doesn't know; or the error.

    The last answer is kept for the next call with the same columns (the same Index or a view of it: an Index
    is immutable), since frames of one row often share them (`frame.iloc[[i]]`) and reading labels costs more
    than the row.
    """
    memo = _LAST_LABELS
    if memo is not None and memo[1] is contract and memo[2] == extra_columns and memo[0].is_(labels_):
        return memo[3]
    labels = labels_.tolist()
    names = [str(c) for c in labels]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputValidationError(
            [Problem("*", n, "(duplicate column)", "each column once") for n in duplicated],
            hint="Remove or rename the duplicated column(s).",
        )
    problems = _column_problems(set(names), contract, extra_columns)
    if problems:
        raise InputValidationError(problems, hint=_column_hint(contract))
    known = contract._types
    found = (names, all(type(c) is str for c in labels), tuple(n for n in names if n not in known))
    _remember_labels((labels_, contract, extra_columns, found))
    return found


_LAST_LABELS: tuple[Any, Contract, ExtraColumns, tuple[list[str], bool, tuple[str, ...]]] | None = None


def _remember_labels(memo: tuple[Any, Contract, ExtraColumns, tuple[list[str], bool, tuple[str, ...]]]) -> None:
    global _LAST_LABELS
    _LAST_LABELS = memo


SMALL_FRAME_ROWS: Final = 64
"""Frames this short (one customer per web request) are read column array by column array, without Series."""


def _frame_columns(frame: pd.DataFrame, expected: tuple[str, ...], names: list[str]) -> dict[str, list[Any]]:
    """Each contract column as a list, holes as None: one Series per column, cheap next to many rows."""
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
    return columns


def _small_frame_columns(
    frame: pd.DataFrame, arrays_: Iterable[Any], expected: tuple[str, ...], names: list[str]
) -> dict[str, list[Any]]:
    """`_frame_columns` for a few rows, where building 20 Series costs more than the request: the same lists.

    `Series.tolist()` and `Series.isna()` are the column's array's `tolist()` and `pd.isna(array)`, so reading
    the arrays directly gives the same values and the same holes; numpy ints and bools hold none.
    """
    import numpy as np
    import pandas as pd

    arrays = dict(zip(names, arrays_, strict=True))
    n = len(frame)
    if n == 1:
        return _one_row_columns(arrays, expected)
    columns: dict[str, list[Any]] = {}
    for name in expected:
        array = arrays.get(name)
        if array is None:  # optional column left out
            columns[name] = [None] * n
            continue
        values = array.tolist()
        kind = array.dtype.kind if isinstance(array, np.ndarray) else None
        if kind == "f":  # pd.isna of a float array is np.isnan: v != v on the floats tolist() gave
            if any(v != v for v in values):
                values = [None if v != v else v for v in values]
        elif kind not in _NO_HOLES_KINDS and not set(map(type, values)) <= _NEVER_MISSING:
            missing = pd.isna(array)
            if missing.any():
                values = [None if hole else v for v, hole in zip(values, missing.tolist(), strict=True)]
        columns[name] = values
    return columns


def _one_row_columns(arrays: dict[str, Any], expected: tuple[str, ...]) -> dict[str, list[Any]]:
    """`_small_frame_columns` of one row, judged by its one cell: a float that isn't itself (NaN) is a hole, as
    np.isnan and pd.isna say; a str, int or bool never is; any other cell is asked of pd.isna, as before."""
    columns: dict[str, list[Any]] = {}
    for name in expected:
        array = arrays.get(name)
        if array is None:  # optional column left out
            columns[name] = [None]
            continue
        values = array.tolist()
        cell = values[0]
        kind = type(cell)
        if kind is float:
            if cell != cell:
                values = [None]
        elif kind not in _NEVER_MISSING:
            import pandas as pd

            if pd.isna(array)[0]:
                values = [None]
        columns[name] = values
    return columns


def _column_arrays(frame: pd.DataFrame) -> list[Any] | None:
    """The arrays `frame._iter_column_arrays()` yields, read as pandas' `BlockManager.iget_values` reads each one
    (column i is row `blklocs[i]` of block `blknos[i]`'s values when they are 2-D, and those values when they are
    1-D), without its per-column calls; None when this pandas keeps its blocks otherwise."""
    try:
        manager = frame._mgr
        values = [block.values for block in manager.blocks]
        arrays = [
            held[at] if held.ndim == 2 else held
            for held, at in zip(map(values.__getitem__, manager.blknos.tolist()), manager.blklocs.tolist(), strict=True)
        ]
    except (AttributeError, TypeError, IndexError, ValueError):
        return None
    return arrays if len(arrays) == len(frame.columns) else None


_NO_HOLES_KINDS: Final = frozenset("iub")  # numpy ints and bools: isna() is all False
_NEVER_MISSING: Final = frozenset({str, int, bool})  # cells pd.isna never calls missing (exactly these types)


def _from_records(records: list[Any], contract: Contract, extra_columns: ExtraColumns) -> Table:
    import pandas as pd

    if not records:
        return Table({name: [] for name in contract.column_names}, 0, pd.RangeIndex(0))
    one = _one_record(records, contract)
    if one is not None:
        return one
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
    # a record lacks one of the columns seen only if it has fewer keys: when none does, none is searched
    complete = all(len(r) == len(seen) for r in records)
    problems = _column_problems(seen, contract, extra_columns, None if complete else records)
    if problems:
        raise InputValidationError(problems[:MAX_PROBLEMS], total=len(problems), hint=_column_hint(contract))
    columns = {name: [r.get(name) for r in records] for name in contract.column_names}
    for name, values in columns.items():  # NaN means "missing" in records too, as it does in DataFrames
        found = set(map(type, values))
        if found <= _PLAIN_CELLS:
            if float in found and any(v != v for v in values):
                columns[name] = [None if v != v else v for v in values]
        else:  # pd.NA, NaT, numpy and Decimal NaNs: what a DataFrame's isna() would call missing
            columns[name] = _holes_to_none(values)
    ignored = tuple(sorted(seen - contract._names))
    return Table(columns, len(records), pd.RangeIndex(len(records)), ignored)


def _one_record(records: list[Any], contract: Contract) -> Table | None:
    """`_from_records` of one dict holding exactly the contract's columns (no column missing or unknown, nothing
    to search); None for any other records."""
    import pandas as pd

    if len(records) != 1 or type(records[0]) is not dict or records[0].keys() != contract._names:
        return None
    record = records[0]
    columns: dict[str, list[Any]] = {}
    for name in contract.column_names:
        value = record[name]
        kind = type(value)
        if kind is float:
            if value != value:
                value = None
        elif kind not in _PLAIN_CELLS:
            value = _holes_to_none([value])[0]
        columns[name] = [value]
    return Table(columns, 1, pd.RangeIndex.from_range(range(1)), ())  # RangeIndex(1), without its argument checks


_PLAIN_CELLS: Final = frozenset({int, float, str, bool, type(None)})


def _holes_to_none(values: list[Any]) -> list[Any]:
    import numpy as np
    import pandas as pd

    na, nat = pd.NA, pd.NaT

    def hole(v: Any) -> bool:
        if v is None or v is na or v is nat:
            return True
        if isinstance(v, float | np.floating):
            return bool(v != v)
        return isinstance(v, Decimal) and v.is_nan()

    return [None if hole(v) else v for v in values]


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
            for name in sorted(present - contract._names)
        )
    return problems


def _column_hint(contract: Contract) -> str:
    near = ", ".join(contract.column_names)
    return f"The endpoint takes these columns: {near}. Pass extra_columns='ignore' to leave others out."


def validate(table: Table, contract: Contract, *, max_problems: int = MAX_PROBLEMS) -> None:
    """Check every column by value; cells that mean a number of the column's kind become plain ints and floats.

    Whole floats in int64 columns (Excel's 45.0) become ints; numeric text, Decimals and numpy scalars
    become the numbers they hold. A column the type-set test passes is left as it is.
    """
    if table.n_rows == 1 and _one_row_as_it_is(table, contract):
        return
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
        converted, bad = _convert(values, found, kind, column.required)
        table.columns[column.name] = converted
        for i in bad:
            total += 1
            if len(problems) < max_problems:
                value = values[i]
                problems.append(Problem(table.index[i], column.name, value, _describe(kind, value)))
    if problems:
        raise InputValidationError(problems, total=total, hint="Fix these cells, or drop their rows, and try again.")


def _one_row_as_it_is(table: Table, contract: Contract) -> bool:
    """True when `validate` would pass the one row and change none of its cells: plain values of the columns'
    own kinds (ints within int64, finite floats), or None where that is allowed. False sends it the whole way."""
    columns = table.columns
    for column in contract.columns:
        kind = column.type
        if kind == "any":
            continue
        values = columns[column.name]
        if len(values) != 1:
            return False
        value = values[0]
        cell = type(value)
        if cell is str:
            ok = kind == "string"
        elif cell is bool:
            ok = kind == "boolean"
        elif cell is int:
            ok = (kind == "int64" or kind == "double") and INT64_MIN <= value <= INT64_MAX
        elif cell is float:
            ok = kind == "double" and math.isfinite(value)
        else:
            ok = value is None and not column.required
        if not ok:
            return False
    return True


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
        if not (found <= {float, int} and all(map(math.isfinite, present))):
            return False
        return int not in found or _within_int64(v for v in present if type(v) is int)  # else sent as floats
    if kind == "int64":
        if not found <= {int, float}:
            return False
        if float in found and not all(float(v).is_integer() for v in present if type(v) is float):
            return False
        return not present or (min(present) >= INT64_MIN and max(present) <= INT64_MAX)
    return True


def _within_int64(ints: Iterable[int]) -> bool:
    ints = list(ints)
    return not ints or (min(ints) >= INT64_MIN and max(ints) <= INT64_MAX)


_BAD: Final = object()  # a cell that can't be what the column wants


def _convert(values: list[Any], found: set[type], kind: str, required: bool) -> tuple[list[Any], list[int]]:
    """The slow path: each cell as the plain value its column wants, and the positions of those that can't be.

    Cells that can't be converted keep their value, so the problem shows what the caller gave.
    """
    holes_allowed = not required or type(None) not in found
    if kind in ("int64", "double") and str in found and found <= {str, type(None)} and holes_allowed:
        parsed = _parse_text_column(values, found, kind)  # numbers read as text: C-speed first
        if parsed is not None:
            return parsed, []
    convert = _CONVERTERS[kind]
    out: list[Any] = []
    bad: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            if required:
                bad.append(i)
            out.append(None)
            continue
        result = convert(value)
        if result is _BAD:
            bad.append(i)
            result = value
        out.append(result)
    return out, bad


def _parse_text_column(values: list[Any], found: set[type], kind: str) -> list[Any] | None:
    """A column of numbers as text, parsed with `int` / `float` in one go; None if any cell needs a closer look."""
    present = [v for v in values if v is not None] if type(None) in found else values
    try:
        numbers_: list[Any] = list(map(int if kind == "int64" else float, present))
    except ValueError:
        return None
    if kind == "int64" and not _within_int64(numbers_):
        return None
    if kind == "double" and not all(map(math.isfinite, numbers_)):
        return None
    if len(numbers_) == len(values):
        return numbers_
    parsed = iter(numbers_)
    return [None if v is None else next(parsed) for v in values]


def _exact(value: Any) -> int | float | Decimal | None:
    """The number a cell means, without rounding it: an int, a float or a Decimal; None if it means none.

    Text is read as Python's `int` and `float` read it (surrounding spaces, a sign, an exponent), the way
    Microsoft's server's pandas cast reads it; booleans are not numbers here.
    """
    if isinstance(value, str):
        for parse in (int, Decimal, float):  # Decimal keeps "5.7e1" exact; float takes exponents Decimal can't
            try:
                number: int | float | Decimal = parse(value)
            except (ValueError, ArithmeticError):
                continue
            return number
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)  # subclasses (IntEnum) become plain ints
    if isinstance(value, float):
        return float(value)  # numpy's float64 becomes a plain float
    if isinstance(value, Decimal):
        return value
    if isinstance(value, numbers.Integral):  # numpy integers
        return int(value)
    if isinstance(value, numbers.Real):  # numpy floats, widened exactly
        return float(value)
    return None


def _to_int64(value: Any) -> Any:
    number = value if type(value) is int or type(value) is float else _exact(value)
    if isinstance(number, float):
        if not (math.isfinite(number) and number.is_integer()):
            return _BAD
        number = int(number)
    elif isinstance(number, Decimal):
        if not number.is_finite() or (not number.is_zero() and number.adjusted() > 18):  # 1e19 and up: too big
            return _BAD
        if number != number.to_integral_value():
            return _BAD
        number = int(number)
    elif number is None:
        return _BAD
    return number if INT64_MIN <= number <= INT64_MAX else _BAD


def _to_double(value: Any) -> Any:
    if type(value) is float:
        return value if math.isfinite(value) else _BAD
    if isinstance(value, str):
        try:
            number: Any = float(value)
        except ValueError:
            return _BAD
    else:
        number = value if type(value) is int else _exact(value)
    if number is None:
        return _BAD
    if type(number) is int:
        if INT64_MIN <= number <= INT64_MAX:
            return number
    elif isinstance(number, Decimal) and not number.is_finite():
        return _BAD
    try:
        number = float(number)
    except OverflowError:
        return _BAD
    return number if math.isfinite(number) else _BAD


def _to_string(value: Any) -> Any:
    """Text as it is; a number as its text, as Microsoft's server reads one (a category coded 3, or 3.0 from a
    column pandas widened for a hole, is "3"). A boolean is refused: which level True means is a guess."""
    if isinstance(value, str):
        return str(value)  # numpy's str_ and other str subclasses
    number = _exact(value)
    if number is None:
        return _BAD
    if isinstance(number, int):
        return str(number)
    if isinstance(number, Decimal):
        if not number.is_finite():
            return _BAD
        return str(int(number)) if number == number.to_integral_value() else str(number)
    if not math.isfinite(number):
        return _BAD
    return str(int(number)) if number.is_integer() else repr(number)


def _to_boolean(value: Any) -> Any:
    import numpy as np

    return bool(value) if isinstance(value, bool | np.bool_) else _BAD


_CONVERTERS: Final[dict[str, Callable[[Any], Any]]] = {
    "int64": _to_int64,
    "double": _to_double,
    "string": _to_string,
    "boolean": _to_boolean,
}


def as_plain(value: Any, kind: str) -> Any:
    """The plain int, float, str or bool a cell means for a column of `kind`; the value itself if it means none."""
    converter = _CONVERTERS.get(kind)
    if converter is None or value is None:
        return value
    result = converter(value)
    return value if result is _BAD else result


# Digits grouped by a thousands separator, or with a decimal comma: 1,260  1 260  1'260  1.260,5  -1,8
_SEPARATED: Final = re.compile(r"[+-]?\d[\d.,'\u00a0\u202f ]*\d")
_GROUPED_BY_POINTS: Final = re.compile(r"[+-]?\d{1,3}(\.\d{3})+")


def _describe(kind: str, value: Any) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return f"{_EXPECTED[kind]}; the cell is empty"
    if kind not in ("int64", "double"):
        return _EXPECTED[kind]
    number = _exact(value)
    text = value.strip() if isinstance(value, str) else None
    if number is None:
        if text is not None and _SEPARATED.fullmatch(text):
            return f"{_EXPECTED[kind]}, written without thousands separators or a decimal comma"
        return _EXPECTED[kind]
    if isinstance(number, int):
        finite = whole = True
    elif isinstance(number, Decimal):
        finite = number.is_finite()
        whole = finite and number == number.to_integral_value()
    else:
        finite = math.isfinite(number)
        whole = finite and number.is_integer()
    if kind == "double":
        return "a finite number" if not finite else "a number within the double range (about ±1.8e308)"
    if whole:
        return "a whole number within the int64 range"
    if text is not None and _GROUPED_BY_POINTS.fullmatch(text):
        return f"{_EXPECTED[kind]}, written without thousands separators or a decimal comma"
    return _EXPECTED[kind]


def coerce_numpy(value: Any) -> Any:
    """orjson default hook: numpy scalars, Decimals and timestamps left in columns of any type."""
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Decimal):  # the number it holds: whole ones as ints, others as the nearest double
        for kind in ("int64", "double"):
            number = as_plain(value, kind)
            if number is not value:
                return number
    raise TypeError(f"can't send a {type(value).__name__} as JSON")
