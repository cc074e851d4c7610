"""A misbehaving HTTP proxy on loopback: forwards to a real endpoint, and on the requests it picks answers
429 (with or without Retry-After), 408, 502 (an HTML page, as gateways send), 503, 504, resets the
connection before or in the middle of the answer, stalls past the client's timeout, truncates the
body, or answers 200 with a gen-A `{"error": ...}` (or 400). Only POSTs are faulted; GETs (swagger,
health) always pass, so a client can set itself up.

With `max_in_flight=N` it is also an overloaded service: a POST that arrives while N are already being
answered gets 429 at once (no Retry-After). `post_times` has each POST's arrival (`time.monotonic()`),
`in_flight_peak` the most POSTs it was answering at once.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx
import orjson

TRANSIENT: Final = (
    "429-retry-after", "429", "408", "502-html", "503", "504", "reset-before", "reset-mid", "truncate", "stall",
)  # fmt: skip
PERMANENT: Final = ("model-error-200", "400")
_REASONS: Final = {200: "OK", 400: "Bad Request", 408: "Request Timeout", 429: "Too Many Requests",
                   502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip
HTML_502: Final = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"  # noqa: E501


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rate: float = 0.0,
        faults: Sequence[str] = TRANSIENT,
        schedule: Mapping[int, str] | None = None,
        seed: int = 0,
        stall_s: float = 3.0,
        max_in_flight: int | None = None,
        retry_after: str = "0",
    ) -> None:
        """`schedule` maps the n-th POST (0-based) to a fault; other POSTs draw one with probability `rate`.

        `retry_after` is the Retry-After the "429-retry-after" fault sends.
        """
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.faults = tuple(faults)
        self.schedule = dict(schedule or {})
        self.stall_s = stall_s
        self.injected: Counter[str] = Counter()
        self.posts = 0
        self.passed = 0
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after
        self.overloaded = 0  # 429s answered for being over max_in_flight
        self.in_flight = 0
        self.in_flight_peak = 0
        self.post_times: list[float] = []
        self.fault_times: list[tuple[float, str]] = []
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scoring_uri(self) -> str:
        return f"{self.base_url}/score"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(timeout=60, trust_env=False)
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method != "POST":
                    keep = await self._answer(writer, method, target, headers, body, None)
                else:
                    keep = await self._post(writer, target, headers, body)
                if not keep:
                    return
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _post(self, writer: asyncio.StreamWriter, target: str, headers: dict[str, str], body: bytes) -> bool:
        """One POST: 429 when over `max_in_flight`, else a fault drawn or forwarded, counted while it is answered."""
        self.post_times.append(time.monotonic())
        if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
            return await self._answer(writer, "POST", target, headers, body, "overload")
        fault = self._pick()
        self.in_flight += 1
        self.in_flight_peak = max(self.in_flight_peak, self.in_flight)
        try:
            return await self._answer(writer, "POST", target, headers, body, fault)
        finally:
            self.in_flight -= 1

    def _pick(self) -> str | None:
        number = self.posts
        self.posts += 1
        fault = self.schedule.get(number)
        if fault is None and self.rate and self._rng.random() < self.rate:
            fault = self._rng.choice(self.faults)
        if fault is not None:
            self.injected[fault] += 1
            self.fault_times.append((time.monotonic(), fault))
        return fault

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        fault: str | None,
    ) -> bool:
        """Write one answer; False when the connection must end."""
        if fault == "reset-before":
            writer.transport.abort()
            return False
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
            writer.transport.abort()
            return False
        if fault == "overload":
            self.overloaded += 1
        simple = {
            "overload": (429, b'{"message": "Too many requests in flight"}', "application/json", {}),
            "429-retry-after": (429, b'{"message": "Too many requests"}', "application/json",
                                {"retry-after": self.retry_after}),
            "429": (429, b'{"message": "Too many requests"}', "application/json", {}),
            "408": (408, b'{"message": "Request timed out"}', "application/json", {}),
            "502-html": (502, HTML_502, "text/html", {}),
            "503": (503, b'{"message": "Service unavailable"}', "application/json", {}),
            "504": (504, b'{"message": "Gateway timeout"}', "application/json", {}),
            "400": (400, b'{"message": "Injected bad request"}', "application/json", {}),
            "model-error-200": (200, orjson.dumps(orjson.dumps({"error": "Injected model error"}).decode()),
                                "application/json", {}),
        }  # fmt: skip
        if fault in simple:
            status, payload, content_type, extra = simple[fault]
            self._write(writer, status, payload, {"content-type": content_type, **extra})
            await writer.drain()
            return True
        forwarded = {k: v for k, v in headers.items() if k not in ("host", "content-length", "connection")}
        reply = await self._http.request(method, self.upstream + target, content=body, headers=forwarded)
        payload = reply.content
        passthrough = {k: v for k, v in reply.headers.items() if k.startswith("x-ms-") or k == "content-type"}
        if fault in ("reset-mid", "truncate"):
            cut = max(1, len(payload) // 2)
            head = self._head(reply.status_code, len(payload), passthrough)
            writer.write(head + payload[:cut])
            await writer.drain()
            if fault == "reset-mid":
                writer.transport.abort()  # RST in the middle of the body
            else:
                writer.close()  # a clean FIN, but the body is short of its Content-Length
            return False
        self.passed += method == "POST"
        self._write(writer, reply.status_code, payload, passthrough)
        await writer.drain()
        return True

    def _write(self, writer: asyncio.StreamWriter, status: int, payload: bytes, headers: Mapping[str, str]) -> None:
        writer.write(self._head(status, len(payload), headers) + payload)

    @staticmethod
    def _head(status: int, length: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-length: {length}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HoldingProxy(FaultProxy):
    """Forwards every request; POSTs numbered `hold_from` and later are held, unanswered, until the proxy stops."""

    hold_from: int | None = None

    async def _answer(self, writer: Any, method: str, target: str, headers: Any, body: bytes, fault: Any) -> bool:
        if method == "POST" and self.hold_from is not None and self.posts > self.hold_from:
            await asyncio.Event().wait()  # cancelled when the proxy stops
        return await super()._answer(writer, method, target, headers, body, fault)
