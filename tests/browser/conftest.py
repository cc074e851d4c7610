"""A real browser for the pages: one Chromium per test module (all page tests share one xdist worker).

Without a Chromium the tests are skipped on a developer's machine and fail in CI (`CI` set), where `.ci/run`
installs Debian's package: a missing browser must never pass for a green run.

The browser lives for one module, not the session: playwright's sync API keeps an event loop running on this
thread while it is open, and the other tests this worker runs afterwards call `asyncio.run`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import CHROMIUM_ARGS, PageWatch, chromium_path, watch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        message = "no Chromium: install Debian's `chromium` (apt-get install chromium) or set BANKSCORE_TEST_CHROMIUM"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            launched.close()


def _watched_page(browser: Any, **options: Any) -> Iterator[PageWatch]:
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    seen = watch(context)
    try:
        yield seen
    finally:
        context.close()
    problems = seen.problems()
    if problems:
        pytest.fail("the page broke the rules:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def page_watch(browser: Any) -> Iterator[PageWatch]:
    """A page in a fresh context (empty storage and cookies); fails the test if it broke the pages' rules."""
    yield from _watched_page(browser, viewport={"width": 1280, "height": 900})


@pytest.fixture
def narrow_page_watch(browser: Any) -> Iterator[PageWatch]:
    """The same as `page_watch` on a phone-sized screen (375 px wide), for layouts that must read there."""
    yield from _watched_page(browser, viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True)
