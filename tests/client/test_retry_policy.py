"""The retry policy, alone and as both clients apply it, against scripted answers.

The transport is an `httpx.MockTransport`, so every answer (status, headers, body, transport
failure) is exact and every request is recorded; `time.sleep` and `asyncio.sleep` inside
`bankscore._client` are replaced by a recorder, so no test waits and every wait is checked.
Every test that makes a client runs once with ScoringClient and once with AsyncScoringClient.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bankscore._base_client as base_client_module
import bankscore._client as client_module
import bankscore.retry as retry_module
from bankscore import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
    RequestHeadersTooLargeError,
    RequestTooLargeError,
    ResponseDecodeError,
    RetryPolicy,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from bankscore._base_client import USER_AGENT
from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.retry import RETRYABLE_STATUSES, parse_retry_after, retry_after_header
from bankscore.validation import to_table
from tests.support.twins import AsyncioWith, record_waits, replace_transport

if TYPE_CHECKING:
    from tests.support.twins import Client, ClientFactory

ENDPOINT = "http://test.invalid/score"
KEY = "sk-primary-3f9d2c71e8a4"
SECONDARY_KEY = "sk-secondary-b06e5d4a9c17"
RUNAWAY = 25  # more requests than any case here needs: the client is looping

Reply = httpx.Response | type[Exception] | Callable[[httpx.Request], httpx.Response]


def fast(**changes: Any) -> RetryPolicy:
    """Real policy arithmetic with sub-millisecond backoff, seeded so waits are reproducible."""
    options: dict[str, Any] = {
        "max_retries": 4,
        "backoff_base": 0.001,
        "backoff_max": 0.002,
        "deadline": 30.0,
        "rng": random.Random(7),
    }
    return RetryPolicy(**{**options, **changes})


def rows(n: int) -> list[dict[str, Any]]:
    """n valid Bank Marketing rows told apart by their age."""
    return [dict(SAMPLE_ROWS[0], age=20 + i) for i in range(n)]


def sent_rows(request: httpx.Request) -> list[dict[str, Any]]:
    rows_: list[dict[str, Any]] = orjson.loads(request.content)["Inputs"]["data"]
    return rows_


def results_for(request: httpx.Request, status: int = 200, **kwargs: Any) -> httpx.Response:
    """The answer a healthy service gives: one label per row sent (the row's age, so order shows)."""
    labels = [f"age-{r['age']}" for r in sent_rows(request)]
    return httpx.Response(status, json={"Results": labels}, **kwargs)


class Script:
    """Answers requests from a list, in order, repeating the last one; records every request."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies) or [results_for]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) > RUNAWAY:
            raise AssertionError(f"the client sent more than {RUNAWAY} requests: its retry loop does not end")
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, type) and issubclass(reply, Exception):
            raise reply(f"scripted {reply.__name__}", request=request)
        if isinstance(reply, httpx.Response):
            return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)
        return reply(request)

    @property
    def attempts(self) -> int:
        return len(self.requests)

    def header(self, name: str) -> list[str | None]:
        return [r.headers.get(name) for r in self.requests]


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the clients make between attempts, recorded instead of slept."""
    return record_waits(monkeypatch)


@pytest.fixture
def make_client(make_client: ClientFactory, bank_swagger: dict[str, Any]) -> Callable[..., Client]:
    """The suite's `make_client` (sync or async, see conftest.py), its requests answered by a Script."""

    def make(script: Script, *, policy: RetryPolicy | None = None, key: str = KEY, **kwargs: Any) -> Client:
        kwargs.setdefault("concurrency", 1)
        client = make_client(ENDPOINT, key=key, swagger=bank_swagger, retry_policy=policy or fast(), **kwargs)
        replace_transport(client, httpx.MockTransport(script))
        return client

    return make


def labels(n: int) -> list[str]:
    return [f"age-{20 + i}" for i in range(n)]


# ------------------------------------------------------------------------------ transient failures


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES))
@pytest.mark.parametrize("failures", [1, 4])
def test_transient_statuses_are_retried_until_success(
    make_client: Callable[..., Client], waits: list[float], status: int, failures: int
) -> None:
    script = Script(*[httpx.Response(status, json={"message": "busy"})] * failures, results_for)
    client = make_client(script, policy=fast(max_retries=4))
    assert client.predict(rows(3)).tolist() == labels(3)
    assert script.attempts == failures + 1
    assert len(waits) == failures
    assert all(0 <= w <= 0.002 for w in waits)
    assert all(sent_rows(r) == rows(3) for r in script.requests), "a retry sends the same body"


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.ReadTimeout])
def test_transport_failures_are_retried_until_success(
    make_client: Callable[..., Client], waits: list[float], error: type[Exception]
) -> None:
    script = Script(error, error, results_for)
    client = make_client(script)
    assert client.predict(rows(2)).tolist() == labels(2)
    assert script.attempts == 3
    assert len(waits) == 2


def test_a_200_with_a_truncated_body_is_retried(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(200, content=b'{"Results": ["age-20", "ag'), results_for)
    client = make_client(script)
    assert client.predict(rows(2)).tolist() == labels(2)
    assert script.attempts == 2


@pytest.mark.parametrize(
    "body",
    [b"<html><body>maintenance</body></html>", b'{"not JSON": 1}', b'"Healthy"', b'{"foo": 1}', b""],
    ids=["html", "key-named-not-json", "json-string", "other-object", "empty"],
)
def test_a_complete_200_that_is_not_scores_is_not_retried(make_client: Callable[..., Client], body: bytes) -> None:
    """Truncation is judged from the body, never from the words of the decode error."""
    script = Script(httpx.Response(200, content=body))
    client = make_client(script)
    with pytest.raises(ResponseDecodeError):
        client.predict(rows(2))
    assert script.attempts == 1


def test_a_200_shorter_than_its_content_length_is_retried(make_client: Callable[..., Client]) -> None:
    """(Over real HTTP httpx raises for this itself; a mock transport hands the short body over.)"""
    short = httpx.Response(200, content=b'{"Results": []}', headers={"content-length": "90"})
    script = Script(short, results_for)
    client = make_client(script)
    assert client.predict(rows(2)).tolist() == labels(2)
    assert script.attempts == 2


def test_a_200_with_the_wrong_count_is_not_retried(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(200, json={"Results": ["no"]}))
    client = make_client(script)
    with pytest.raises(ResponseDecodeError, match="sent 3 rows but got 1"):
        client.predict(rows(3))
    assert script.attempts == 1


# ------------------------------------------------------------------------------ errors raised at once


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (415, UnsupportedMediaTypeError),
        (422, UnprocessableEntityError),
        (431, RequestHeadersTooLargeError),
        (500, InternalServerError),
        (501, InternalServerError),
    ],
)
def test_client_errors_are_raised_after_one_attempt(
    make_client: Callable[..., Client], waits: list[float], status: int, error: type[APIStatusError]
) -> None:
    script = Script(httpx.Response(status, json={"message": f"scripted {status}"}))
    client = make_client(script)  # no secondary key: a 401 can't be answered by switching keys
    with pytest.raises(error) as caught:
        client.predict(rows(2))
    assert type(caught.value) is error
    assert caught.value.status_code == status
    if status == 431:  # its number alone misleads: the message says what it means, then what the body said
        assert caught.value.message.startswith("the request's headers are too large")
        assert caught.value.message.endswith(": scripted 431")
    else:
        assert caught.value.message == f"scripted {status}"
    assert script.attempts == 1
    assert waits == []


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, json={"error": "ValueError: could not convert 'x'"}),
        httpx.Response(
            200, content=orjson.dumps(orjson.dumps({"error": "ValueError: could not convert 'x'"}).decode())
        ),
        httpx.Response(
            500, json={"message": "ValueError: could not convert 'x'"}, headers={"x-ms-run-function-failed": "True"}
        ),
        httpx.Response(502, text="ValueError: could not convert 'x'", headers={"x-ms-run-function-failed": "true"}),
        httpx.Response(424, json={"message": "ValueError: could not convert 'x'"}),
    ],
    ids=["200-error", "200-error-double-encoded", "500-function-failed", "502-function-failed", "424"],
)
def test_model_errors_are_raised_after_one_attempt(
    make_client: Callable[..., Client], waits: list[float], reply: httpx.Response
) -> None:
    script = Script(reply)
    client = make_client(script)
    with pytest.raises(ModelError, match="could not convert") as caught:
        client.predict(rows(2))
    assert caught.value.status_code == reply.status_code
    assert script.attempts == 1
    assert waits == []


def test_413_on_a_single_row_is_raised(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(413, json={"message": "too large"}))
    client = make_client(script)
    with pytest.raises(RequestTooLargeError):
        client.predict(rows(1))
    assert script.attempts == 1


# ------------------------------------------------------------------------------ Retry-After


def test_retry_after_seconds_is_the_wait(make_client: Callable[..., Client], waits: list[float]) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "0.05"}), results_for)
    client = make_client(script, policy=fast(retry_after_cap=30.0))
    assert client.predict(rows(1)).tolist() == labels(1)
    assert waits == [0.05]


def test_retry_after_is_capped(make_client: Callable[..., Client], waits: list[float]) -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "3600"}), results_for)
    client = make_client(script, policy=fast(retry_after_cap=0.25, deadline=None))
    client.predict(rows(1))
    assert waits == [0.25]


def test_retry_after_as_an_http_date(make_client: Callable[..., Client], waits: list[float]) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    header = email.utils.format_datetime(when, usegmt=True)
    script = Script(httpx.Response(503, headers={"Retry-After": header}), results_for)
    client = make_client(script, policy=fast(retry_after_cap=600.0, deadline=None))
    client.predict(rows(1))
    assert len(waits) == 1
    assert 85 <= waits[0] <= 90  # the header has whole seconds


def test_retry_after_in_the_past_retries_at_once(make_client: Callable[..., Client], waits: list[float]) -> None:
    header = email.utils.format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    script = Script(httpx.Response(429, headers={"Retry-After": header}), results_for)
    client = make_client(script)
    client.predict(rows(1))
    assert waits == [0.0]


def test_unreadable_retry_after_falls_back_to_backoff(make_client: Callable[..., Client], waits: list[float]) -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "soon"}), results_for)
    client = make_client(script, policy=fast(backoff_base=0.001, backoff_max=0.002))
    client.predict(rows(1))
    assert len(waits) == 1 and 0 <= waits[0] <= 0.001


# ------------------------------------------------------------------------------ giving up


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_max_retries_is_respected(make_client: Callable[..., Client], waits: list[float], max_retries: int) -> None:
    script = Script(httpx.Response(503, json={"message": "overloaded"}))
    client = make_client(script, policy=fast(max_retries=max_retries))
    with pytest.raises(ServiceUnavailableError) as caught:
        client.predict(rows(2))
    attempts = max_retries + 1
    assert script.attempts == attempts
    assert len(waits) == max_retries
    assert f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}" in str(caught.value)
    assert caught.value.status_code == 503


def test_transport_failures_give_up_as_connection_errors(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.ConnectError)
    client = make_client(script, policy=fast(max_retries=2))
    with pytest.raises(APIConnectionError, match="gave up after 3 attempts") as caught:
        client.predict(rows(2))
    assert script.attempts == 3
    assert caught.value.status_code is None
    assert caught.value.client_request_id == script.header("x-ms-client-request-id")[-1]
    assert caught.value.rows == (0, 2)


def test_the_deadline_bounds_the_whole_call(make_client: Callable[..., Client], monkeypatch: Any) -> None:
    """A fake clock that only moves when the client sleeps: the deadline decides, not max_retries."""
    clock = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    async def async_sleep(seconds: float) -> None:
        sleep(seconds)

    fake_time = SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep, time=time.time)
    # Wherever the retry loop reads the clock (the client, its shared state machine, the policy).
    for module in (client_module, base_client_module, retry_module):
        monkeypatch.setattr(module, "time", fake_time, raising=False)
    monkeypatch.setattr(client_module, "asyncio", AsyncioWith(sleep=async_sleep))  # the async client's waits
    script = Script(httpx.Response(503, headers={"Retry-After": "0.3"}))
    client = make_client(script, policy=fast(max_retries=100, deadline=1.0))
    with pytest.raises(ServiceUnavailableError, match="gave up after 4 attempts"):
        client.predict(rows(1))
    # Waits at 0.3, 0.6 and 0.9 s fit in the second; a fourth would end at 1.2 s.
    assert script.attempts == 4
    assert slept == [0.3, 0.3, 0.3]


def test_no_deadline_means_max_retries_alone_decides(make_client: Callable[..., Client], waits: list[float]) -> None:
    script = Script(httpx.Response(502))
    client = make_client(script, policy=fast(max_retries=6, deadline=None))
    with pytest.raises(InternalServerError):
        client.predict(rows(1))
    assert script.attempts == 7


# ------------------------------------------------------------------------------ keys


def test_a_rejected_primary_falls_back_to_the_secondary_once(
    make_client: Callable[..., Client], waits: list[float]
) -> None:
    def service(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == f"Bearer {SECONDARY_KEY}":
            return results_for(request)
        return httpx.Response(401, json={"message": "invalid key"})

    script = Script(service)
    client = make_client(script, secondary_key=SECONDARY_KEY)
    assert client.predict(rows(2)).tolist() == labels(2)
    assert script.header("authorization") == [f"Bearer {KEY}", f"Bearer {SECONDARY_KEY}"]
    assert waits == [], "switching keys is not a backoff"
    client.predict(rows(1))
    assert script.header("authorization")[-1] == f"Bearer {SECONDARY_KEY}", "the switch sticks"
    assert script.attempts == 3


def test_when_both_keys_are_rejected_the_second_401_is_raised(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(401, json={"message": "invalid key"}))
    client = make_client(script, secondary_key=SECONDARY_KEY)
    with pytest.raises(AuthenticationError):
        client.predict(rows(2))
    assert script.header("authorization") == [f"Bearer {KEY}", f"Bearer {SECONDARY_KEY}"]


def test_a_401_without_a_secondary_key_is_raised_at_once(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(401, json={"message": "invalid key"}))
    client = make_client(script)
    with pytest.raises(AuthenticationError):
        client.predict(rows(2))
    assert script.header("authorization") == [f"Bearer {KEY}"]


# ------------------------------------------------------------------------------ 413 splitting


@pytest.mark.parametrize("n", [2, 5, 8])
def test_413_splits_the_batch_in_halves_and_keeps_the_order(
    make_client: Callable[..., Client], waits: list[float], n: int
) -> None:
    def service(request: httpx.Request) -> httpx.Response:
        if len(sent_rows(request)) > 1:
            return httpx.Response(413, json={"message": "request entity too large"})
        return results_for(request)

    script = Script(service)
    client = make_client(script)
    assert client.predict(rows(n)).tolist() == labels(n)
    singles = [sent_rows(r)[0]["age"] for r in script.requests if len(sent_rows(r)) == 1]
    assert singles == [20 + i for i in range(n)], "each row sent alone exactly once, in order"
    assert script.attempts == 2 * n - 1  # a binary split of n rows has n - 1 inner nodes
    assert waits == []


def test_413_split_stops_at_the_first_size_that_fits(make_client: Callable[..., Client]) -> None:
    def service(request: httpx.Request) -> httpx.Response:
        if len(sent_rows(request)) > 3:
            return httpx.Response(413)
        return results_for(request)

    script = Script(service)
    client = make_client(script)
    assert client.predict(rows(8)).tolist() == labels(8)
    assert [len(sent_rows(r)) for r in script.requests] == [8, 4, 2, 2, 4, 2, 2]


def test_score_table_can_put_a_failed_batchs_error_in_its_rows(make_client: Callable[..., Client]) -> None:
    def service(request: httpx.Request) -> httpx.Response:
        if sent_rows(request)[0]["age"] == 22:  # the second batch: rows 2 and 3
            return httpx.Response(400, json={"message": "bad row"})
        return results_for(request)

    script = Script(service)
    client = make_client(script, batch_rows=2)
    seen: list[int] = []
    table = to_table(rows(6), client.contract)
    results = client.score_table(table, "predict", lambda done, total: seen.append(done), on_error="return")
    assert results[:2] == labels(2) and results[4:] == labels(6)[4:]
    assert type(results[2]) is BadRequestError and results[3] is results[2]
    assert results[2].rows == (2, 4)
    assert seen == [2, 4, 6] and script.attempts == 3
    with pytest.raises(BadRequestError):
        client.score_table(table)


# ------------------------------------------------------------------------------ headers


def test_every_request_carries_a_fresh_client_request_id(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(503), httpx.ConnectError, httpx.Response(429), results_for)
    client = make_client(script, batch_rows=2)
    client.predict(rows(4))
    ids = script.header("x-ms-client-request-id")
    assert len(ids) == 5
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(str(i)) for i in ids)


def test_headers_on_every_request(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(502), results_for)
    client = make_client(script, model_deployment="blue")
    client.predict(rows(1))
    for request in script.requests:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["azureml-model-deployment"] == "blue"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == USER_AGENT
        assert request.method == "POST"
        assert str(request.url) == ENDPOINT


def test_no_deployment_header_unless_asked(make_client: Callable[..., Client]) -> None:
    script = Script()
    client = make_client(script)
    client.predict(rows(1))
    assert script.header("azureml-model-deployment") == [None]


# ------------------------------------------------------------------------------ what errors carry


def _assert_no_key(error: APIError) -> None:
    shown = [str(error), repr(error), repr(vars(error)), repr(error.args)]
    for text in shown:
        assert KEY not in text and SECONDARY_KEY not in text
        assert "Bearer" not in text


@pytest.mark.parametrize(
    ("reply", "error_class"),
    [
        (httpx.Response(400, json={"message": "bad row"}, headers={"x-ms-request-id": "req-400"}), BadRequestError),
        (
            httpx.Response(503, json={"message": "busy"}, headers={"x-ms-request-id": "req-503"}),
            ServiceUnavailableError,
        ),
        (httpx.Response(424, json={"message": "model failed"}, headers={"x-ms-request-id": "req-424"}), ModelError),
        (httpx.Response(200, json={"error": "model failed"}, headers={"x-ms-request-id": "req-200"}), ModelError),
    ],
    ids=["400", "503", "424", "200-error"],
)
def test_errors_carry_the_ids_and_rows_but_never_the_key(
    make_client: Callable[..., Client], reply: httpx.Response, error_class: type[APIError]
) -> None:
    script = Script(reply)
    client = make_client(script, secondary_key=SECONDARY_KEY, batch_rows=3, policy=fast(max_retries=1))
    with pytest.raises(error_class) as caught:
        client.predict(rows(5))
    error = caught.value
    assert error.status_code == reply.status_code
    assert error.request_id == reply.headers["x-ms-request-id"]
    failed = [r for r in script.requests if [row["age"] for row in sent_rows(r)] == [20, 21, 22]]
    assert error.client_request_id == failed[-1].headers["x-ms-client-request-id"], "the id of the last attempt"
    assert error.rows == (0, 3), "the first batch of three failed"
    assert error.client_request_id in str(error) and error.request_id in str(error)
    assert "rows 0–2" in str(error)
    _assert_no_key(error)


@pytest.mark.parametrize(
    "reply",
    [httpx.Response(400, json={"message": "bad row"}), httpx.Response(503, json={"message": "busy"})],
    ids=["400", "503"],
)
def test_with_concurrency_1_a_batch_that_fails_for_good_ends_the_call(
    make_client: Callable[..., Client], reply: httpx.Response
) -> None:
    """One batch after another: once one has failed for good, no later batch is sent, and its error is the last word.

    (The async client used to gather every batch and cancel none: later batches were still sent.)"""
    script = Script(reply)
    client = make_client(script, batch_rows=3, policy=fast(max_retries=1))
    with pytest.raises(APIStatusError) as caught:
        client.predict(rows(5))
    assert {tuple(row["age"] for row in sent_rows(r)) for r in script.requests} == {(20, 21, 22)}
    assert caught.value.client_request_id == script.header("x-ms-client-request-id")[-1]


def test_the_fallback_request_id_header_is_read(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.Response(400, json={"message": "bad"}, headers={"x-request-id": "v2-req-1"}))
    client = make_client(script)
    with pytest.raises(BadRequestError) as caught:
        client.predict(rows(1))
    assert caught.value.request_id == "v2-req-1"


def test_a_connection_error_never_carries_the_key(make_client: Callable[..., Client]) -> None:
    script = Script(httpx.ConnectError)
    client = make_client(script, secondary_key=SECONDARY_KEY, policy=fast(max_retries=0))
    with pytest.raises(APIConnectionError) as caught:
        client.predict(rows(1))
    _assert_no_key(caught.value)
    assert KEY not in repr(client) and SECONDARY_KEY not in repr(client)


# ------------------------------------------------------------------------------ the policy alone


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    attempt=st.integers(1, 64),
    base=st.floats(0, 10, allow_nan=False),
    cap=st.floats(0, 120, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_backoff_is_full_jitter_within_the_exponential_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    policy = RetryPolicy(backoff_base=base, backoff_max=cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2 ** (attempt - 1))
    for _ in range(20):
        assert 0 <= policy.delay(attempt) <= ceiling


def test_backoff_actually_jitters_and_grows() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=1000.0, rng=random.Random(3))
    for attempt in (1, 4, 8):
        samples = [policy.delay(attempt) for _ in range(400)]
        ceiling = 2 ** (attempt - 1)
        assert len(set(samples)) > 300, "full jitter, not a fixed wait"
        assert max(samples) > 0.9 * ceiling and min(samples) < 0.1 * ceiling


@pytest.mark.parametrize("attempt", [1_025, 10_000])
def test_backoff_stays_capped_for_any_attempt_number(attempt: int) -> None:
    """max_retries has no upper bound, so a long-running retry loop can reach any attempt number."""
    policy = RetryPolicy(max_retries=attempt, backoff_base=0.5, backoff_max=8.0, deadline=None)
    assert 0 <= policy.delay(attempt) <= 8.0


def test_retry_after_beats_backoff_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=100.0, backoff_max=100.0, retry_after_cap=5.0)
    assert policy.delay(3, "2") == 2.0
    assert policy.delay(3, "60") == 5.0
    assert policy.delay(3, "-1") == 0.0
    assert 0 <= policy.delay(3, "garbage") <= 100.0


def test_next_delay_stops_after_max_retries_and_at_the_deadline() -> None:
    policy = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.01, deadline=10.0)
    now = time.monotonic()
    assert policy.next_delay(1, now) is not None
    assert policy.next_delay(2, now) is not None
    assert policy.next_delay(3, now) is None
    assert policy.next_delay(1, now - 11.0) is None, "deadline already spent"
    assert policy.next_delay(1, now, "9.5") is not None
    assert policy.next_delay(1, now - 1.0, "9.5") is None, "the wait would end past the deadline"
    assert RetryPolicy(max_retries=0).next_delay(1, now) is None


@pytest.mark.parametrize(
    "changes", [{"max_retries": -1}, {"backoff_base": -0.1}, {"backoff_max": -1.0}, {"retry_after_cap": -5.0}]
)
def test_negative_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**changes)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("5", 5.0), ("0.05", 0.05), (" 7 ", 7.0), ("0", 0.0), ("120", 120.0), ("-3", 0.0), ("-0.5", 0.0)],
)
def test_parse_retry_after_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "5s", "nan", "1,5", "Tomorrow at noon", "Mon, 99 Foo"])
def test_parse_retry_after_garbage_is_none(header: str | None) -> None:
    assert parse_retry_after(header) is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"x-ms-retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "-5", "retry-after": "2"}, 2.0),
        ({}, None),
    ],
)
def test_azure_millisecond_headers_come_before_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(retry_after_header(httpx.Headers(headers))) == seconds


def test_parse_retry_after_http_dates() -> None:
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after(past) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    future = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = parse_retry_after(future)
    assert seconds is not None and 115 <= seconds <= 120
