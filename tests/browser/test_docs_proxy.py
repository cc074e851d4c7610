"""`bankscore docs` in Chromium, in front of a key-protected endpoint: Try it out scores with no key typed, and the
key is in no HTML, script, storage or request the browser made.

The proxy runs as the command runs it (`DocsProxy` on uvicorn, `DocsServer`), on a thread of this process.
"""

from __future__ import annotations

from typing import Any

import httpx

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.server.docs_proxy import DocsProxy, DocsServer
from tests.support.browser import PageWatch
from tests.support.common import PRIMARY, auth
from tests.support.docs_page import SCORE, WATCH_CSP, fill_and_execute


def test_docs_proxy_scores_with_no_key_in_the_browser(page_watch: PageWatch, endpoint: Any) -> None:
    page = page_watch.page
    page.add_init_script(WATCH_CSP)
    with DocsServer(DocsProxy(endpoint.scoring_uri, key=PRIMARY, title="bankscore-local")) as server:
        page.goto(server.url)
        assert page.title() == "bankscore-local — API docs"
        page.wait_for_selector(f"{SCORE} textarea.body-param__text")
        assert page.locator("button.authorize").count() == 0, "no Authorize: the proxy adds the key"
        assert page.locator(f"{SCORE} .authorization__btn").count() == 0

        rows = [dict(r) for r in SAMPLE_ROWS]
        answer = fill_and_execute(page, {"Inputs": {"data": rows}})
        page_watch.screenshot("docs-proxy")
        html = page.content()
        # Every file the page loaded (scripts, styles, the swagger), fetched again to read what the browser read.
        loaded = {r.url: httpx.get(r.url).text for r in page_watch.requests if r.method == "GET"}
    direct = httpx.post(endpoint.scoring_uri, json={"Inputs": {"data": rows}}, headers=auth()).json()
    assert answer == {"status": 200, "body": direct} and len(direct["Results"]) == 2

    posts = [r for r in page_watch.requests if r.method == "POST"]
    assert [r.url for r in posts] == [server.url + "score"], "Try it out stayed on the proxy's origin"
    assert "authorization" not in posts[0].headers
    assert any(url.endswith(".js") for url in loaded) and any(url.endswith("swagger.json") for url in loaded)
    assert endpoint.scoring_uri in html, "the page names the endpoint it forwards to"
    assert PRIMARY not in html
    for url, text in loaded.items():
        assert PRIMARY not in text, url
    for request in page_watch.requests:
        assert PRIMARY not in request.url + str(request.headers) + (request.body or ""), request.url
    storage = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"
    )
    assert PRIMARY not in storage and page.context.cookies() == []
    assert page.evaluate("window.__violations") == []
