"""The embedded scoring endpoint: a plain ASGI app that answers as an Azure ML service does.

Plain ASGI instead of a framework because the whole surface is three routes and every byte of
the answers (status codes, header names, double-encoded bodies) must match Azure's exactly. With
pipelines on, the published pipeline and the batch endpoint (pipelines.py, batch.py) answer their
own paths; the app hands them the request and sends what they answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

import numpy as np
import orjson

from .._version import __version__
from .asgi import Disconnected, Receive, Scope, Send, lifespan, read_body, request_headers
from .auth import MALFORMED_MESSAGE, KeyRing, Verdict, needs_key, plane_of
from .errors import ExplanationUnavailable
from .faults import MODEL_ERROR, FaultPlan
from .jobs import Request, Service
from .model import REPORT_FILE, Explanation, Model
from .payload import BodyParser, ClientError, RowError, ScoreRequest, ServedEnvelope
from .swagger import SWAGGER_VERSIONS, schemaless_swagger, swagger_v2, swagger_v3, swagger_v31
from .swagger_ui import answer as docs_answer

if TYPE_CHECKING:  # the validator brings PyJWT along; an app with key auth never imports it
    from .batch import BatchService
    from .entra import TokenValidator
    from .pipelines import PipelineService


DEFAULT_MAX_BODY_BYTES: Final = 100 * 1024 * 1024  # AKS front end's cap
MAX_REQUEST_ID_LENGTH: Final = 100
# Bodies above this are decoded and scored on a worker thread so small requests keep flowing.
OFFLOAD_BYTES: Final = 16 * 1024
REQUEST_ID_HEADERS: Final = (b"x-ms-client-request-id", b"x-request-id", b"x-ms-request-id")
SERVER_VERSION: Final = f"bankscore/{__version__}"
MODEL_ERROR_MESSAGE: Final = "An unexpected error occurred in scoring script. Check the logs for more info."

# The report is static HTML with inline CSS and SVG: it may load nothing and run nothing.
_REPORT_HEADERS: Final = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
        b"frame-ancestors 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

access_logger = logging.getLogger("bankscore.server.access")
error_logger = logging.getLogger("bankscore.server")


_UNAUTHORIZED: Final = {
    Verdict.MISSING: "Missing Authorization header; send 'Authorization: Bearer <key>'",
    Verdict.EMPTY: "The Authorization header says 'Bearer' but holds no key (is the key variable empty?); "
    "send 'Authorization: Bearer <key>'",
    Verdict.WRONG: "Invalid key: the Bearer key matches neither of this service's keys",
}


def _is_json(media_type: bytes) -> bool:
    """application/json or application/*+json, as Flask's `is_json` (and so Microsoft's server) reads it."""
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


@dataclass
class _Exchange:
    """What one request learned on its way, for its headers and its log line."""

    request_id: str
    client_request_id: str
    started: float
    rows: int = 0
    fault: str | None = None
    auth: str | None = None  # why auth refused the request (a short word, never the credential)
    function_failed: bool | None = None
    exec_ms: float | None = None


@dataclass(frozen=True)
class ServedModel:
    """What answering for one model takes: the model, its body parser, its swagger documents and its training
    report (report.html from its directory, None when it has none).

    The app holds one and replaces it whole (`ScoringApp.use_model`); a request reads it once, so it never
    mixes two models even when a retrained one is swapped in while it runs. The report is read when the model
    is, so /report shows the model being served even if its directory is later trained over.
    """

    model: Model
    parser: BodyParser
    swagger: dict[str, bytes]
    report: bytes | None = None

    @classmethod
    def build(cls, model: Model, envelope: ServedEnvelope, title: str) -> ServedModel:
        if envelope == "explain":
            # The AutoML explainer's run() has no schema decorators: Microsoft's server publishes its empty
            # templates for it, which describe neither the body nor the answer.
            swagger = {v: orjson.dumps(schemaless_swagger(v, title)) for v in SWAGGER_VERSIONS}
        else:
            swagger = {
                "2": orjson.dumps(swagger_v2(model, envelope, title)),
                "3": orjson.dumps(swagger_v3(model, envelope, title)),
                "3.1": orjson.dumps(swagger_v31(model, envelope, title)),
            }
        swagger.update({"2.0": swagger["2"], "3.0": swagger["3"]})  # the server's aliases
        return cls(model, BodyParser(envelope, model.schema), swagger, _read_report(model))


def _read_report(model: Model) -> bytes | None:
    if model.directory is None:
        return None
    try:
        return (model.directory / REPORT_FILE).read_bytes()
    except OSError:  # none there (a model saved before bankscore wrote reports), or not readable
        return None


def _explain_results(explanation: Explanation) -> dict[str, Any]:
    """Gen B's `Results` for method explain (bankscore's extension; its swagger documents it)."""
    return {
        "features": list(explanation.features),
        "scale": "log_odds",
        "classes": list(explanation.classes),
        "positive_class": explanation.positive_class,
        "base_value": explanation.base_value,
        "predictions": explanation.predictions,
        "probabilities": explanation.probabilities,
        "contributions": explanation.contributions,
    }


def _automl_explanation(explanation: Explanation) -> bytes:
    """The AutoML v1 explainer deployment's answer: per class, per row, per feature (input columns, in order).

    For two classes the class "yes" holds the log-odds contributions and "no" their negation (its log-odds
    is the negated one); the engineered features are the raw ones here, one column per input.
    """
    positive = explanation.contributions
    per_class = np.stack((-positive, positive))
    return orjson.dumps(
        {
            "predictions": explanation.predictions,
            "engineered_local_importance_values": per_class,
            "raw_local_importance_values": per_class,
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


class ScoringApp:
    def __init__(
        self,
        model: Model,
        *,
        envelope: ServedEnvelope = "inputs",
        keys: KeyRing | None,
        tokens: TokenValidator | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        faults: FaultPlan | None = None,
        title: str = "bankscore-local",
        pipelines: PipelineService | None = None,
        batch: BatchService | None = None,
    ) -> None:
        if keys is not None and tokens is not None:
            raise ValueError("an endpoint takes keys or Entra tokens, not both (as Azure's auth modes)")
        self.envelope: ServedEnvelope = envelope
        self.keys = keys
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes
        self.faults = faults or FaultPlan()
        self.title = title
        self._served = ServedModel.build(model, envelope, title)
        self.pipelines = pipelines
        self.batch = batch
        if pipelines is not None:
            pipelines.bind(self.use_model)
        if batch is not None:
            batch.bind(self.served)
        self._services: tuple[Service, ...] = tuple(s for s in (pipelines, batch) if s is not None)

    @property
    def model(self) -> Model:
        return self._served.model

    def served(self) -> ServedModel:
        return self._served

    def use_model(self, model: Model) -> None:
        """Serve another model from now on: built aside, then swapped in with one assignment."""
        self._served = ServedModel.build(model, self.envelope, self.title)

    def close(self) -> None:
        """Stop the pipeline and batch services (a running trainer is terminated); safe to call twice."""
        for service in self._services:
            service.close()

    async def _close_off_loop(self) -> None:
        """close() on a worker thread; in this thread once the interpreter is exiting, when the default executor
        takes no more work (an embedded endpoint stopped by an atexit handler, as the Excel add-in's is)."""
        try:
            await asyncio.to_thread(self.close)
        except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"; close() is idempotent
            self.close()

    # ------------------------------------------------------------------------------ ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, self._close_off_loop)  # no trainer outlives the server
            return
        if scope["type"] != "http":
            return
        headers = request_headers(scope)
        # As Microsoft's server: x-request-id is the caller's or new; x-ms-request-id and
        # x-ms-client-request-id carry the caller's client id when it sent one.
        too_long = next((n for n in REQUEST_ID_HEADERS if len(headers.get(n, b"")) > MAX_REQUEST_ID_LENGTH), None)
        given = None if too_long else headers.get(b"x-request-id")
        request_id = given.decode("latin-1") if given else str(uuid.uuid4())
        client_id = None if too_long else headers.get(b"x-ms-client-request-id") or headers.get(b"x-ms-request-id")
        exchange = _Exchange(
            request_id=request_id,
            client_request_id=client_id.decode("latin-1") if client_id else request_id,
            started=time.perf_counter(),
        )
        status = 500
        try:
            status = await self._route(scope, receive, send, headers, exchange)
        except Disconnected:
            status = 499
        except Exception:
            error_logger.exception("unhandled error in request %s", request_id)
            status = 500
            await self._json(send, exchange, 500, {"message": f"Internal server error (request id {request_id})"})
        self._log(scope, exchange, status)

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes], exchange: _Exchange
    ) -> int:
        for name in REQUEST_ID_HEADERS:
            if len(headers.get(name, b"")) > MAX_REQUEST_ID_LENGTH:
                return await self._json(
                    send,
                    exchange,
                    431,
                    {"message": f"Header {name.decode()} is longer than {MAX_REQUEST_ID_LENGTH} characters"},
                )
        path: str = scope["path"]
        method: str = scope["method"]
        refused = await self._authorize(path, method, send, headers, exchange)
        if refused is not None:
            return refused
        if path == "/score":
            if method != "POST":
                return await self._json(
                    send,
                    exchange,
                    405,
                    {"message": "Use POST /score with a JSON body"},
                    [(b"allow", b"POST")],
                )
            return await self._score(receive, send, headers, exchange)
        if path == "/":
            if method not in ("GET", "HEAD"):
                return await self._json(send, exchange, 405, {"message": "Use GET /"}, [(b"allow", b"GET, HEAD")])
            return await self._send(send, exchange, 200, b"Healthy", b"text/plain; charset=utf-8")
        if path == "/swagger.json":
            if method not in ("GET", "HEAD"):
                return await self._json(send, exchange, 405, {"message": "Use GET /swagger.json"})
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            version = (query.get("version") or ["2"])[-1]
            document = self._served.swagger.get(version)
            if document is None:
                return await self._json(
                    send,
                    exchange,
                    404,
                    # Microsoft's words, which clients (ours too) read to find the versions there are.
                    {
                        "message": f"Swagger version [{version}] is not valid. "
                        f"Supported versions: [{', '.join(SWAGGER_VERSIONS)}]."
                    },
                )
            return await self._send(send, exchange, 200, document, b"application/json")
        if path == "/report":
            return await self._report(method, send, exchange)
        docs = docs_answer(path, method, self.title, mode="endpoint")
        if docs is not None:  # Swagger UI for this endpoint's own swagger; open as the swagger is
            return await self._send(send, exchange, docs.status, docs.body, docs.content_type, list(docs.headers))
        for service in self._services:
            if service.owns(path):
                return await self._service(service, scope, receive, send, headers, exchange)
        return await self._json(
            send,
            exchange,
            404,
            {
                "message": f"No route {path}; this service answers GET /, GET /swagger.json, GET /docs, GET /report "
                "and POST /score"
            },
        )

    # ------------------------------------------------------------------------------ auth

    async def _authorize(
        self, path: str, method: str, send: Send, headers: dict[bytes, bytes], exchange: _Exchange
    ) -> int | None:
        """The one place auth is decided, before any route: None lets the request through, else the status sent.

        Entra tokens guard every route, the audience by the path's plane; keys guard POST /score and the job
        and pipeline routes, as ACI/AKS do, leaving the health probe and swagger open."""
        if self.tokens is not None:
            verdict = self.tokens.check(headers.get(b"authorization"), plane_of(path))
            if verdict.ok:
                return None
            exchange.auth = verdict.code
            return await self._json(
                send, exchange, 401, {"message": verdict.message}, [(b"www-authenticate", verdict.challenge)]
            )
        if self.keys is None or not needs_key(path, method):
            return None
        key_verdict = self.keys.check(headers.get(b"authorization"))
        if key_verdict is Verdict.OK:
            return None
        exchange.auth = key_verdict.value
        if key_verdict is Verdict.MALFORMED:
            return await self._json(send, exchange, 400, {"message": MALFORMED_MESSAGE})
        return await self._json(
            send, exchange, 401, {"message": _UNAUTHORIZED[key_verdict]}, [(b"www-authenticate", b"Bearer")]
        )

    # ------------------------------------------------------------------------------ scoring

    async def _score(self, receive: Receive, send: Send, headers: dict[bytes, bytes], exchange: _Exchange) -> int:
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if not _is_json(content_type):
            shown = content_type.decode("latin-1") or "none"
            return await self._json(
                send, exchange, 415, {"message": f"Content-Type must be application/json, not {shown}"}
            )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            return await self._too_large(send, exchange)
        body = await self._read_body(receive)
        if body is None:
            return await self._too_large(send, exchange)

        plan = self.faults
        if plan.latency_ms:
            await asyncio.sleep(plan.latency_ms / 1000)
        fault = plan.draw()
        if fault is not None:
            return await self._fault(send, exchange, fault)

        started = time.perf_counter()
        try:
            if len(body) > OFFLOAD_BYTES:
                status, payload = await asyncio.to_thread(self._run, body, exchange)
            else:
                status, payload = self._run(body, exchange)
        except ClientError as error:
            if isinstance(error, RowError) and self.envelope == "data":
                exchange.exec_ms = (time.perf_counter() - started) * 1000
                # Gen-A services catch the exception inside run() and answer 200 with the message.
                exchange.function_failed = False
                inner = orjson.dumps({"error": error.message}).decode()
                return await self._send(send, exchange, 200, orjson.dumps(inner), b"application/json")
            return await self._json(send, exchange, error.status, error.body())
        exchange.exec_ms = (time.perf_counter() - started) * 1000
        exchange.function_failed = False
        return await self._send(send, exchange, status, payload, b"application/json")

    def _run(self, body: bytes, exchange: _Exchange) -> tuple[int, bytes]:
        served = self._served  # read once: a model swapped in meanwhile answers the next request
        request: ScoreRequest = served.parser.parse(body)
        exchange.rows = request.rows
        matrix = request.encoded(served.model.schema)
        results: Any
        if request.method == "explain":
            try:
                explanation = served.model.explain(matrix)
            except ExplanationUnavailable as exc:
                offered = "" if self.envelope == "explain" else ' (this service answers "predict" and "predict_proba")'
                raise ClientError(400, f'Method "explain" is not available{offered}: {exc}') from None
            if self.envelope == "explain":
                return 200, _automl_explanation(explanation)
            results = _explain_results(explanation)
        elif request.method == "predict_proba":
            results = served.model.proba_from_matrix(matrix)
        else:
            results = served.model.labels_from_matrix(matrix)
        if self.envelope == "inputs":
            return 200, orjson.dumps({"Results": results}, option=orjson.OPT_SERIALIZE_NUMPY)
        inner = orjson.dumps({"result": results}, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        return 200, orjson.dumps(inner)

    # ------------------------------------------------------------------------------ the training report

    async def _report(self, method: str, send: Send, exchange: _Exchange) -> int:
        """The served model's report.html: a page for people, not part of the scoring contract (no swagger)."""
        if method not in ("GET", "HEAD"):
            return await self._json(send, exchange, 405, {"message": "Use GET /report"}, [(b"allow", b"GET, HEAD")])
        served = self._served
        if served.report is None:
            model = served.model
            why = (
                "was not loaded from a model directory, so it has no training report"
                if model.directory is None
                else f"has no training report: its model directory holds no {REPORT_FILE} (bankscore writes one "
                "from 0.3 on)"
            )
            return await self._json(
                send,
                exchange,
                404,
                {
                    "message": f"The served model {model.name} (version {model.version}) {why}; retrain it with "
                    "`bankscore train` to get one"
                },
            )
        return await self._send(send, exchange, 200, served.report, b"text/html; charset=utf-8", _REPORT_HEADERS)

    # ------------------------------------------------------------------------------ pipelines and batch jobs

    async def _service(
        self,
        service: Service,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[bytes, bytes],
        exchange: _Exchange,
    ) -> int:
        """Hand a request to the pipeline or batch service, on a worker thread (it looks at files)."""
        body = await self._read_body(receive)
        if body is None:
            return await self._too_large(send, exchange)
        request = Request(scope["method"], scope["path"], body, headers)
        answer = await asyncio.to_thread(service.handle, request)
        return await self._json(send, exchange, answer.status, answer.body, list(answer.headers))

    async def _fault(self, send: Send, exchange: _Exchange, fault: int | str) -> int:
        exchange.fault = str(fault)
        if fault == MODEL_ERROR:
            exchange.function_failed = True
            if self.envelope == "data":
                inner = orjson.dumps({"error": "Injected model error"}).decode()
                return await self._send(send, exchange, 200, orjson.dumps(inner), b"application/json")
            return await self._json(send, exchange, 500, {"message": MODEL_ERROR_MESSAGE})
        assert isinstance(fault, int)
        extra: list[tuple[bytes, bytes]] = []
        if fault in (429, 503) and self.faults.retry_after is not None:
            extra.append((b"retry-after", f"{self.faults.retry_after:g}".encode()))
        return await self._json(send, exchange, fault, {"message": f"Injected fault: HTTP {fault}"}, extra)

    async def _too_large(self, send: Send, exchange: _Exchange) -> int:
        limit_mb = self.max_body_bytes / (1024 * 1024)
        return await self._json(
            send,
            exchange,
            413,
            {"message": f"Request body is larger than {limit_mb:g} MB; send fewer rows per request"},
            [(b"connection", b"close")],
        )

    async def _read_body(self, receive: Receive) -> bytes | None:
        return await read_body(receive, self.max_body_bytes)

    # ------------------------------------------------------------------------------ responses

    async def _json(
        self,
        send: Send,
        exchange: _Exchange,
        status: int,
        body: dict[str, Any],
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> int:
        return await self._send(send, exchange, status, orjson.dumps(body), b"application/json", extra)

    async def _send(
        self,
        send: Send,
        exchange: _Exchange,
        status: int,
        body: bytes,
        content_type: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> int:
        client_id = exchange.client_request_id.encode("latin-1")
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", exchange.request_id.encode("latin-1")),
            (b"x-ms-request-id", client_id),
            (b"x-ms-client-request-id", client_id),
            (b"x-ms-server-version", SERVER_VERSION.encode()),
        ]
        if exchange.function_failed is not None:
            headers.append((b"x-ms-run-function-failed", b"True" if exchange.function_failed else b"False"))
        if exchange.exec_ms is not None:
            headers.append((b"x-ms-run-fn-exec-ms", f"{exchange.exec_ms:.3f}".encode()))
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status

    def _log(self, scope: Scope, exchange: _Exchange, status: int) -> None:
        if not access_logger.isEnabledFor(logging.INFO):
            return
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "request_id": exchange.request_id,
            "client_request_id": exchange.client_request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "rows": exchange.rows,
            "latency_ms": round((time.perf_counter() - exchange.started) * 1000, 3),
            "envelope": self.envelope,
            "model": self.model.name,
            "model_version": self.model.version,
        }
        if exchange.fault is not None:
            record["fault"] = exchange.fault
        if exchange.auth is not None:
            record["auth"] = exchange.auth
        access_logger.info(orjson.dumps(record).decode())
