"""`/docs` on a key-protected embedded endpoint in Chromium: Authorize with the key, Try it out with two rows.

One page load does it all (Swagger UI costs CPU to start): the score operation is rendered and opened, the
strict CSP reports no violation, the key typed in Authorize goes out with the request and is kept nowhere.
"""

from __future__ import annotations

from typing import Any

import httpx

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from tests.support.browser import PageWatch
from tests.support.common import PRIMARY, auth
from tests.support.docs_page import SCORE, WATCH_CSP, fill_and_execute


def test_docs_page_authorizes_and_scores_two_rows(page_watch: PageWatch, endpoint: Any) -> None:
    page = page_watch.page
    page.add_init_script(WATCH_CSP)
    page.goto(endpoint.base_url + "/docs")
    assert page.title() == "bankscore-local — API docs"
    page.wait_for_selector(f"{SCORE} textarea.body-param__text")  # the score operation, opened and editable
    assert page.inner_text(f"{SCORE} .opblock-summary-path").strip() == "/score"
    assert page.is_visible(f"{SCORE} .authorization__btn"), "the lock says the operation needs the key"

    page.click("button.authorize")
    page.fill(".auth-container input[type=text]", f"Bearer {PRIMARY}")
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")

    rows = [dict(r) for r in SAMPLE_ROWS]
    answer = fill_and_execute(page, {"Inputs": {"data": rows}, "GlobalParameters": {"method": "predict"}})
    direct = httpx.post(endpoint.scoring_uri, json={"Inputs": {"data": rows}}, headers=auth()).json()
    assert answer == {"status": 200, "body": direct}
    assert len(answer["body"]["Results"]) == 2 and set(answer["body"]["Results"]) <= {"yes", "no"}
    page_watch.screenshot("docs-endpoint")

    posts = [r for r in page_watch.requests if r.method == "POST"]
    assert [r.url for r in posts] == [endpoint.scoring_uri], "Try it out went to this endpoint and nowhere else"
    assert posts[0].headers["authorization"] == f"Bearer {PRIMARY}"
    assert page.evaluate("window.__violations") == []
    stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert PRIMARY not in stored, "persistAuthorization is off: the key lives in page memory only"
    assert page.context.cookies() == []
