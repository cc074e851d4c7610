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


def _preview(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
    return repr(text + ("…" if len(body) > limit else ""))


def as_api_error(failure: DecodeFailure, **context: Any) -> ModelError | ResponseDecodeError:
    cls = ModelError if failure.model_error else ResponseDecodeError
    return cls(str(failure), **context)
