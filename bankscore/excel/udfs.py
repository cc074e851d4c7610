"""Excel worksheet functions (xlwings UDFs): one formula scores a whole table.

`=BANKSCORE_PREDICT(A1:T500)` spills "prediction" and one label per row; `=BANKSCORE_PROBA(...)` the
probability of the positive class; `=BANKSCORE_EXPLAIN(A1:T500, 3)` the three largest reasons per row
(`duration = 1,260 s (+2.31)`), where the endpoint explains. The first row of the range is the headers.
Each call sends the range's new rows in one client call (the client batches), answers unchanged rows from a cache, and
puts a short error text in any row it can't score. Non-volatile and idle in the function wizard,
so typing a formula never sends anything. On Linux and macOS the decorators do nothing, so these
are plain Python functions (the tests call them directly).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._exceptions import BankscoreError
from .._extras import require
from ..bankmarketing.schema import COLUMN_NAMES
from .core import Grid, What, _rows
from .settings import SCORERS, SETTINGS_SHEET, settings_from_grid

if TYPE_CHECKING:
    import xlwings as xw
else:
    xw = require("xlwings", "excel", "The Excel add-in")

SAMPLE_SEED = 2024


@xw.func(call_in_wizard=False)
@xw.arg("table", ndim=2)
def bankscore_predict(table: Grid, caller: Any = None) -> list[list[Any]]:
    """Labels for a table whose first row is the headers: "prediction", then one label per row."""
    return _score(table, "predict", caller)


@xw.func(call_in_wizard=False)
@xw.arg("table", ndim=2)
def bankscore_proba(table: Grid, caller: Any = None) -> list[list[Any]]:
    """P(positive class) for a table whose first row is the headers: "proba_yes", then one number per row."""
    return _score(table, "proba", caller)


@xw.func(call_in_wizard=False)
@xw.arg("table", ndim=2)
def bankscore_explain(table: Grid, top: float = 3, caller: Any = None) -> list[list[Any]]:
    """Why each row scores as it does: "reason_1".."reason_<top>", then each row's largest contributions as text."""
    k = max(1, int(top))
    try:
        settings = settings_from_grid(settings_grid(caller))
        return SCORERS.get(settings).score(table, "explain").reasons(k)
    except BankscoreError as exc:
        return error_column(table, "reason_1", str(exc))
    except Exception as exc:  # a cell shows text, never a traceback or #VALUE!
        return error_column(table, "reason_1", f"{type(exc).__name__}: {exc}")


@xw.func
def bankscore_sample(rows: float = 5) -> list[list[Any]]:
    """The 20 column headers and a few realistic rows, to start from."""
    return sample_grid(int(rows))


def sample_grid(rows: int = 5) -> list[list[Any]]:
    """Headers and realistic rows from the synthetic generator (fixed seed: the same rows every time)."""
    from ..bankmarketing.synthetic import generate

    count = max(1, min(int(rows), 1000))
    frame = generate(count, seed=SAMPLE_SEED, label=False)
    return [list(COLUMN_NAMES), *(list(row) for row in frame[list(COLUMN_NAMES)].itertuples(index=False))]


def _score(table: Grid, what: What, caller: Any) -> list[list[Any]]:
    header = "prediction" if what == "predict" else "proba"
    try:
        settings = settings_from_grid(settings_grid(caller))
        return SCORERS.get(settings).score(table, what).column()
    except BankscoreError as exc:
        return error_column(table, header, str(exc))
    except Exception as exc:  # a cell shows text, never a traceback or #VALUE!
        return error_column(table, header, f"{type(exc).__name__}: {exc}")


def settings_grid(caller: Any) -> Sequence[Sequence[Any]] | None:
    """The Settings sheet of the calling workbook, if there is one (Excel passes the calling cell as `caller`)."""
    if caller is None:
        return None
    try:
        sheet = caller.sheet.book.sheets[SETTINGS_SHEET]
    except Exception:  # no Settings sheet: environment and defaults
        return None
    value = sheet.range("A1").expand("table").options(ndim=2).value
    return value if isinstance(value, list) else None


def error_column(table: Grid, header: str, message: str) -> list[list[Any]]:
    """The same message in every data row, so it shows wherever the user looks; one line, no traceback."""
    text = "error: " + (message.strip().splitlines() or ["unknown"])[0]
    rows = max(len(_rows(table)) - 1, 1)
    return [[header], *([text] for _ in range(rows))]
