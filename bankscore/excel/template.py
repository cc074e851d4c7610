"""Build the template workbook: `xlwings quickstart --standalone` for the VBA, openpyxl for the sheets.

openpyxl with keep_vba=True edits sheets and the xlwings.conf settings without touching the VBA
project, so the workbook keeps xlwings' RunPython and "Import Functions" macros and needs no add-in.
Nothing secret is ever written: the Settings sheet has no key cell, only where a key comes from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from .._atomic import atomic_path
from ..bankmarketing.schema import COLUMN_NAMES
from .settings import SETTINGS_SHEET
from .udfs import sample_grid

TEMPLATE_NAME: Final = "bankscore.xlsm"
DATA_SHEET: Final = "Customers"
UDF_MODULE: Final = "bankscore.excel.udfs"
SAMPLE_COUNT: Final = 5
FIXED_TIME: Final = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # same metadata on every build

SETTINGS_ROWS: Final = (
    ("Setting", "Value", "Notes"),
    ("Endpoint", None, "Scoring URI (…/score). Empty: BANKSCORE_ENDPOINT, else the embedded local endpoint."),
    ("Key file", None, "Optional path to a file holding the key (line 1 primary, line 2 secondary)."),
    (
        "Auth",
        "key",
        "key: the endpoint key. entra: Microsoft Entra tokens from azure-identity (AZURE_CLIENT_ID... variables, "
        "a managed identity or `az login`), for endpoints in aad_token mode.",
    ),
    ("Timeout seconds", 20, "Per request; a whole range gives up after 60 s, well before Excel's 90 s."),
    ("Cache minutes", 15, "Unchanged rows are answered from memory for this long; the button can clear it."),
    (None, None, None),
    (
        "Key",
        None,
        "Never stored in this workbook: set BANKSCORE_KEY, use a key file, or run `bankscore excel set-key`.",
    ),
)


def build_template(target: Path) -> Path:
    """Write the template to `target` (atomically) and return it."""
    from openpyxl import load_workbook
    from openpyxl.styles import Font
    from openpyxl.worksheet.formula import ArrayFormula

    with tempfile.TemporaryDirectory(prefix="bankscore-template-") as tmp:
        source = _quickstart(Path(tmp))
        book = load_workbook(source, keep_vba=True)
        conf = book["_xlwings.conf"]
        conf.title = "xlwings.conf"  # the leading underscore disables the sheet; this activates it
        for row in conf.iter_rows(min_col=1, max_col=2):
            if row[0].value == "UDF Modules":
                row[1].value = UDF_MODULE
        data = book.worksheets[0]
        data.title = DATA_SHEET
        grid = sample_grid(SAMPLE_COUNT)
        for r, values in enumerate(grid, start=1):
            for c, value in enumerate(values, start=1):
                data.cell(r, c, value)
        last = len(grid)
        width = len(COLUMN_NAMES)
        table = f"A1:{_column(width)}{last}"
        for offset, function in enumerate(("bankscore_predict", "bankscore_proba"), start=1):
            column = _column(width + offset)
            ref = f"{column}1:{column}{last}"
            data[f"{column}1"] = ArrayFormula(ref, f"={function.upper()}({table})")
        first, last_reason = _column(width + 3), _column(width + 5)  # the three largest reasons, spilled
        data[f"{first}1"] = ArrayFormula(f"{first}1:{last_reason}{last}", f"=BANKSCORE_EXPLAIN({table}, 3)")
        for cell in data[1]:
            cell.font = Font(bold=True)
        settings = book.create_sheet(SETTINGS_SHEET, 1)
        for r, setting in enumerate(SETTINGS_ROWS, start=1):
            for c, value in enumerate(setting, start=1):
                settings.cell(r, c, value)
        for cell in settings[1]:
            cell.font = Font(bold=True)
        settings.column_dimensions["A"].width = 18
        settings.column_dimensions["B"].width = 48
        settings.column_dimensions["C"].width = 100
        book.properties.creator = "bankscore"
        book.properties.created = FIXED_TIME
        book.properties.modified = FIXED_TIME
        book.active = 0
        with atomic_path(target) as temporary:
            book.save(temporary)
    return target


def _quickstart(directory: Path) -> Path:
    """`xlwings quickstart bankscore --standalone`: the workbook with xlwings' VBA module inside."""
    script = Path(sys.executable).with_name("xlwings.exe" if os.name == "nt" else "xlwings")
    command = [str(script)] if script.exists() else [shutil.which("xlwings") or "xlwings"]
    subprocess.run(
        [*command, "quickstart", "bankscore", "--standalone"],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return directory / "bankscore" / TEMPLATE_NAME


def _column(number: int) -> str:
    """1 → A, 27 → AA."""
    name = ""
    while number:
        number, rest = divmod(number - 1, 26)
        name = chr(65 + rest) + name
    return name
