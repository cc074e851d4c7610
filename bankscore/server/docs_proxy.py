"""`bankscore docs`: Swagger UI for any endpoint's contract, with the key or token kept out of the browser.

Managed online endpoints don't answer CORS, and a key typed into a web page is a key handed to it. So the page
comes from this machine, and so does everything it calls: a same-origin proxy on 127.0.0.1 serves the page and
its assets (`swagger_ui`), the endpoint's swagger found as the SDK finds it (OpenAPI-3 fallback included) and
rewritten so "Try it out" comes here, and `POST /score`, which it forwards to the endpoint's scoring URI with
the key or Entra token added on this side. It forwards nothing else (no open proxy), limits request bodies,
answers only requests addressed to a loopback host from its own pages, and logs each request as the embedded
endpoint does, without the credential.
"""

# ruff: noqa: E402 (the extra is checked before its libraries are imported: a missing one is one clear line)
from __future__ import annotations

import contextlib
import copy
import logging
import socket
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from .._extras import check

check("server", "bankscore docs")  # before the imports it checks for

import httpx
import orjson
import uvicorn

from .._base_client import CLIENT_REQUEST_ID, ClientOptions, new_client_request_id, scoring_uri
from .._client import AsyncScoringClient
from .._types import AsyncTokenCredential, SwaggerSource, TokenCredential, Verify
from ..contract import parse_swagger
from ..credentials import ML_SCOPE, Authorizer, TokenAuth, authorizer, check_token_transport, is_loopback
from .asgi import Disconnected, Receive, Scope, Send, lifespan, read_body, request_headers
from .swagger_ui import DOCS_PATH
from .swagger_ui import answer as docs_answer
from .swagger_ui import page as docs_page

DEFAULT_PORT: Final = 8765
DEFAULT_MAX_BODY_BYTES: Final = 10 * 1024 * 1024
"""Plenty for rows typed into a page (10,000 rows are about 4 MB), small enough that a stray upload stops here."""

access_logger = logging.getLogger("bankscore.docs.access")

# What a browser may add to the scoring request and have forwarded; everything else (cookies, Authorization
# typed into the page, the browser's own headers) stays here.
_FORWARDED_REQUEST: Final = (b"content-type", b"accept", b"azureml-model-deployment")
# What comes back to the page from the endpoint's answer: its body's type and what Azure's answers say about
# themselves. Hop-by-hop headers, cookies and authentication challenges stay here.
_RELAYED_RESPONSE: Final = (
    "content-type", "x-ms-request-id", "x-request-id", "x-ms-client-request-id", "x-ms-run-function-failed",
    "x-ms-run-fn-exec-ms", "x-ms-server-version", "retry-after", "retry-after-ms", "x-ms-retry-after-ms",
    "ms-azureml-model-error-statuscode", "ms-azureml-model-error-reason", "azureml-model-deployment",
)  # fmt: skip
_NO_STORE: Final = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
_PROXY_NOTE: Final = "Shown by `bankscore docs`, which forwards the score operation alone: the others are left out."


def shown_url(url: str) -> str:
    """`url` without user info, query or fragment: what the page and the log may show of an address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


# ------------------------------------------------------------------------------ the document, rewritten


def same_origin_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoint's swagger as the proxy's page shows it: "Try it out" targets the proxy's own origin, no
    operation asks for credentials (the proxy adds them, so there is no Authorize button), and only the score
    operation is listed, at `/score`, since it is all the proxy forwards. An OpenAPI 3.1 document is rendered
    as 3.0 (`openapi_30`), which is what Swagger UI 4 reads."""
    score_path = parse_swagger(document).score_path
    rewritten = copy.deepcopy(dict(document))
    if str(rewritten.get("openapi", "")).startswith("3.1"):
        rewritten = openapi_30(rewritten)
    operations = dict(rewritten.get("paths") or {}).get(score_path) or {}
    score = {verb: dict(op) for verb, op in operations.items() if isinstance(op, Mapping)}
    for op in score.values():
        op.pop("security", None)
        op.pop("servers", None)
    rewritten["paths"] = {"/score": score}
    rewritten.pop("security", None)
    if "swagger" in rewritten:
        rewritten.pop("host", None)
        rewritten.pop("basePath", None)
        rewritten["schemes"] = ["http"]
        rewritten.pop("securityDefinitions", None)
    else:
        rewritten["servers"] = [{"url": "/"}]
        components = rewritten.get("components")
        if isinstance(components, dict):
            components.pop("securitySchemes", None)
    info = dict(rewritten.get("info") or {})
    described = str(info.get("description") or "").strip()
    info["description"] = f"{described}\n\n{_PROXY_NOTE}" if described else _PROXY_NOTE
    rewritten["info"] = info
    return rewritten


def openapi_30(document: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.1 document as 3.0.3, for Swagger UI 4 (which renders 2.0 and 3.0, not 3.1).

    3.1's JSON Schema becomes 3.0's where they differ in what scoring documents use: a type list with "null"
    (→ `nullable`), `const` (→ a one-value enum), a schema's `examples` list (→ `example`), numeric
    `exclusiveMinimum`/`exclusiveMaximum` (→ the bound and the boolean); `webhooks` and `jsonSchemaDialect`,
    which 3.0 lacks, are dropped. The document is marked `x-bankscore-rendered-from`."""
    converted: dict[str, Any] = _schema_30(copy.deepcopy(dict(document)))
    version = str(converted.get("openapi", ""))
    converted["openapi"] = "3.0.3"
    converted.pop("webhooks", None)
    converted.pop("jsonSchemaDialect", None)
    converted["x-bankscore-rendered-from"] = version
    return converted


def _schema_30(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _schema_30(value) for key, value in node.items()}
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            out.pop("type")
            if kinds:
                out["anyOf"] = [{"type": k} for k in kinds]
    if "const" in out and "enum" not in out:
        out["enum"] = [out.pop("const")]
    examples = out.get("examples")
    if isinstance(examples, list):  # a schema's list (a media type's or parameter's examples is a map in both)
        out.pop("examples")
        if examples and "example" not in out:
            out["example"] = examples[0]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[inclusive] = value
            out[bound] = True
    return out


# ------------------------------------------------------------------------------ the proxy


@dataclass
class _Exchange:
    """What one request learned on its way, for its log line."""

    request_id: str
    client_request_id: str
    started: float
    upstream_status: int | None = None
    upstream_ms: float | None = None
    bytes_in: int | None = None
    refused: str | None = None  # why the proxy refused to forward (a short word)


class DocsProxy:
    """The ASGI app of `bankscore docs` for one endpoint: the page, its assets, the rewritten swagger, /score.

    The credential is resolved as the clients resolve theirs: `credential` (an azure-core TokenCredential, sync or
    async, or a TokenAuth) for an endpoint in `aad_token` mode, else `key`, `key_file`, then `$BANKSCORE_KEY`
    (and the secondary key, tried once when the endpoint refuses the primary). `swagger` is where the contract
    comes from, as the clients' `swagger=`; by default the endpoint's own, found with the OpenAPI-3 fallback.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        key: str | None = None,
        key_file: str | Path | None = None,
        credential: TokenCredential | AsyncTokenCredential | TokenAuth | None = None,
        swagger: SwaggerSource = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        timeout: float = 60.0,
        verify: Verify = True,
        title: str | None = None,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        self.scoring_uri = scoring_uri(endpoint)
        self.target = shown_url(self.scoring_uri)
        self.max_body_bytes = max_body_bytes
        self.title = title
        self._auth: Authorizer = authorizer(credential, ML_SCOPE, key=key, key_file=key_file)
        if isinstance(self._auth, TokenAuth):
            check_token_transport(self.scoring_uri)
            self._contracts = AsyncScoringClient(
                self.scoring_uri, credential=self._auth, swagger=swagger, timeout=timeout, verify=verify
            )
        else:
            self._contracts = AsyncScoringClient(
                self.scoring_uri, key=key, key_file=key_file, swagger=swagger, timeout=timeout, verify=verify
            )
        options = ClientOptions(endpoint=self.scoring_uri, timeout=timeout, verify=verify)
        self._http = httpx.AsyncClient(**options.httpx_kwargs())

    def __repr__(self) -> str:
        return f"DocsProxy(endpoint={self.target!r}, credential={self._auth!r})"

    @property
    def sends_credential(self) -> bool:
        """False when there is neither a token source nor a key: requests then go as they come, without one."""
        return isinstance(self._auth, TokenAuth) or self._auth.authorization() is not None

    @property
    def credential_kind(self) -> str:
        """What the proxy adds, for people: "Microsoft Entra token" or "key"."""
        return "Microsoft Entra token" if isinstance(self._auth, TokenAuth) else "key"

    async def aclose(self) -> None:
        await self._contracts.aclose()
        await self._http.aclose()

    # ------------------------------------------------------------------------------ ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self.aclose)
            return
        if scope["type"] != "http":
            return
        headers = request_headers(scope)
        given = headers.get(b"x-ms-client-request-id", b"").decode("latin-1")
        exchange = _Exchange(
            request_id=str(uuid.uuid4()),
            client_request_id=given if CLIENT_REQUEST_ID.fullmatch(given) else new_client_request_id(),
            started=time.perf_counter(),
        )
        status = 500
        try:
            status = await self._route(scope, receive, send, headers, exchange)
        except Disconnected:
            status = 499
        except Exception:
            logging.getLogger("bankscore.docs").exception("unhandled error in request %s", exchange.request_id)
            status = await self._json(send, 500, {"message": f"Internal error (request id {exchange.request_id})"})
        self._log(scope, exchange, status)

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes], exchange: _Exchange
    ) -> int:
        path: str = scope["path"]
        method: str = scope["method"]
        host = headers.get(b"host", b"").decode("latin-1")
        if host and not is_loopback(urlsplit(f"//{host}").hostname or ""):
            # A page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing from here.
            exchange.refused = "host"
            return await self._json(
                send, 403, {"message": f"bankscore docs answers requests for 127.0.0.1 or localhost, not {host}"}
            )
        if path == "/score":
            if method != "POST":
                allow = [(b"allow", b"POST")]
                return await self._json(send, 405, {"message": "Use POST /score with a JSON body"}, allow)
            origin = headers.get(b"origin")
            if origin is not None and urlsplit(origin.decode("latin-1")).netloc != host:
                exchange.refused = "origin"
                message = f"bankscore docs scores only for its own page, not for {origin.decode('latin-1')}"
                return await self._json(send, 403, {"message": message})
            return await self._forward(receive, send, headers, exchange)
        if path == "/swagger.json":
            if method not in ("GET", "HEAD"):
                return await self._json(send, 405, {"message": "Use GET /swagger.json"}, [(b"allow", b"GET, HEAD")])
            return await self._swagger(send, exchange)
        if path == "/":
            if method not in ("GET", "HEAD"):
                return await self._json(send, 405, {"message": "Use GET /"}, [(b"allow", b"GET, HEAD")])
            answer = docs_page(self._title(), root="./", mode="proxy", target=self.target)
            return await self._send(send, answer.status, answer.body, answer.content_type, list(answer.headers))
        docs = docs_answer(path, method, self._title(), mode="proxy", target=self.target)
        if docs is not None:
            return await self._send(send, docs.status, docs.body, docs.content_type, list(docs.headers))
        return await self._json(
            send,
            404,
            {
                "message": f"No route {path}; bankscore docs answers GET / (the page), GET {DOCS_PATH}, "
                "GET /swagger.json and POST /score (forwarded to the endpoint)"
            },
        )

    def _title(self) -> str:
        return self.title or urlsplit(self.scoring_uri).hostname or "endpoint"

    # ------------------------------------------------------------------------------ swagger

    async def _swagger(self, send: Send, exchange: _Exchange) -> int:
        """The endpoint's document, fetched anew (a retrained model's shows) and rewritten for this origin."""
        from .._exceptions import BankscoreError

        started = time.perf_counter()
        try:
            document = await self._contracts.swagger()
        except BankscoreError as exc:
            exchange.upstream_ms = round((time.perf_counter() - started) * 1000, 3)
            message = self._redact(str(exc))
            return await self._json(send, 502, {"message": f"Can't get the contract of {self.target}: {message}"})
        exchange.upstream_ms = round((time.perf_counter() - started) * 1000, 3)
        exchange.upstream_status = 200
        rewritten = same_origin_document(document)
        title = rewritten.get("info", {}).get("title")
        if isinstance(title, str) and title.strip():
            self.title = title.strip()
        return await self._send(send, 200, orjson.dumps(rewritten), b"application/json", list(_NO_STORE))

    # ------------------------------------------------------------------------------ scoring

    async def _forward(self, receive: Receive, send: Send, headers: dict[bytes, bytes], exchange: _Exchange) -> int:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            exchange.refused = "too_large"
            return await self._too_large(send)
        body = await self._read_body(receive)
        if body is None:
            exchange.refused = "too_large"
            return await self._too_large(send)
        exchange.bytes_in = len(body)
        outgoing = {"x-ms-client-request-id": exchange.client_request_id}
        for name in _FORWARDED_REQUEST:
            value = headers.get(name)
            if value is not None:
                outgoing[name.decode()] = value.decode("latin-1")
        started = time.perf_counter()
        try:
            response = await self._post(body, outgoing)
        except httpx.TimeoutException:
            exchange.refused = "timeout"
            return await self._json(send, 504, {"message": f"The endpoint {self.target} did not answer in time"})
        except httpx.HTTPError as exc:
            exchange.refused = "unreachable"
            reason = self._redact(str(exc) or type(exc).__name__)
            return await self._json(send, 502, {"message": f"Can't reach the endpoint {self.target}: {reason}"})
        except _TokenError as exc:
            exchange.refused = "token"
            return await self._json(send, 502, {"message": str(exc)})
        finally:
            exchange.upstream_ms = round((time.perf_counter() - started) * 1000, 3)
        exchange.upstream_status = response.status_code
        relayed = []
        for relayed_name in _RELAYED_RESPONSE:
            answered = response.headers.get(relayed_name)
            if answered is not None:
                relayed.append((relayed_name.encode(), self._redact(answered).encode("latin-1", "replace")))
        content_type = b"application/octet-stream"
        if relayed and relayed[0][0] == b"content-type":
            content_type = relayed.pop(0)[1]
        relayed.append((b"cache-control", b"no-store"))
        return await self._send(send, response.status_code, self._redact_bytes(response.content), content_type, relayed)

    async def _post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """POST to the endpoint with the credential; once more with a new one when it answers 401 (the secondary
        key, or a fresh token), as the clients do."""
        response: httpx.Response | None = None
        for _ in range(2):
            authorization = await self._authorization()
            sent = dict(headers)
            if authorization:
                sent["authorization"] = authorization
            response = await self._http.post(self.scoring_uri, content=body, headers=sent)
            if response.status_code != 401 or not self._auth.rejected(authorization):
                break
        assert response is not None
        return response

    async def _authorization(self) -> str | None:
        from .._exceptions import AuthenticationError

        if self._auth.stale():
            try:
                await self._auth.refresh_async()
            except AuthenticationError as exc:
                raise _TokenError(self._redact(str(exc))) from None
        return self._auth.authorization()

    def _redact(self, text: str) -> str:
        for secret in self._auth.secrets():
            text = text.replace(secret, "<redacted>")
        return text

    def _redact_bytes(self, body: bytes) -> bytes:
        """The endpoint's answer with the credential cut out, should an endpoint ever echo what it was sent."""
        for secret in self._auth.secrets():
            body = body.replace(secret.encode(), b"<redacted>")
        return body

    async def _read_body(self, receive: Receive) -> bytes | None:
        return await read_body(receive, self.max_body_bytes)

    async def _too_large(self, send: Send) -> int:
        limit_mb = self.max_body_bytes / (1024 * 1024)
        return await self._json(
            send,
            413,
            {"message": f"Request body is larger than {limit_mb:g} MB (bankscore docs --max-body-mb); send fewer rows"},
            [(b"connection", b"close")],
        )

    # ------------------------------------------------------------------------------ responses

    async def _json(
        self, send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
    ) -> int:
        return await self._send(send, status, orjson.dumps(body), b"application/json", [*_NO_STORE, *(extra or [])])

    async def _send(
        self, send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
    ) -> int:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status

    def _log(self, scope: Scope, exchange: _Exchange, status: int) -> None:
        """One JSON line per request, shaped as the embedded endpoint's, plus what the endpoint answered."""
        if not access_logger.isEnabledFor(logging.INFO):
            return
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "request_id": exchange.request_id,
            "client_request_id": exchange.client_request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "latency_ms": round((time.perf_counter() - exchange.started) * 1000, 3),
        }
        if exchange.upstream_ms is not None:
            record["endpoint"] = self.target
            record["upstream_status"] = exchange.upstream_status
            record["upstream_ms"] = exchange.upstream_ms
        if exchange.bytes_in is not None:
            record["bytes_in"] = exchange.bytes_in
        if exchange.refused is not None:
            record["refused"] = exchange.refused
        access_logger.info(self._redact(orjson.dumps(record).decode()))


class _TokenError(Exception):
    """No token to send: the credential failed (its message, redacted, is what the page shows)."""


# ------------------------------------------------------------------------------ serving


def configure_access_log(stream: Any = None) -> None:
    """The proxy's log: one JSON line per request to stderr (or `stream`), nothing else on that logger."""
    for old in list(access_logger.handlers):
        access_logger.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_logger.addHandler(handler)
    access_logger.propagate = False
    access_logger.setLevel(logging.INFO)


def listening_socket(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1:`port` (0: a free one), so the URL is known before the server runs.

    Loopback only: the proxy adds a credential to what it forwards, so nothing off this machine may reach it.
    SO_REUSEADDR lets a restarted proxy rebind past TIME_WAIT on POSIX; on Windows it would let a second socket
    take over a port another program listens on, so there it is left off (as the embedded endpoint does)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class DocsServer:
    """The proxy on uvicorn, on a socket from `listening_socket`: in the foreground (`run`, until Ctrl+C) or on a
    daemon thread (`start`/`stop`, or a `with` block), as tests and embedding programs use it."""

    def __init__(self, proxy: DocsProxy, port: int = 0) -> None:
        self.proxy = proxy
        self._sock = listening_socket(port)
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            proxy,
            loop="auto",
            http="auto",
            lifespan="on",
            access_log=False,
            server_header=False,
            log_level="warning",
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def run(self) -> None:
        """Serve in the foreground until interrupted (uvicorn handles Ctrl+C and stops cleanly)."""
        try:
            self._server.run(sockets=[self._sock])
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()

    def start(self, timeout: float = 30.0) -> DocsServer:
        self._thread = threading.Thread(target=self.run, name="bankscore-docs", daemon=True)
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            waited.wait(0.01)
        raise RuntimeError(f"bankscore docs did not start on {self.url}")

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(OSError):  # closed by `run` already, unless it never started
            self._sock.close()

    def __enter__(self) -> DocsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
