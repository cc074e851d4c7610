"""Swagger UI pages: the embedded endpoint's `/docs` and `bankscore docs`, served the same way from one place.

Swagger UI's own files come from the `swagger-ui-bundle` package (Swagger UI 4.15.5), so nothing is loaded from a
CDN and the page works with no network. The page holds no inline script: its settings travel in `data-`
attributes that our own initializer (a served .js file) reads, so a strict Content-Security-Policy holds
(`script-src 'self'`, `connect-src 'self'`: the page can talk to its own origin only). Assets are looked up by
name in a fixed table, never by path, so no request reaches another file.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from typing import Final, Literal

import orjson

DOCS_PATH: Final = "/docs"

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""What Swagger UI 4.15.5 needs and no more, as Chromium reports violations: its CSS draws icons from data: URIs
(`img-src data:`); its React components set styles through the DOM, which `style-src 'self'` allows, so no
'unsafe-inline' and no 'unsafe-eval' (tests/browser/test_docs_page.py watches for violations)."""

_SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)

Mode = Literal["endpoint", "proxy"]
"""endpoint: the page of an endpoint (Authorize takes its key); proxy: `bankscore docs` (the proxy adds it)."""

_CSS: Final = b"text/css; charset=utf-8"
_JS: Final = b"text/javascript; charset=utf-8"
_PNG: Final = b"image/png"
_MAP: Final = b"application/json"

# Swagger UI's files the page uses (the standalone preset's top bar, which loads any URL typed in it, is left out).
_BUNDLED: Final[dict[str, bytes]] = {
    "swagger-ui.css": _CSS,
    "swagger-ui.css.map": _MAP,
    "swagger-ui-bundle.js": _JS,
    "swagger-ui-bundle.js.map": _MAP,
    "favicon-16x16.png": _PNG,
    "favicon-32x32.png": _PNG,
}

INITIALIZER: Final = "bankscore-docs.js"
STYLESHEET: Final = "bankscore-docs.css"

# Our initializer. It keeps "Try it out" on this page's origin (a Swagger 2.0 document lists `https` first even
# when the service is plain http, which Swagger UI would otherwise pick), turns off the outside validator badge,
# keeps an Authorize key in page memory only, and opens the score operation ready to run.
_INITIALIZER_JS: Final = r"""
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  var pageScheme = window.location.protocol.replace(":", "");

  function sameScheme() {
    return {
      statePlugins: {
        spec: {
          wrapSelectors: {
            schemes: function (original) {
              return function () {
                var listed = original.apply(null, arguments);
                if (!listed || typeof listed.filter !== "function") {
                  return listed;
                }
                var here = listed.filter(function (scheme) { return scheme === pageScheme; });
                return here.size ? here : listed;
              };
            }
          }
        }
      }
    };
  }

  function expandScoring(ui) {
    ui.specSelectors.taggedOperations().forEach(function (group, tag) {
      group.get("operations").forEach(function (op) {
        var path = String(op.get("path")).replace(/\/+$/, "");
        if (op.get("method") !== "post" || !/\/score$/.test(path)) {
          return;
        }
        var id = op.getIn(["operation", "__originalOperationId"]) || op.getIn(["operation", "operationId"]) ||
          op.get("id");
        ui.layoutActions.show(["operations", tag, id], true);
      });
    });
  }

  var ui = SwaggerUIBundle({
    url: new URL(root.getAttribute("data-swagger-url"), document.baseURI).href,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [sameScheme],
    layout: "BaseLayout",
    deepLinking: false,
    persistAuthorization: false,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
    onComplete: function () { expandScoring(ui); }
  });
})();
""".lstrip()

_STYLESHEET_CSS: Final = """
body { margin: 0; background: #fafafa; }
.bankscore-docs-note {
  max-width: 1460px; box-sizing: border-box; margin: 0 auto; padding: 12px 20px 0;
  font-family: sans-serif; font-size: 14px; color: #3b4151;
}
.bankscore-docs-note code { background: #eee; padding: 1px 4px; border-radius: 3px; }
""".lstrip()


@dataclass(frozen=True)
class DocsAnswer:
    """One answer of the docs routes: status, body, media type and the other headers (CSP, caching)."""

    status: int
    body: bytes
    content_type: bytes
    headers: tuple[tuple[bytes, bytes], ...]


def _answer(status: int, body: bytes, content_type: bytes, cache: bytes) -> DocsAnswer:
    return DocsAnswer(status, body, content_type, ((b"cache-control", cache), *_SECURITY_HEADERS))


def _not_found(path: str) -> DocsAnswer:
    names = ", ".join(sorted((*_BUNDLED, INITIALIZER, STYLESHEET)))
    body = orjson.dumps({"message": f"No docs asset {path}; the page at {DOCS_PATH} uses {names}"})
    return DocsAnswer(404, body, b"application/json", _SECURITY_HEADERS)


@functools.cache
def _bundled(name: str) -> bytes:
    """A Swagger UI file, read once per process (the bundle is a megabyte)."""
    from .._extras import require

    bundle = require("swagger_ui_bundle", "server", "Swagger UI (/docs, bankscore docs)")
    return (bundle.swagger_ui_path / name).read_bytes()  # type: ignore[no-any-return]


def asset(name: str) -> DocsAnswer | None:
    """The asset `/docs/<name>`, or None when `name` is none of the page's files."""
    if name == INITIALIZER:
        return _answer(200, _INITIALIZER_JS.encode(), _JS, b"no-cache")
    if name == STYLESHEET:
        return _answer(200, _STYLESHEET_CSS.encode(), _CSS, b"no-cache")
    media_type = _BUNDLED.get(name)
    if media_type is None:
        return None
    return _answer(200, _bundled(name), media_type, b"public, max-age=86400")


def page(title: str, *, root: str, mode: Mode, target: str | None = None) -> DocsAnswer:
    """The Swagger UI page. `root` is the site root relative to the page ("./" at /docs, "../" at /docs/), so
    the page works behind a path prefix; `target` names the endpoint the proxy forwards to (no secret in it)."""
    shown = html.escape(title or "Scoring endpoint")
    assets = f"{root}docs/"
    if mode == "proxy":
        where = f" for <code>{html.escape(target)}</code>" if target else ""
        note = (
            f"Try it out goes through <code>bankscore docs</code> on this machine{where}: it adds the key or "
            "token there, so this page never holds it."
        )
    else:
        note = (
            "Authorize takes <code>Bearer &lt;key&gt;</code> (the endpoint's key). It stays in this page's memory "
            "(not stored; reloading forgets it) and is sent only to this endpoint."
        )
    body = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{shown} — API docs</title>
<link rel="icon" type="image/png" sizes="32x32" href="{assets}favicon-32x32.png">
<link rel="icon" type="image/png" sizes="16x16" href="{assets}favicon-16x16.png">
<link rel="stylesheet" href="{assets}swagger-ui.css">
<link rel="stylesheet" href="{assets}{STYLESHEET}">
</head>
<body>
<p class="bankscore-docs-note">{note}</p>
<main id="swagger-ui" data-swagger-url="{root}swagger.json" aria-label="{shown} API documentation">
<noscript><p class="bankscore-docs-note">Swagger UI needs JavaScript; the contract itself is at
<a href="{root}swagger.json">swagger.json</a>.</p></noscript>
</main>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}{INITIALIZER}"></script>
</body>
</html>
"""
    return _answer(200, body.encode(), b"text/html; charset=utf-8", b"no-cache")


def answer(path: str, method: str, title: str, *, mode: Mode, target: str | None = None) -> DocsAnswer | None:
    """What `/docs`, `/docs/` and `/docs/<asset>` answer (None: not a docs path). GET and HEAD only."""
    if path != DOCS_PATH and not path.startswith(DOCS_PATH + "/"):
        return None
    if method not in ("GET", "HEAD"):
        body = orjson.dumps({"message": f"Use GET {path}"})
        return DocsAnswer(405, body, b"application/json", ((b"allow", b"GET, HEAD"), *_SECURITY_HEADERS))
    if path == DOCS_PATH:
        return page(title, root="./", mode=mode, target=target)
    name = path[len(DOCS_PATH) + 1 :]
    if not name:
        return page(title, root="../", mode=mode, target=target)
    return asset(name) or _not_found(path)
