"""What the pipeline and batch services share: the local workspace's paths, statuses, requests and answers.

The emulator plays one Azure ML workspace, `subscriptions/local/resourceGroups/local/.../workspaces/local`,
on the same server as the scoring endpoint. Its services answer plain data (a status and a JSON document),
so they can be tested without HTTP and the ASGI app stays the only place that speaks it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import unquote, urlsplit

import orjson

WORKSPACE_SEGMENTS: Final = (
    "subscriptions",
    "local",
    "resourceGroups",
    "local",
    "providers",
    "Microsoft.MachineLearningServices",
    "workspaces",
    "local",
)
WORKSPACE: Final = "/" + "/".join(WORKSPACE_SEGMENTS)
"""The ARM id of the one workspace the emulator plays."""


class RunStatus(StrEnum):
    """Azure ML's run statuses, the ones the emulator moves through."""

    NOT_STARTED = "NotStarted"
    RUNNING = "Running"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: Mapping[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Service(Protocol):
    """A set of routes the ASGI app hands requests to: it owns some paths and is closed with the server."""

    def owns(self, path: str) -> bool: ...

    def handle(self, request: Request) -> Answer: ...

    def close(self) -> None: ...


class RequestError(Exception):
    """A client mistake, answered as it is (4xx), never as a 500."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.get("message", ""))
        self.answer = answer


ERROR_CODES: Final = {400: "UserError", 404: "NotFound", 405: "MethodNotAllowed", 409: "Conflict", 415: "UserError"}


def error(status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Answer:
    """`{"message"}` as every route of this server answers, with Azure's `{"error": {"code", "message"}}` beside it."""
    code = ERROR_CODES.get(status, "UserError")
    return Answer(status, {"message": message, "error": {"code": code, "message": message}}, headers)


def method_not_allowed(allowed: str, what: str) -> Answer:
    return error(405, f"Use {allowed} {what}", ((b"allow", allowed.encode()),))


def json_object(request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or a RequestError saying what is wrong with it."""
    content_type = request.headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type and not (content_type == b"application/json" or content_type.endswith(b"+json")):
        shown = content_type.decode("latin-1")
        raise RequestError(error(415, f"Content-Type must be application/json, not {shown}"))
    if not request.body.strip():
        if empty_ok:
            return {}
        raise RequestError(error(400, "The request body is empty: send a JSON object"))
    try:
        document = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(error(400, f"The request body is not JSON: {exc}")) from None
    if not isinstance(document, dict):
        raise RequestError(error(400, f"The request body must be a JSON object, not {type(document).__name__}"))
    return document


def field_of(document: Mapping[str, Any], name: str) -> Any:
    """A field by name, whatever its capitalisation (Azure's services read JSON case-insensitively)."""
    if name in document:
        return document[name]
    lowered = name.lower()
    return next((value for key, value in document.items() if key.lower() == lowered), None)


def workspace_rest(segments: list[str], start: int) -> list[str] | None:
    """The path segments after the local workspace's id at `start`, or None when the path names another."""
    wanted = [s.lower() for s in WORKSPACE_SEGMENTS]
    found = [s.lower() for s in segments[start : start + len(wanted)]]
    return segments[start + len(wanted) :] if found == wanted else None


def segments_of(path: str) -> list[str]:
    return [unquote(s) for s in path.strip("/").split("/")]


def local_path(uri: str, *, windows: bool | None = None) -> Path | None:
    """The local path of a `file://` URI (file:///data/x.csv, file:///C:/data/x.csv), or None for anything else.

    `windows` (default: this platform) reads the URI as Windows does, drive letter and all; a parameter so the
    Windows reading is tested on every platform."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        return None
    if os.name == "nt" if windows is None else windows:
        import nturl2path

        return Path(nturl2path.url2pathname(parts.path))
    return Path(unquote(parts.path))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime | None) -> str | None:
    """Azure's timestamps: ISO 8601 in UTC with a Z."""
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
