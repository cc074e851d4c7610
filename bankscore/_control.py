"""JSON calls to Azure's job services: published pipelines, run history, batch endpoints, the jobs API.

Not scoring: one small request at a time, so one sync httpx client. The same credentials, redacted
one-line errors and backoff as the scoring clients, but only safe retries — a read or a cancel on any
transient answer; a submit only when the service refused it before starting anything (429, 503, or a
connection never made), since a submit repeated after the service acted would start a second run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Self, TypeVar

import httpx
import orjson

from ._base_client import USER_AGENT, tls_verify
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ResponseDecodeError,
    WaitTimeoutError,
    status_error_class,
)
from ._types import AsyncTokenCredential, TokenCredential, Verify
from .credentials import Authorizer, TokenAuth, authorizer, check_token_transport
from .errorbodies import describe
from .retry import RetryPolicy, retry_after_header

T = TypeVar("T")

REFUSED_BEFORE_ACTING: Final = frozenset({429, 503})
"""Statuses that say the request was turned away before anything happened: safe to repeat even a submit."""
FIRST_POLL: Final = 2.0
LAST_POLL: Final = 60.0
"""Polls start 2 s apart and back off to 60 s, as Azure's SDKs poll runs and jobs."""


class ControlClient:
    """Authorised JSON requests with safe retries; errors are APIError subclasses with the service's words."""

    def __init__(
        self,
        auth: Authorizer,
        *,
        timeout: float = 60.0,
        verify: Verify = True,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._auth = auth
        self._policy = policy or RetryPolicy(max_retries=4, deadline=120.0)
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=tls_verify(verify),
            headers={"user-agent": USER_AGENT, "accept": "application/json"},
            follow_redirects=False,
        )

    @property
    def auth(self) -> Authorizer:
        return self._auth

    def call(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        *,
        submit: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its JSON answer (None for an empty one).

        `submit`: the request starts something (a run, a job), so it is repeated only when the service
        refused it outright. Reads and cancels are repeated on any transient failure.
        """
        if isinstance(self._auth, TokenAuth):
            check_token_transport(url)
        content = orjson.dumps(body) if body is not None else None
        started = time.monotonic()
        attempt = 0
        reauthorized = False
        while True:
            attempt += 1
            if self._auth.stale():
                self._auth.refresh()
            authorization = self._auth.authorization()
            sent = dict(headers or {})
            if content is not None:
                sent["content-type"] = "application/json"
            if authorization:
                sent["authorization"] = authorization
            retry_after: str | None = None
            try:
                response = self._http.request(method, url, content=content, headers=sent)
            except httpx.HTTPError as exc:
                error: APIError = _transport_error(exc, method, url)
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                retryable = never_sent or not submit
            else:
                if response.status_code < 300:
                    return _json(response, method, url)
                error = self._status_error(response, method, url)
                status = response.status_code
                if status == 401 and not reauthorized and self._auth.rejected(authorization):
                    reauthorized = True
                    continue
                retryable = self._policy.retryable_status(status) and (not submit or status in REFUSED_BEFORE_ACTING)
                retry_after = retry_after_header(response.headers)
            if not retryable:
                raise error
            wait = self._policy.next_delay(attempt, started, retry_after)
            if wait is None:
                error.message = f"{error.message} — gave up after {attempt} attempts"
                raise error
            self._sleep(wait)

    def _status_error(self, response: httpx.Response, method: str, url: str) -> APIError:
        status = response.status_code
        said = describe(status, response.headers, response.content, self._auth.secrets(), response.reason_phrase)
        error_class = status_error_class(status)
        if said.auth_failure and status < 500:
            error_class = AuthenticationError
        return error_class(
            f"{method} {_shown(url)}: {said.message}",
            status_code=status,
            request_id=response.headers.get("x-ms-request-id") or response.headers.get("x-request-id"),
            body=said.text,
            code=said.code,
            correlation_id=said.correlation_id,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def job_auth(
    credential: TokenCredential | AsyncTokenCredential | TokenAuth | None,
    scope: str,
    key: str | None,
    key_file: str | Path | None,
) -> Authorizer:
    """The job clients' credential: sync only (one request at a time needs no event loop)."""
    auth = authorizer(credential, scope, key=key, key_file=key_file)
    if isinstance(auth, TokenAuth) and auth.is_async:
        raise TypeError("job clients are synchronous: pass the sync credential (azure.identity, not .aio)")
    return auth


def poll(
    read: Callable[[], T],
    finished: Callable[[T], bool],
    *,
    timeout: float | None,
    interval: float = FIRST_POLL,
    max_interval: float = LAST_POLL,
    on_update: Callable[[T, float], None] | None = None,
    describe_state: Callable[[T], str] = str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Read a run or job until `finished`, waiting `interval` seconds at first and backing off ×1.5 to
    `max_interval`; never waits past `timeout` (then WaitTimeoutError carries the last state)."""
    started = time.monotonic()
    wait = interval
    while True:
        state = read()
        elapsed = time.monotonic() - started
        if on_update is not None:
            on_update(state, elapsed)
        if finished(state):
            return state
        if timeout is not None:
            left = timeout - elapsed
            if left <= 0:
                raise WaitTimeoutError(
                    f"still {describe_state(state)} after {timeout:g} s (the wait's timeout); it goes on in the "
                    "service: check it again later, or cancel it",
                    state,
                )
            sleep(min(wait, left))
        else:
            sleep(wait)
        wait = min(wait * 1.5, max_interval)


def error_text(error: Any) -> str | None:
    """A run's or job's `error` ({"error": {"code", "message"}}, or flatter forms) as one line."""
    if not error:
        return None
    inner = error.get("error", error) if isinstance(error, Mapping) else error
    if isinstance(inner, Mapping):
        message = inner.get("message") or inner.get("Message")
        code = inner.get("code") or inner.get("Code")
        if message:
            text = str(message).strip().splitlines()[0] if str(message).strip() else str(message)
            return f"{text} ({code})" if code else text
    return str(inner)[:300]


def _json(response: httpx.Response, method: str, url: str) -> Any:
    if not response.content.strip():
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ResponseDecodeError(
            f"{method} {_shown(url)}: the answer is not JSON ({response.headers.get('content-type', 'no type')})",
            status_code=response.status_code,
        ) from None


def _transport_error(exc: httpx.HTTPError, method: str, url: str) -> APIError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{method} {_shown(url)}: no answer in time ({type(exc).__name__})")
    return APIConnectionError(f"{method} {_shown(url)}: connection failed: {exc or type(exc).__name__}")


def _shown(url: str) -> str:
    """The URL without its query (api-version and the like say nothing to the reader)."""
    return url.split("?", 1)[0]
