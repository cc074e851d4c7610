"""Error answers → one short line a person can act on, whoever wrote the body.

A scoring call meets bodies from many writers: ACI's front end (text/plain), Microsoft's inference
server (`{"message"}`), ARM (`{"error": {"code", "message", "details"}}`), Azure ML data-plane services
(`{"Error": {...}, "Correlation": {...}}`), batch-endpoint validation lists, the Entra token endpoint
(`{"error", "error_description"}`), managed online endpoints (bare codes such as
`key_auth_access_denied`, 408/424/429 with headers that say more) and proxies (HTML pages, empty
bodies). Each is read here into a message of one line and bounded length, the service's error code
and any correlation id it carries. Keys are redacted before anything is cut or shown: a body that
echoes the Authorization header or the key must not put it into an exception or a log.
"""

from __future__ import annotations

import html
import http
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

MESSAGE_LIMIT: Final = 300
"""Characters of the message proper; the exception adds status, rows and request ids after it."""

BODY_LIMIT: Final = 4_000
"""Characters of the (redacted) body kept on the exception for whoever debugs it."""

_PARSE_LIMIT: Final = 1 << 20  # error bodies are small; a bigger one is shown, not parsed
REDACTED: Final = "<redacted>"

# RFC 6750 b64token after an auth scheme; `<token>` in ACI's own message is not a token.
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})")
# An echoed header without the scheme ("Authorization: abc123", "authorization=abc123").
_AUTH_VALUE = re.compile(r"""(?i)(authorization["']?\s*[:=]\s*["']?)(?!bearer\b|basic\b|<)([^\s"',;}]{8,})""")
_CODE_ONLY = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")  # key_auth_access_denied
_TAG = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>")
_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title\s*>")
_H1 = re.compile(r"(?is)<h1[^>]*>(.*?)</h1\s*>")

# Managed online endpoints answer some auth failures with a bare code (text/plain).
_KNOWN_CODES: Final = {
    "key_auth_access_denied": "the endpoint refused the key: check it is this endpoint's primary or secondary key",
    "key_auth_bad_header_forbidden": "the Authorization header is malformed: it must be 'Bearer <key>'",
    "aml_token_auth_access_denied": "the endpoint refused the token: get a fresh one",
}
_AUTH_CODES: Final = frozenset(
    {*_KNOWN_CODES, "invalid_client", "unauthorized_client", "invalid_grant", "InvalidAuthenticationToken"}
)

# What the message says first, for the statuses whose number alone misleads.
_FRAMES: Final = {
    408: "the request timed out at the endpoint before the model answered (the model may still be running it; "
    "if this lasts, raise the deployment's request timeout or send fewer rows per request)",
    413: "the request is too large for the service",
    431: "the request's headers are too large for the service (Microsoft's server refuses request-id headers "
    "over 100 characters)",
    504: "the gateway timed out waiting for the service (the model may still be running the request)",
}
_PENDING = "the deployment has too many requests in flight (managed endpoints take 2 × max_concurrent_requests_per_instance × instances at once): lower the client's concurrency or add instances"  # noqa: E501
_RATE = "the endpoint's rate limit was reached: send more rows per request, less often"
_TOO_MANY = "too many requests"
_HTML_NOTE = "(an HTML page, likely from a proxy or gateway in front of the service)"

# What the message says when the body says nothing.
_DEFAULTS: Final = {
    400: "the service refused the request",
    401: "the service refused the key, or none was sent",
    403: "access denied",
    404: "not found: check the scoring URI",
    405: "method not allowed: check the scoring URI",
    415: "the service refused the content type",
    422: "the service could not process the rows",
    500: "the service failed",
    502: "bad gateway: the service behind the gateway did not answer properly",
    503: "the service is unavailable or overloaded",
}

_OAUTH_DETAIL_END = re.compile(r"\s*(Trace ID|Correlation ID|Timestamp):", re.IGNORECASE)


@dataclass(frozen=True)
class ErrorBody:
    """What an error answer says, ready to show."""

    message: str
    code: str | None = None
    correlation_id: str | None = None
    auth_failure: bool = False
    text: str = ""  # the body itself, redacted and bounded


@dataclass(frozen=True)
class _Reading:
    text: str
    code: str | None = None
    correlation_id: str | None = None
    auth_failure: bool = False
    informative: bool = True
    html: bool = False


def describe(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str] = (),
    reason: str | None = None,
) -> ErrorBody:
    """The one-line message, code and correlation id of a non-200 answer, with every secret redacted."""
    reading = _read(body, headers.get("content-type", ""))
    if reading.html:  # the proxy's own words (its title), and where they come from
        said = f"{reading.text} {_HTML_NOTE}" if reading.text else _HTML_NOTE
    elif reading.informative and not _is_reason(reading.text, status, reason):
        said = reading.text
    else:
        said = ""
    message = _frame(status, headers, said, reading, reason)
    return ErrorBody(
        message=one_line(redact(message, secrets)),
        code=redact(reading.code, secrets) if reading.code else None,
        correlation_id=redact(reading.correlation_id, secrets) if reading.correlation_id else None,
        auth_failure=reading.auth_failure,
        text=redact(body[:BODY_LIMIT].decode("utf-8", "replace"), secrets),
    )


def _frame(status: int, headers: Mapping[str, str], said: str, reading: _Reading, reason: str | None) -> str:
    """What the status means, first where its number alone misleads, then what the body said."""
    frame = _meaning(status, headers, reading, reason)
    if frame is None:
        if said:
            return said
        frame = _DEFAULTS.get(status) or _phrase(status) or f"HTTP {status}"
    if said:
        return f"{frame}: {said}"
    return frame if reading.text else f"{frame} (empty body)"


def _meaning(status: int, headers: Mapping[str, str], reading: _Reading, reason: str | None) -> str | None:
    if status == 424:  # managed endpoints: the model container answered non-200
        model_status = headers.get("ms-azureml-model-error-statuscode")
        model_reason = headers.get("ms-azureml-model-error-reason")
        if not (model_status or model_reason):
            return "the model failed (HTTP 424 from the endpoint)"
        shown = f"HTTP {model_status}" if model_status else "an error"
        return f"the model failed: its container answered {shown}" + (f" ({model_reason})" if model_reason else "")
    if status == 429:
        frame = _rate_limit_frame(" ".join(filter(None, (reading.text, reason))), headers)
        retry_after = headers.get("retry-after")
        return frame + (f" (Retry-After: {retry_after.strip()[:40]})" if retry_after else "")
    if status in _FRAMES:
        return _FRAMES[status]
    location = headers.get("location")
    if 300 <= status < 400 and location:
        return f"the endpoint redirected to {location[:200]} (the client follows no redirects: use that URI)"
    return None


def _rate_limit_frame(said: str, headers: Mapping[str, str]) -> str:
    """Managed endpoints answer 429 for too many requests in flight and for their rate limit: tell which."""
    lowered = said.lower()
    if "pending" in lowered or "concurren" in lowered or "in flight" in lowered:
        return _PENDING
    rate_headers = any(name.lower().startswith(("x-ratelimit", "ratelimit", "x-ms-ratelimit")) for name in headers)
    if rate_headers or re.search(r"rate.?limit|per second|throttl|quota", lowered):
        return _RATE
    return _TOO_MANY


# ---------------------------------------------------------------------------------------- reading a body


def _read(body: bytes, content_type: str) -> _Reading:
    if not body.strip():
        return _Reading("", informative=False)
    text = body[:_PARSE_LIMIT].decode("utf-8", "replace").lstrip("\ufeff")
    stripped = text.strip()
    if "html" in content_type.lower() or stripped[:14].lower().startswith(("<!doctype html", "<html")):
        return _html(stripped)
    if len(body) <= _PARSE_LIMIT and stripped[:1] in ("{", "[", '"'):
        try:
            document = orjson.loads(body.lstrip(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError:
            pass
        else:
            return _document(document, depth=0)
    if _CODE_ONLY.fullmatch(stripped):
        return _code_only(stripped)
    return _Reading(_with_listed_failures(stripped), auth_failure=_malformed_header(stripped))


def _html(text: str) -> _Reading:
    visible = _HIDDEN.sub(" ", text)
    for pattern in (_TITLE, _H1):
        found = pattern.search(visible)
        if found and _clean(found.group(1)):
            return _Reading(_clean(found.group(1)), html=True)
    return _Reading(_clean(visible), html=True, informative=bool(_clean(visible)))


def _clean(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _code_only(code: str) -> _Reading:
    explained = _KNOWN_CODES.get(code)
    return _Reading(f"{code}: {explained}" if explained else code, code=code, auth_failure=code in _AUTH_CODES)


def _malformed_header(text: str) -> bool:
    return "authorization header is malformed" in text.lower()


def _document(document: Any, depth: int) -> _Reading:
    if isinstance(document, str):
        inner = document.strip()
        if depth == 0 and inner[:1] in ("{", "[", '"'):  # double-encoded, as gen-A services answer
            try:
                return _document(orjson.loads(inner), depth + 1)
            except orjson.JSONDecodeError:
                pass
        if _CODE_ONLY.fullmatch(inner):
            return _code_only(inner)
        return _Reading(_with_listed_failures(inner), auth_failure=_malformed_header(inner), informative=bool(inner))
    if isinstance(document, list):
        failures = _validation_failures(document)
        return _Reading(failures or _compact(document))
    if not isinstance(document, dict):
        return _Reading(_compact(document))
    keys = {str(k).lower(): k for k in document}
    error = document.get(keys["error"]) if "error" in keys else None
    if isinstance(error, dict):  # ARM or Azure ML data plane
        correlation = document.get(keys["correlation"]) if "correlation" in keys else None
        return _envelope(error, correlation)
    if isinstance(error, str) and "error_description" in keys:  # Entra token endpoint (OAuth 2)
        return _oauth(error, document, keys)
    message = _first_text(document, keys, ("message", "error", "detail", "title", "error_message", "errormessage"))
    code = _first_text(document, keys, ("code", "errorcode", "error_code"))
    failures = _failures_among(document.values())
    if message is None and "detail" in keys and isinstance(document[keys["detail"]], list):
        failures = failures or _pydantic_details(document[keys["detail"]])
    if message is not None:
        text = _with_listed_failures(message)
        if failures and failures not in text:
            text = _then(text, failures)
        if code and code not in text:
            text = f"{code}: {text}"
        auth = _malformed_header(message) or (code in _AUTH_CODES if code else False)
        return _Reading(text, code=code, auth_failure=auth, informative=bool(text.strip()))
    if failures:
        return _Reading(failures, code=code)
    return _Reading(_compact(document), code=code)


def _envelope(error: Mapping[str, Any], correlation: Any) -> _Reading:
    """`{"code", "message", "target", "details", "innerError", "additionalInfo"}`, either capitalisation."""
    keys = {str(k).lower(): k for k in error}
    code = _first_text(error, keys, ("code",))
    message = _first_text(error, keys, ("message",)) or ""
    target = _first_text(error, keys, ("target",))
    inner: list[str] = []
    node = error.get(keys["innererror"]) if "innererror" in keys else None
    while isinstance(node, Mapping) and len(inner) < 5:
        node_keys = {str(k).lower(): k for k in node}
        inner_code = _first_text(node, node_keys, ("code",))
        if inner_code:
            inner.append(inner_code)
        node = node.get(node_keys["innererror"]) if "innererror" in node_keys else None
    head = code or ""
    if inner:
        head += f" ({' > '.join(inner)})"
    text = f"{head}: {message}" if head and message else head or message
    if target:
        text += f" (target {target})"
    details = error.get(keys["details"]) if "details" in keys else None
    if isinstance(details, list) and details:
        text = _then(text, _validation_failures(details) or _details(details))
    else:
        text = _with_listed_failures(text)
    correlation_id = None
    if isinstance(correlation, Mapping):
        c_keys = {str(k).lower(): k for k in correlation}
        correlation_id = _first_text(correlation, c_keys, ("request", "operation"))
    auth = code in _AUTH_CODES if code else False
    return _Reading(text, code=code, correlation_id=correlation_id, auth_failure=auth, informative=bool(text))


def _details(details: Sequence[Any], shown: int = 2) -> str:
    parts: list[str] = []
    for detail in details[:shown]:
        if isinstance(detail, Mapping):
            keys = {str(k).lower(): k for k in detail}
            code = _first_text(detail, keys, ("code",))
            message = _first_text(detail, keys, ("message",))
            parts.append(": ".join(p for p in (code, message) if p) or _compact(detail))
        else:
            parts.append(str(detail))
    more = f"; and {len(details) - shown} more" if len(details) > shown else ""
    return "Details: " + "; ".join(parts) + more


def _oauth(error: str, document: Mapping[str, Any], keys: Mapping[str, Any]) -> _Reading:
    description = str(document.get(keys["error_description"]) or "")
    description = _OAUTH_DETAIL_END.split(description, maxsplit=1)[0].strip()
    correlation = _first_text(document, keys, ("correlation_id", "trace_id"))
    text = f"{error}: {description}" if description else error
    return _Reading(text, code=error, correlation_id=correlation, auth_failure=error in _AUTH_CODES)


_FAILURE_KEYS: Final = ("propertyname", "errormessage")


def _is_failure(item: Any) -> bool:
    return isinstance(item, Mapping) and {str(k).lower() for k in item} >= set(_FAILURE_KEYS)


def _validation_failures(candidate: Any, shown: int = 3) -> str:
    """A batch-validation list (`PropertyName`, `ErrorMessage`, `AttemptedValue`, `ErrorCode`), readably."""
    if not (isinstance(candidate, list) and candidate and all(_is_failure(i) for i in candidate)):
        return ""
    parts = [_failure(item) for item in candidate[:shown]]
    more = f"; and {len(candidate) - shown} more" if len(candidate) > shown else ""
    return "; ".join(parts) + more


def _failures_among(values: Iterable[Any]) -> str:
    """The first batch-validation list among a document's values."""
    return next((found for found in map(_validation_failures, values) if found), "")


def _failure(item: Mapping[str, Any]) -> str:
    keys = {str(k).lower(): k for k in item}
    name = _first_text(item, keys, ("propertyname",)) or "(request)"
    message = _first_text(item, keys, ("errormessage",)) or "invalid"
    extras = []
    if "attemptedvalue" in keys and item[keys["attemptedvalue"]] is not None:
        attempted = item[keys["attemptedvalue"]]
        shown = attempted if isinstance(attempted, str) else _compact(attempted)
        extras.append(f"got {shown if len(shown) <= 40 else shown[:39] + '…'!r}")
    code = _first_text(item, keys, ("errorcode",))
    if code:
        extras.append(code)
    return f"{name}: {message}" + (f" ({', '.join(extras)})" if extras else "")


def _with_listed_failures(text: str) -> str:
    """'A sentence. [{"PropertyName": ...}, ...]' — the sentence, then the list read out."""
    start = text.find("[")
    if start < 0 or "propertyname" not in text.lower():
        return text
    try:
        listed = orjson.loads(text[start:].strip())
    except orjson.JSONDecodeError:
        return text
    failures = _validation_failures(listed) if isinstance(listed, list) else ""
    if not failures:
        return text
    return _then(text[:start].strip(), failures)


def _then(sentence: str, more: str) -> str:
    """A sentence and what it introduces, punctuated once."""
    if not sentence:
        return more
    if sentence.endswith((".", ":", ";")):
        return f"{sentence} {more}"
    return f"{sentence}: {more}"


def _pydantic_details(details: Sequence[Any], shown: int = 3) -> str:
    parts = []
    for detail in details[:shown]:
        if isinstance(detail, Mapping) and "msg" in detail:
            where = ".".join(str(p) for p in detail.get("loc", ()))
            parts.append(f"{where}: {detail['msg']}" if where else str(detail["msg"]))
    more = f"; and {len(details) - shown} more" if len(details) > shown else ""
    return "; ".join(parts) + more if parts else ""


def _first_text(document: Mapping[str, Any], keys: Mapping[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        if name in keys:
            value = document[keys[name]]
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
    return None


def _compact(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()[: MESSAGE_LIMIT * 2]
    except TypeError:
        return repr(value)[: MESSAGE_LIMIT * 2]


def _phrase(status: int) -> str | None:
    try:
        return http.HTTPStatus(status).phrase.lower()
    except ValueError:
        return None


_SAME_AS_STATUS: Final = {
    408: ("request timed out", "timeout", "request timeout"),
    413: ("payload too large", "request entity too large", "content too large"),
    429: ("too many requests",),
    431: ("request header fields too large", "request header too large"),
    502: ("bad gateway",),
    503: ("service unavailable",),
    504: ("gateway timeout", "gateway time-out"),
}


def _alnum(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _is_reason(text: str, status: int, reason: str | None) -> bool:
    """A body that only repeats the status's name ("Too Many Requests") says nothing more than the status."""
    names = [n for n in (_phrase(status), reason, *_SAME_AS_STATUS.get(status, ())) if n]
    said = _alnum(text)
    return any(said in (_alnum(n), f"{status}{_alnum(n)}") for n in names)


# ---------------------------------------------------------------------------------------- showing text


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """The text without the given secrets, nor any token after `Bearer`/`Basic` or an `Authorization:` echo."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _SCHEME_TOKEN.sub(lambda m: m.group(1) + m.group(2) + _token(m.group(3)), text)
    return _AUTH_VALUE.sub(lambda m: m.group(1) + _token(m.group(2)), text)


def _token(word: str) -> str:
    """A word that looks like a key or token (a digit, a symbol or a capital inside it), redacted; a word kept."""
    looks_random = len(word) >= 20 or any(c.isdigit() or c in "._~+/=-" for c in word)
    looks_random = looks_random or any(c.isupper() for c in word[1:])
    return REDACTED if looks_random else word


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Whitespace (newlines included) folded to single spaces, control characters dropped, cut at `limit`."""
    folded = " ".join("".join(c if c.isprintable() or c.isspace() else " " for c in text).split())
    return folded if len(folded) <= limit else folded[: limit - 1].rstrip() + "…"
