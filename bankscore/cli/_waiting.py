"""What the job commands share: `--auth`, `--param` values, and a one-line watch of a run or job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer

from .._exceptions import APIError, BankscoreError, WaitTimeoutError
from ._app import EXIT_FAILURE, EXIT_USAGE, err, fail, out
from ._endpoint import AuthChoice

JobAuthOption = Annotated[
    AuthChoice,
    typer.Option(
        "--auth",
        envvar="BANKSCORE_AUTH",
        help="entra (Azure's only choice for these calls): a Microsoft Entra token from azure-identity "
        "(AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, a managed identity or `az login`); "
        "key: $BANKSCORE_KEY or --key-file, for the embedded emulator with key auth.",
        case_sensitive=False,
    ),
]
TimeoutOption = Annotated[
    float | None, typer.Option("--timeout", help="With --wait: give up waiting after this many seconds (exit 1).")
]
PollOption = Annotated[
    float, typer.Option("--poll-interval", help="Seconds between the first status reads (backs off to 60).", min=0.05)
]


def parameter(text: str) -> tuple[str, Any]:
    """`name=value`: the value read as JSON when it is (500, 0.5, true), else as text."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"{text!r}: use NAME=VALUE, e.g. --param rows=5000")
    try:
        parsed: Any = orjson.loads(value)
    except orjson.JSONDecodeError:
        parsed = value
    if isinstance(parsed, dict | list) or parsed is None:
        parsed = value
    return name.strip(), parsed


T = TypeVar("T")


class Watch:
    """The one-line progress of a wait: rewritten in place on a terminal, one line per change elsewhere (CI logs)."""

    def __init__(self, what: str, describe: Callable[[Any], str]) -> None:
        self._what = what
        self._describe = describe
        self._last = ""
        self._live = err.is_terminal

    def __call__(self, state: Any, elapsed: float) -> None:
        line = f"{self._what}: {self._describe(state)} · {elapsed:,.0f} s"
        changed = self._describe(state) != self._last
        self._last = self._describe(state)
        if self._live:
            err.file.write(f"\r\x1b[2K{line}")
            err.file.flush()
        elif changed:
            err.print(line)

    def done(self) -> None:
        if self._live and self._last:
            err.file.write("\n")
            err.file.flush()
            self._last = ""


def say(text: str) -> None:
    """A line of results on stdout, never wrapped or marked up: run URLs and job ids get copied from CI logs."""
    out.print(text, soft_wrap=True, markup=False)


def watched(what: str, status: Callable[[Any], str], wait: Callable[[Watch], T]) -> T:
    """Run `wait(watch)` with a one-line progress display; a timeout or a failed read exits 1 with one line."""
    watch = Watch(what, status)
    try:
        return wait(watch)
    except WaitTimeoutError as exc:
        watch.done()
        fail(str(exc), EXIT_FAILURE)
    except BankscoreError as exc:
        watch.done()
        failed(exc)
    finally:
        watch.done()


def report(what: str, name: str, status: str, error: str | None, more: str = "") -> None:
    """One line for a run or job; exit 1 when it Failed or was Canceled, with the service's error."""
    if status in ("Failed", "Canceled"):
        fail(f"{what} {name} {status}{f': {error}' if error else ''}", EXIT_FAILURE)
    say(f"{what.capitalize()} {name}: {status}{more}")


def failed(exc: BankscoreError) -> NoReturn:
    """A service's answer exits 1; a mistake in what was given exits 2."""
    fail(str(exc), EXIT_FAILURE if isinstance(exc, APIError) else EXIT_USAGE)
