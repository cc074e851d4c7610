"""Every error body a client meets, answered by a real HTTP server on loopback with its real status, headers and
content type: both clients raise the right class with a one-line message that says what happened, retry exactly
the transient ones (counted by the requests the server received), and never show the key — not in the error's
str, repr, attributes or pickle, nor in any log line. Also: what a cut-off 200 looks like (and what doesn't), and
the x-ms-client-request-id format managed endpoints keep unchanged.

The bodies are those of azure-contract.md §1, §5, §6 and §13. The server is stdlib `ThreadingHTTPServer`
(tests/client imports no server-wing library); the contract is the embedded endpoint's swagger (`bank_swagger`).
"""

from __future__ import annotations

import logging
import pickle
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from bankscore import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    ModelError,
    NotFoundError,
    RateLimitError,
    RequestHeadersTooLargeError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseDecodeError,
    RetryPolicy,
    ServiceUnavailableError,
    read_scores,
)
from bankscore._base_client import CLIENT_REQUEST_ID, new_client_request_id
from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.errorbodies import one_line, redact
from tests.support.common import PRIMARY, SECONDARY
from tests.support.twins import record_waits

if TYPE_CHECKING:
    from tests.support.twins import Client, ClientFactory

MAX_RETRIES = 2
RETRIED = MAX_RETRIES + 1  # requests the server sees for a transient answer that never clears
ONCE = 1


def policy() -> RetryPolicy:
    return RetryPolicy(max_retries=MAX_RETRIES, backoff_base=0.001, backoff_max=0.002, rng=random.Random(5))


def rows(n: int = 2) -> list[dict[str, Any]]:
    return [dict(SAMPLE_ROWS[0], age=30 + i) for i in range(n)]


# ------------------------------------------------------------------------------------------- the server


@dataclass
class Answer:
    """One scripted answer. `short` sends a Content-Length this many bytes beyond the body, then closes."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    short: int = 0


RESULTS = Answer(200)  # stands for "score the rows": one label per row sent, the row's age


class ScriptedService:
    """POST /score answers from a script (the last answer repeats); every request's headers are kept."""

    def __init__(self, *answers: Answer, sanitize_ids: bool = False) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, str]] = []
        self.sanitize_ids = sanitize_ids
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                sent = orjson.loads(self.rfile.read(length))
                service.requests.append({k.lower(): v for k, v in self.headers.items()})
                answer = service.answers[min(len(service.requests), len(service.answers)) - 1]
                body = answer.body
                if answer is RESULTS:
                    body = orjson.dumps({"Results": [f"age-{r['age']}" for r in sent["Inputs"]["data"]]})
                self.send_response(answer.status)
                headers = {"content-type": "application/json", **answer.headers}
                if service.sanitize_ids:  # as managed online endpoints log and echo it
                    kept = re.sub(r"[^A-Za-z0-9_-]", "", self.headers.get("x-ms-client-request-id", ""))[:40]
                    headers["x-ms-client-request-id"] = kept
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body) + answer.short))
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/score"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def attempts(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedService]]:
    started: list[ScriptedService] = []

    def start(*answers: Answer, **options: Any) -> ScriptedService:
        started.append(ScriptedService(*answers, **options))
        return started[-1]

    yield start
    for service in started:
        service.close()


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the clients make between attempts, recorded instead of slept."""
    return record_waits(monkeypatch)


@pytest.fixture
def scoring(make_client: ClientFactory, bank_swagger: dict[str, Any]) -> Callable[..., Client]:
    def make(service: ScriptedService, **options: Any) -> Client:
        options.setdefault("key", PRIMARY)
        options.setdefault("retry_policy", policy())
        return make_client(service.url, swagger=bank_swagger, concurrency=1, **options)

    return make


def shown(error: BaseException) -> str:
    """Everything an error can show: its text, repr, attributes, args and pickle."""
    return "\n".join(
        [str(error), repr(error), repr(vars(error)), repr(error.args), pickle.dumps(error).decode("latin-1")]
    )


def assert_no_key(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "HTTP Request: POST" in logged, "the logs were captured"
    for text in (shown(error), logged):
        assert PRIMARY not in text and SECONDARY not in text


# ------------------------------------------------------------------------------------------- the bodies

HTML_413 = b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"  # noqa: E501
HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx/1.25.3</center></body></html>"  # noqa: E501
TEXT = {"content-type": "text/plain; charset=utf-8"}
HTML = {"content-type": "text/html"}
MALFORMED = b'Authorization header is malformed. Header should be in the form: "Authorization: Bearer <token>"'
ARM = {
    "error": {
        "code": "ResourceNotFound",
        "message": "The Resource 'Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/bank' "
        "under resource group 'rg' was not found.",
        "details": [
            {"code": "EndpointNotFound", "message": "No online endpoint named bank"},
            {"code": "A", "message": "a"},
            {"code": "B", "message": "b"},
        ],
        "additionalInfo": [{"type": "PolicyViolation", "info": {"policy": "p"}}],
    }
}
DATA_PLANE = {
    "Error": {
        "Code": "UserError",
        "Message": "The deployment 'blue' does not exist.",
        "Target": "azureml-model-deployment",
        "Details": [],
        "InnerError": {"Code": "NotFoundError", "InnerError": {"Code": "DeploymentNotFound"}},
    },
    "Correlation": {"operation": "7c2b5e0d9a1f4c3b", "request": "a1b2c3d4e5f60718"},
    "Environment": "westeurope",
    "Location": "westeurope",
    "Time": "2024-05-02T10:11:12.1234567+00:00",
    "ComponentName": "managementfrontend",
    "statusCode": 400,
}
VALIDATION = {
    "message": "The request is invalid. "
    + orjson.dumps(
        [
            {"PropertyName": "Properties.InputData.input.Uri", "ErrorMessage": "'Uri' must not be empty.",
             "AttemptedValue": "", "ErrorCode": "NotEmptyValidator"},
            {"PropertyName": "Properties.OutputData.out.Uri", "ErrorMessage": "The output path already exists.",
             "AttemptedValue": "azureml://datastores/out/paths/scores.csv", "ErrorCode": "OutputExists"},
        ]
    ).decode()
}  # fmt: skip
TOKEN = {
    "error": "unauthorized_client",
    "error_description": "AADSTS700016: Application with identifier '3f1c' was not found in the directory "
    "'Contoso'.\r\nTrace ID: 0d1e-trace\r\nCorrelation ID: 9f8e-corr\r\nTimestamp: 2024-05-02 10:11:12Z",
    "error_codes": [700016],
    "timestamp": "2024-05-02 10:11:12Z",
    "trace_id": "0d1e-trace",
    "correlation_id": "9f8e-corr",
}
MODEL_FAILED = {"message": "An unexpected error occurred in scoring script. Check the logs for more info."}


def js(document: Any) -> bytes:
    return orjson.dumps(document)


# (id, answer, class, what the message must say, requests the server receives)
CASES: list[tuple[str, Answer, type[APIError], tuple[str, ...], int]] = [
    ("aci-400-malformed-header", Answer(400, TEXT, MALFORMED), AuthenticationError,
     ("Authorization header is malformed", "Bearer <token>"), ONCE),
    ("aci-401-empty", Answer(401, TEXT, b""), AuthenticationError, ("refused the key", "(empty body)"), ONCE),
    ("server-400-message", Answer(400, {}, js({"message": "Expected a JSON object with Inputs.data"})),
     BadRequestError, ("Expected a JSON object with Inputs.data",), ONCE),
    ("arm-404-envelope", Answer(404, {}, js(ARM)), NotFoundError,
     ("ResourceNotFound: The Resource", "was not found.", "EndpointNotFound: No online endpoint named bank",
      "and 1 more"), ONCE),
    ("data-plane-400-envelope", Answer(400, {}, js(DATA_PLANE)), BadRequestError,
     ("UserError (NotFoundError > DeploymentNotFound): The deployment 'blue' does not exist.",
      "target azureml-model-deployment", "correlation request a1b2c3d4e5f60718"), ONCE),
    ("batch-validation-400", Answer(400, {}, js(VALIDATION)), BadRequestError,
     ("The request is invalid.", "Properties.InputData.input.Uri: 'Uri' must not be empty. (got '', NotEmptyValidator)",
      "Properties.OutputData.out.Uri: The output path already exists.", "OutputExists"), ONCE),
    ("v2-401-key-auth-access-denied", Answer(401, TEXT, b"key_auth_access_denied"), AuthenticationError,
     ("key_auth_access_denied", "refused the key"), ONCE),
    ("token-400-unauthorized-client", Answer(400, {}, js(TOKEN)), AuthenticationError,
     ("unauthorized_client: AADSTS700016", "was not found in the directory 'Contoso'.",
      "correlation request 9f8e-corr"), ONCE),
    ("v2-424-model-error", Answer(424, {"ms-azureml-model-error-statuscode": "500",
                                        "ms-azureml-model-error-reason": "model_error"}, js(MODEL_FAILED)),
     ModelError, ("the model failed: its container answered HTTP 500 (model_error)", "unexpected error"), ONCE),
    ("server-500-function-failed", Answer(500, {"x-ms-run-function-failed": "True"}, js(MODEL_FAILED)),
     ModelError, ("the model failed", "unexpected error occurred in scoring script"), ONCE),
    ("v2-408-request-timeout", Answer(408, TEXT, b"Request Timeout"), RequestTimeoutError,
     ("timed out at the endpoint", "may still be running"), RETRIED),
    ("v2-429-pending", Answer(429, TEXT, b"Too many pending requests"), RateLimitError,
     ("too many requests in flight", "concurrency", "Too many pending requests"), RETRIED),
    ("v2-429-rate-limit", Answer(429, TEXT, b"Rate limit exceeded for this endpoint"), RateLimitError,
     ("rate limit was reached", "Rate limit exceeded"), RETRIED),
    ("server-431", Answer(431, {}, js({"message": "x-ms-request-id and x-ms-client-request-id must not exceed 100 "
                                                  "characters"})), RequestHeadersTooLargeError,
     ("headers are too large", "must not exceed 100 characters"), ONCE),
    ("nginx-413-html-one-row", Answer(413, HTML, HTML_413), RequestTooLargeError,
     ("too large for the service", "413 Request Entity Too Large", "HTML page"), ONCE),
    ("nginx-502-html", Answer(502, HTML, HTML_502), InternalServerError, ("502 Bad Gateway", "HTML page"), RETRIED),
    ("503-empty", Answer(503, {"content-type": "text/plain"}, b""), ServiceUnavailableError,
     ("unavailable or overloaded", "(empty body)"), RETRIED),
    ("401-echoing-the-key", Answer(401, {}, js({"message": f"Invalid key {PRIMARY}",
                                                "received": {"Authorization": f"Bearer {PRIMARY}"}})),
     AuthenticationError, ("Invalid key <redacted>",), ONCE),
    ("400-echoing-the-header", Answer(400, TEXT, f"Bad request; headers seen: Authorization: Bearer {PRIMARY}\n"
                                                 f"authorization={PRIMARY}".encode()),
     BadRequestError, ("Authorization: Bearer <redacted>", "authorization=<redacted>"), ONCE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "error_class", "says", "requests"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_error_body_reads_as_one_line_of_the_right_class(
    serve: Callable[..., ScriptedService],
    scoring: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
    answer: Answer,
    error_class: type[APIError],
    says: tuple[str, ...],
    requests: int,
) -> None:
    service = serve(answer)
    client = scoring(service)
    with caplog.at_level(logging.DEBUG), pytest.raises(APIError) as caught:
        client.predict(rows(1))
    error = caught.value
    assert type(error) is error_class, f"{type(error).__name__}: {error}"
    assert error.status_code == answer.status
    text = str(error)
    for part in says:
        assert part in text, f"{part!r} not in {text!r}"
    assert "\n" not in text and "\r" not in text and len(error.message) <= 300 + 40, text
    assert service.attempts == requests, "a transient answer is retried within the budget; any other is not"
    if requests > 1:
        assert f"gave up after {requests} attempts" in text
    assert error.client_request_id == service.requests[-1]["x-ms-client-request-id"]
    assert_no_key(error, caplog)


def test_the_correlation_id_is_the_request_id_when_no_header_carries_one(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    service = serve(Answer(400, {}, js(DATA_PLANE)))
    with pytest.raises(BadRequestError) as caught:
        scoring(service).predict(rows())
    assert caught.value.code == "UserError"
    assert caught.value.request_id == caught.value.correlation_id == "a1b2c3d4e5f60718"
    assert "x-ms-request-id" not in str(caught.value), "the id is the body's, and is labelled so"


def test_a_header_request_id_and_the_body_correlation_id_are_both_shown(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    service = serve(Answer(400, {"x-ms-request-id": "hdr-5e6f"}, js(DATA_PLANE)))
    with pytest.raises(BadRequestError) as caught:
        scoring(service).predict(rows())
    assert caught.value.request_id == "hdr-5e6f" and caught.value.correlation_id == "a1b2c3d4e5f60718"
    assert "x-ms-request-id hdr-5e6f" in str(caught.value)
    assert "correlation request a1b2c3d4e5f60718" in str(caught.value)


def test_service_error_codes_are_on_the_error(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    for answer, code in [
        (Answer(404, {}, js(ARM)), "ResourceNotFound"),
        (Answer(400, {}, js(TOKEN)), "unauthorized_client"),
        (Answer(401, TEXT, b"key_auth_access_denied"), "key_auth_access_denied"),
    ]:
        with pytest.raises(APIError) as caught:
            scoring(serve(answer)).predict(rows())
        assert caught.value.code == code
    with pytest.raises(AuthenticationError) as token:
        scoring(serve(Answer(400, {}, js(TOKEN)))).predict(rows())
    assert "Trace ID" not in str(token.value), "the description's first line only"


def test_both_keys_echoed_back_are_redacted(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    """The primary is refused, the client switches to the secondary once, and the service echoes each key back."""
    echo = js({"message": f"Keys {PRIMARY} and {SECONDARY} don't match this endpoint"})
    service = serve(Answer(401, {}, echo))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationError) as caught:
        scoring(service, secondary_key=SECONDARY).predict(rows())
    assert service.attempts == 2
    assert [r["authorization"] for r in service.requests] == [f"Bearer {PRIMARY}", f"Bearer {SECONDARY}"]
    assert str(caught.value).startswith("Keys <redacted> and <redacted> don't match")
    assert_no_key(caught.value, caplog)


def test_429_waits_as_retry_after_says(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client], waits: list[float]
) -> None:
    service = serve(Answer(429, {**TEXT, "retry-after": "0.25"}, b"Too many pending requests"), RESULTS)
    assert scoring(service).predict(rows()).tolist() == ["age-30", "age-31"]
    assert service.attempts == 2 and waits == [0.25]


def test_azure_millisecond_retry_after_wins(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client], waits: list[float]
) -> None:
    headers = {**TEXT, "retry-after": "7", "retry-after-ms": "150"}
    service = serve(Answer(429, headers, b"Rate limit exceeded"), RESULTS)
    assert scoring(service).predict(rows()).tolist() == ["age-30", "age-31"]
    assert waits == [0.15]


def test_408_then_an_answer_is_a_result(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client], waits: list[float]
) -> None:
    service = serve(Answer(408, TEXT, b"Request Timeout"), RESULTS)
    assert scoring(service).predict(rows()).tolist() == ["age-30", "age-31"]
    assert service.attempts == 2 and len(waits) == 1


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln", "Authorization: Bearer <redacted>"),
        ("authorization=abcdefghijklmnopqrstuvwxyzabcdef", "authorization=<redacted>"),
        ("header was 'Basic dXNlcjpwYXNz'", "header was 'Basic <redacted>'"),
        ('{"Authorization":"k3y-0f-s0me-0ther-service"}', '{"Authorization":"<redacted>"}'),
        ("the Bearer token was refused", "the Bearer token was refused"),
        ('send "Authorization: Bearer <token>"', 'send "Authorization: Bearer <token>"'),
        ("Authorization: required", "Authorization: required"),
    ],
)
def test_tokens_the_client_does_not_know_are_redacted_too(text: str, kept: str) -> None:
    """Beyond the client's own keys (replaced wherever they appear): whatever follows an auth scheme or an
    echoed Authorization header and looks like a token, not like a word."""
    assert redact(text) == kept


def test_messages_are_one_bounded_line() -> None:
    message = one_line("first\r\nsecond\tthird\x00\u2028" + "x" * 1000)
    assert message.startswith("first second third") and "\n" not in message and "\x00" not in message
    assert len(message) == 300 and message.endswith("…")


# ------------------------------------------------------------------------------------------- cut-off 200s


def test_a_body_short_of_its_content_length_is_retried(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    """The server promises 64 more bytes than it sends, then closes: httpx sees an incomplete message."""
    service = serve(Answer(200, {}, b'{"Results": ["age-30", "ag', short=64), RESULTS)
    assert scoring(service).predict(rows()).tolist() == ["age-30", "age-31"]
    assert service.attempts == 2


def test_a_body_always_short_gives_up_as_a_connection_error(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    service = serve(Answer(200, {}, b'{"Results": ["age-30", "ag', short=64))
    with pytest.raises(APIConnectionError, match=f"gave up after {RETRIED} attempts"):
        scoring(service).predict(rows())
    assert service.attempts == RETRIED


@pytest.mark.parametrize(
    "body",
    [b'{"Results": ["age-30", "ag', b'{"Results": ["age-30", "age-31"]', b'"{\\"result\\": [\\"age-30\\", \\"a'],
    ids=["inside-a-string", "object-left-open", "double-encoded"],
)
def test_a_json_prefix_that_ends_early_is_retried(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client], body: bytes
) -> None:
    """A complete HTTP message (right Content-Length) whose JSON stops before it is closed: cut upstream."""
    service = serve(Answer(200, {}, body))
    with pytest.raises(ResponseDecodeError) as caught:
        scoring(service).predict(rows())
    assert "cut off" in str(caught.value) and "before the document is closed" in str(caught.value)
    assert service.attempts == RETRIED
    recovered = serve(Answer(200, {}, body), RESULTS)
    assert scoring(recovered).predict(rows()).tolist() == ["age-30", "age-31"]
    assert recovered.attempts == 2


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (Answer(200, {}, b'{"foo": 1}'), "holds no results (keys: foo)"),
        (Answer(200, {}, b'{"not JSON": true}'), "holds no results (keys: not JSON)"),
        (Answer(200, {}, b'"Healthy"'), "a string that is not JSON"),
        (Answer(200, HTML, b"<html><body><h1>Down for maintenance</h1></body></html>"), "not JSON"),
        (Answer(200, {}, b'{"Results": ["age-30"]}'), "sent 2 rows but got 1"),
        (Answer(200, {}, b""), "not JSON"),
    ],
    ids=["other-object", "key-named-not-json", "json-string", "html-page", "wrong-count", "empty"],
)
def test_a_complete_200_that_is_not_scores_is_not_retried(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client], answer: Answer, says: str
) -> None:
    """Whole answers that aren't scores: another try gets the same answer. (The client used to retry every 200
    whose decode error happened to contain the words "not JSON".)"""
    service = serve(answer)
    with pytest.raises(ResponseDecodeError) as caught:
        scoring(service).predict(rows())
    assert says in str(caught.value)
    assert "cut off" not in str(caught.value)
    assert service.attempts == ONCE


def test_read_scores_judges_truncation_from_the_body() -> None:
    with pytest.raises(ResponseDecodeError, match="got 12 of the 40 bytes its Content-Length announced"):
        read_scores(200, b'{"Results": ', 2, {"content-length": "40"})
    with pytest.raises(ResponseDecodeError, match="holds no results"):
        read_scores(200, b'{"foo": 1}', 2, {"content-length": "10"})


def test_read_scores_redacts_the_key_it_is_given() -> None:
    with pytest.raises(AuthenticationError) as caught:
        read_scores(401, js({"message": f"bad key {PRIMARY}"}), 1, {"content-type": "application/json"},
                    secrets=[PRIMARY])  # fmt: skip
    assert PRIMARY not in shown(caught.value) and "bad key <redacted>" in str(caught.value)


# ------------------------------------------------------------------------------------------- request ids


def test_client_request_ids_survive_a_managed_endpoints_sanitising(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    """The service keeps [A-Za-z0-9_-] and 40 characters of x-ms-client-request-id and logs that: every id the
    client sends, and reports on its error, is what the service logged."""
    service = serve(Answer(503, {}, js({"message": "busy"})), sanitize_ids=True)
    with pytest.raises(ServiceUnavailableError) as caught:
        scoring(service).predict(rows())
    sent = [r["x-ms-client-request-id"] for r in service.requests]
    assert len(sent) == RETRIED and len(set(sent)) == RETRIED, "a fresh id per attempt"
    for value in sent:
        assert CLIENT_REQUEST_ID.fullmatch(value) and uuid.UUID(value).version == 4
        assert re.sub(r"[^A-Za-z0-9_-]", "", value)[:40] == value
    assert caught.value.client_request_id == sent[-1]


def test_read_scores_reports_the_id_the_service_echoed() -> None:
    sent = new_client_request_id()  # the form the load test's sender uses for its own requests
    assert CLIENT_REQUEST_ID.fullmatch(sent)
    with pytest.raises(ServiceUnavailableError) as caught:
        read_scores(503, b"", 1, {"x-ms-client-request-id": sent})
    assert caught.value.client_request_id == sent


def test_a_client_request_id_given_in_headers_is_sent_unchanged(
    serve: Callable[..., ScriptedService], scoring: Callable[..., Client]
) -> None:
    service = serve(Answer(502, {}, b""), sanitize_ids=True)
    with pytest.raises(InternalServerError) as caught:
        scoring(service, headers={"X-MS-Client-Request-Id": "nightly-run_2024-05-02"}).predict(rows())
    assert [r["x-ms-client-request-id"] for r in service.requests] == ["nightly-run_2024-05-02"] * RETRIED
    assert caught.value.client_request_id == "nightly-run_2024-05-02"


@pytest.mark.parametrize("given", ["job 42", "run:2024-05-02", "é-trace", "x" * 41])
def test_a_client_request_id_the_service_would_alter_is_refused_up_front(
    make_client: ClientFactory, bank_swagger: dict[str, Any], given: str
) -> None:
    with pytest.raises(ValueError, match=r"letters, digits, '_' and '-', and 40 characters"):
        make_client("http://127.0.0.1:9/score", swagger=bank_swagger, headers={"x-ms-client-request-id": given})


def test_a_prepared_request_leaves_the_id_to_its_sender(
    make_client: ClientFactory, bank_swagger: dict[str, Any]
) -> None:
    with make_client("http://127.0.0.1:9/score", key=PRIMARY, swagger=bank_swagger) as client:
        prepared = client.prepare(rows())
    assert "x-ms-client-request-id" not in prepared.headers
    assert PRIMARY not in repr(prepared)
