"""The "Score selection" button (RunPython, Windows and macOS): results written next to the selected table.

The template's macro runs `bankscore.main()`, xlwings' convention for a workbook named bankscore.xlsm.
On a selection holding a table it adds `prediction` and `proba_<positive>` columns to its right (and
`reason_1..reason_3` where the endpoint explains),
with a bold header and percentages; on an empty selection it writes the headers and sample rows.
The sheet I/O is a thin layer over `results_block` and `sample_grid`, which are plain functions.
"""

from __future__ import annotations

from typing import Any, Final

from .._exceptions import BankscoreError
from .core import ExcelScorer, Grid, _rows
from .settings import SCORERS, settings_from_grid
from .udfs import sample_grid, settings_grid

REASONS: Final = 3  # reasons the button writes beside the predictions, where the endpoint explains


def results_block(grid: Grid, scorer: ExcelScorer) -> list[list[Any]]:
    """Label and probability for the selected table (and the top reasons, where the endpoint explains), headers
    first, error text where a row failed."""
    labels = scorer.score(grid, "predict")
    probabilities = scorer.score(grid, "proba")
    block = [[labels.header, probabilities.header]] + [
        [label, proba if not isinstance(label, str) or not label.startswith("error: ") else ""]
        for label, proba in zip(labels.values, probabilities.values, strict=True)
    ]
    if scorer.client.contract.explain is None:
        return block
    reasons = scorer.score(grid, "explain").reasons(REASONS)
    return [row + extra for row, extra in zip(block, reasons, strict=True)]


def is_blank(grid: Grid) -> bool:
    return all(cell is None or cell == "" for row in _rows(grid) for cell in row)


def score_selection(book: Any = None) -> None:
    """Score the selected table (or the table around the selected cell); sample data into an empty selection."""
    import xlwings as xw

    book = book or xw.Book.caller()
    selection = book.selection
    region = selection if selection.count > 1 else selection.current_region
    values = region.options(ndim=2).value
    if is_blank(values):
        write_sample(selection)
        return
    try:
        scorer = SCORERS.get(settings_from_grid(settings_grid(selection)))
        block = results_block(values, scorer)
    except BankscoreError as exc:
        book.app.alert(f"bankscore: {exc}", title="bankscore")
        return
    target = region.offset(column_offset=region.columns.count).resize(len(block), len(block[0]))
    target.value = block
    target[0, :].font.bold = True
    target[1:, 1].number_format = "0.0%"
    target.columns.autofit()


def write_sample(cell: Any, rows: int = 5) -> None:
    grid = sample_grid(rows)
    target = cell[0, 0].resize(len(grid), len(grid[0]))
    target.value = grid
    target[0, :].font.bold = True


def clear_cache() -> int:
    """Forget every cached result (after a model was redeployed behind the same URL)."""
    return SCORERS.clear_caches()
