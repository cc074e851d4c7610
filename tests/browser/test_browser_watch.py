"""The watch itself: a request off loopback is aborted and recorded, console and page errors are caught."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import is_loopback_url, watch


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/docs", True),
        ("http://localhost/x", True),
        ("http://[::1]:9/x", True),
        ("data:image/png;base64,AA==", True),
        ("https://cdn.jsdelivr.net/npm/swagger-ui-dist", False),
        ("http://10.0.0.1/", False),
        ("http://example.com/", False),
    ],
)
def test_loopback_urls(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected


PAGE = b"""<!doctype html><html lang="en"><head><title>watch test</title>
<script src="https://cdn.example.com/lib.js"></script></head>
<body><button id="b" onclick="console.error('clicked'); missing()">go</button></body></html>"""


@pytest.fixture
def page_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_watch_catches_foreign_requests_and_errors(browser: Any, page_server: str) -> None:
    context = browser.new_context()
    try:
        seen = watch(context)
        seen.page.goto(page_server)
        seen.page.click("#b")
        seen.page.wait_for_timeout(100)
        assert seen.foreign == ["https://cdn.example.com/lib.js"]
        assert "clicked" in seen.console_errors
        assert any("missing" in error for error in seen.page_errors)
        assert seen.requests[0].url == page_server
        assert len(seen.problems()) >= 3
        shot = seen.screenshot("watch-test")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()
