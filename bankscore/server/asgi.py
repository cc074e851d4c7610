"""The few ASGI pieces both of the wing's apps (the endpoint and the docs proxy) are written on.

Plain ASGI rather than a framework: each app has a handful of routes, and every byte of the hot path is ours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by (lower-case) name; a repeated header keeps its last value."""
    return dict(scope["headers"])


async def lifespan(receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]]) -> None:
    """Answer the server's lifespan messages, running `on_shutdown` before it is told shutdown is complete."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


class Disconnected(Exception):
    """The client went away before its request body was read."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes `limit` bytes (the rest is never read: the
    connection closes with the answer); raises Disconnected when the client leaves first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
