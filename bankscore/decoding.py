"""Response bodies → one result per row, whatever generation of scoring script answered.

Azure bodies come plain (`{"Results": [...]}`), double-encoded (a JSON string holding
`{"result": [...]}`), or bare arrays, and a 200 may carry `{"error": ...}`. The decoder believes
the values it receives, not the swagger's declared output type.
"""

from __future__ import annotations

from typing import Any

import orjson

from ._exceptions import ModelError, ResponseDecodeError


class DecodeFailure(Exception):
    """Internal: the body isn't scores; the caller adds status, request ids and rows."""

    def __init__(self, message: str, *, model_error: bool = False) -> None:
        super().__init__(message)
        self.model_error = model_error


def decode(body: bytes, expected_rows: int) -> list[Any]:
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DecodeFailure(f"the answer is not JSON: {_preview(body)}") from None
    if isinstance(document, str):  # gen A: a JSON string holding JSON
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError:
            raise DecodeFailure(f"the answer is a string that is not JSON: {_preview(body)}") from None
    results: Any
    if isinstance(document, list):
        results = document
    elif isinstance(document, dict):
        if "error" in document and "result" not in document:
            raise DecodeFailure(f"the model failed: {document['error']}", model_error=True)
        for key in ("Results", "result", "predictions", "outputs"):
            if key in document:
                results = document[key]
                break
        else:
            keys = ", ".join(sorted(document)) or "none"
            raise DecodeFailure(f"the answer holds no results (keys: {keys})")
    else:
        raise DecodeFailure(f"the answer is {type(document).__name__}, not results: {_preview(body)}")
    if isinstance(results, dict) and "data" in results:  # pandas split orient
        results = results["data"]
    if not isinstance(results, list):
        raise DecodeFailure(f"the results are {type(results).__name__}, not a list")
    if len(results) != expected_rows:
        raise DecodeFailure(f"sent {expected_rows} rows but got {len(results)} results")
    return results


def cut_short(body: bytes, declared_length: int | None = None) -> str | None:
    """Why this body is the start of a longer one, or None when it is whole (however wrong it may be).

    Judged from the bytes alone: fewer than Content-Length promised, or a JSON document that stops
    before its last string, array or object is closed. A complete page that isn't JSON (HTML from a
    proxy), a complete document that isn't scores and an empty body are whole: trying again won't help.
    """
    if declared_length is not None and len(body) < declared_length:
        return f"got {len(body)} of the {declared_length} bytes its Content-Length announced"
    text = body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:  # cut inside a multi-byte character: judge the bytes before it
        if exc.end != len(body) or exc.start < len(body) - 3:
            return None
        text = body[: exc.start]
    stripped = text.strip()
    if stripped[:1] not in (b"{", b"[", b'"'):
        return None
    try:
        orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        # orjson counts characters of the text it decoded; an error past the last one is an early end.
        document = exc.doc if isinstance(exc.doc, str) else stripped.decode("utf-8", "replace")
        if exc.pos >= len(document.rstrip()):
            return f"its JSON ends after {len(body)} bytes, before the document is closed"
    return None


def _preview(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
    return repr(text + ("…" if len(body) > limit else ""))


def as_api_error(failure: DecodeFailure, **context: Any) -> ModelError | ResponseDecodeError:
    cls = ModelError if failure.model_error else ResponseDecodeError
    return cls(str(failure), **context)
