"""The training report in a real Chromium, served by a real embedded endpoint at /report: charts with their alt
text, tables, a title, keyboard-reachable contents, a phone-sized screen without sideways scrolling, and (the
fixtures see to it) no console error and no request off loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import PageWatch
from tests.support.common import PRIMARY
from tests.support.report import train_small

CHARTS = 7  # ROC, precision-recall, calibration, importance, one per-fold chart per metric


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A model trained by this checkout (so with its report), served with key auth: /report needs no key."""
    from bankscore.server.model import load_model
    from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig

    model_dir = train_small().save(tmp_path_factory.mktemp("report-page") / "model")
    config = EndpointConfig(model_dir=model_dir, port=0, primary_key=PRIMARY, access_log=False)
    with EmbeddedEndpoint(config, load_model(model_dir)) as endpoint:
        yield endpoint.base_url + "/report"


def _focused(page: Any) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(
        "() => { const e = document.activeElement;"
        " return {tag: e.tagName, href: e.getAttribute('href') || '', text: e.textContent.trim()}; }"
    )
    return result


def test_report_page_shows_its_charts_and_tables_and_is_keyboard_reachable(
    page_watch: PageWatch, report_url: str
) -> None:
    page = page_watch.page
    response = page.goto(report_url)
    assert response is not None and response.status == 200
    assert re.match(r"Training report: .+, AUC_weighted 0\.\d{4} — bankscore$", page.title())

    charts = page.locator("svg[role=img]")
    assert charts.count() == page.locator("svg").count() == CHARTS
    labels = [charts.nth(i).get_attribute("aria-label") or "" for i in range(CHARTS)]
    assert all(labels), labels
    assert re.fullmatch(r"ROC curve, AUC 0\.\d{4}", labels[0])
    assert page.get_by_role("img", name=re.compile(r"^Precision-recall curve, AUC \(average precision\)")).is_visible()
    assert page.get_by_role("img", name=re.compile(r"^Reliability diagram over 10 bins")).is_visible()
    for i in range(CHARTS):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 80, (labels[i], box)
    # The curve is drawn: a polyline with many points inside the chart.
    points = page.locator("#roc-chart polyline.curve").get_attribute("points") or ""
    assert len(points.split()) > 50

    assert page.locator("#leaderboard-table tbody tr").count() == 2
    assert page.locator("#leaderboard-table tr.winner").count() == 1
    assert page.locator("#confusion-table td[id^=cm-]").count() == 5
    assert page.locator("#spread-table tbody tr").count() == 2
    assert page.locator("#importance-chart rect").count() == 15

    # Keyboard: Tab reaches the skip link, then every entry of the contents, in order; Enter follows one.
    toc = page.locator("nav[aria-label=Contents] a")
    expected = [toc.nth(i).get_attribute("href") for i in range(toc.count())]
    assert len(expected) == 7
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Skip to the report"
    for href in expected:
        page.keyboard.press("Tab")
        assert _focused(page)["href"] == href
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == expected[-2]
    # The per-fold rows open from the keyboard: Tab on to a <details> summary, Enter opens it.
    first = page.locator("#folds details").first
    first.locator("summary").focus()
    assert not first.evaluate("d => d.open")
    page.keyboard.press("Enter")
    assert first.evaluate("d => d.open")
    assert first.locator("tbody tr").count() == 3

    page_watch.screenshot("report-desktop")
    assert [r.url for r in page_watch.requests] == [report_url], "one request: the page has nothing to fetch"


def test_report_page_reads_on_a_phone(narrow_page_watch: PageWatch, report_url: str) -> None:
    page = narrow_page_watch.page
    page.goto(report_url)
    width = page.evaluate("window.innerWidth")
    assert width == 375
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scrolling of the page"
    for chart in page.locator("svg").all():
        box = chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    # Wide tables scroll inside their own region instead.
    wide = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth).length"
    )
    assert wide >= 1
    path: Path = narrow_page_watch.screenshot("report-narrow")
    assert path.stat().st_size > 10_000
