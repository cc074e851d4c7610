"""Driving Swagger UI's page in the browser tests: fill the open score operation, execute it, read the answer."""

from __future__ import annotations

import json
from typing import Any, Final

# Chromium reports CSP violations as events; this collects them before any script of the page runs.
WATCH_CSP: Final = (
    "window.__violations = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
)
SCORE: Final = ".opblock-post"


def fill_and_execute(page: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Put `body` in the open score operation, press Execute, and read status and JSON from the response panel."""
    page.fill(f"{SCORE} textarea.body-param__text", json.dumps(body, indent=2))
    page.click(f"{SCORE} button.execute")
    panel = page.wait_for_selector(f"{SCORE} .live-responses-table .response-col_description pre.microlight")
    status = page.inner_text(f"{SCORE} .live-responses-table .response .response-col_status")
    answer: dict[str, Any] = json.loads(panel.inner_text())
    return {"status": int(status.strip()), "body": answer}
