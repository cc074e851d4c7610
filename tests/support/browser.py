"""The system's Chromium, driven by playwright, for tests of the pages the project serves.

The browser is Debian's `chromium` (`.ci/run` installs it); playwright only drives it and never downloads a
build of its own. Every page is watched: the requests it makes (none may leave loopback: they are aborted and
recorded), its console errors and uncaught exceptions, so a test can assert on them and the fixture can fail a
page that broke either rule. Screenshots go to an artifacts folder outside git, for people to look at.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from tests.support.common import ROOT

CHROMIUM_ENV: Final = "BANKSCORE_TEST_CHROMIUM"
ARTIFACTS_ENV: Final = "BANKSCORE_TEST_ARTIFACTS"

# Chromium's own background traffic (updates, sync, safe browsing, field trials) is switched off, so every
# request the watch sees is the page's; the machine's closed network would refuse them anyway.
CHROMIUM_ARGS: Final = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
)


def chromium_path() -> str | None:
    """The Chromium to drive: `BANKSCORE_TEST_CHROMIUM`, else `chromium` (Debian) or `chromium-browser` on PATH."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given
    return shutil.which("chromium") or shutil.which("chromium-browser")


def artifacts_dir() -> Path:
    """Where screenshots go: `BANKSCORE_TEST_ARTIFACTS`, else `test-artifacts/` in the checkout (git ignores it)."""
    path = Path(os.environ.get(ARTIFACTS_ENV, ROOT / "test-artifacts")) / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_loopback_url(url: str) -> bool:
    """True for URLs the page may fetch: loopback hosts, and the browser's own data:/blob:/about: ones."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "chrome-error"}:
        return True
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class SeenRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None


@dataclass
class PageWatch:
    """What one page did: its requests, the ones aborted for leaving loopback, console errors, page errors."""

    page: Any
    requests: list[SeenRequest] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG of the page as a test artifact, named for what it shows."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
        path = artifacts_dir() / f"{safe}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def problems(self) -> list[str]:
        """Everything that breaks the pages' rules: a request off loopback, a console error, an uncaught error."""
        return (
            [f"request off loopback: {url}" for url in self.foreign]
            + [f"console error: {text}" for text in self.console_errors]
            + [f"page error: {text}" for text in self.page_errors]
        )


def watch(context: Any) -> PageWatch:
    """Open a page in `context` whose every request, console error and uncaught exception is recorded."""
    page = context.new_page()
    seen = PageWatch(page)

    def route(route: Any) -> None:
        request = route.request
        if is_loopback_url(request.url):
            route.continue_()
        else:
            seen.foreign.append(request.url)
            route.abort("blockedbyclient")

    def on_request(request: Any) -> None:
        seen.requests.append(SeenRequest(request.method, request.url, dict(request.headers), request.post_data))

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.console_errors.append(message.text)

    context.route("**/*", route)
    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    return seen
