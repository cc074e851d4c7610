"""`bankscore excel template` and `set-key`: the add-in's workbook, and its key kept in the OS keyring."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._app import err, fail, out

excel_app = typer.Typer(name="excel", help="The Excel add-in: template workbook and key storage.", no_args_is_help=True)


def _need_excel() -> None:
    from .._extras import check

    check("excel", "The Excel add-in")


@excel_app.command("template")
def excel_template(
    output: Annotated[Path, typer.Option("-o", "--output", help="Workbook to write (.xlsm).")] = Path("bankscore.xlsm"),
) -> None:
    """Write the template workbook: Customers sheet with formulas, Settings sheet, xlwings.conf."""
    _need_excel()
    from ..excel.template import TEMPLATE_NAME, build_template

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
    from ..credentials import store_key

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
