"""The `bankscore` Typer app and what every command shares: consoles, exit codes, one-line failures.

Nothing here imports pandas, httpx or a wing: `bankscore --version` and `--help` stay fast, and
each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from .._version import __version__

app = typer.Typer(
    name="bankscore",
    help="Score Bank Marketing customers against an Azure ML endpoint, or the embedded local one.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False)
if not out.is_terminal:  # piped or captured: don't squeeze tables into 80 columns
    out.width = max(out.width, 120)

EXIT_FAILURE = 1
EXIT_USAGE = 2


class OnErrorChoice(StrEnum):
    fail = "fail"
    column = "column"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    say_error(message)
    raise typer.Exit(code)


def say_error(message: str) -> None:
    """`error: <message>` on stderr, the message printed as it is (brackets in it are not markup)."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"bankscore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Log each retry (rows, attempt, reason, wait) to stderr.")
    ] = False,
) -> None:
    """bankscore: the typed way to consume an Azure ML scoring endpoint."""
    if verbose:
        import logging

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("bankscore")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
