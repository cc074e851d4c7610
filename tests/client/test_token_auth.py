"""TokenAuth's cache and refresh policy, and the job calls' safe retries — core SDK only (no azure-core).

The credential here is a plain object with azure-core's `get_token` signature, on a fake clock: what
matters is when the policy asks for a new token. End-to-end proofs with signed JWTs against the embedded
endpoint are in tests/entra.
"""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from bankscore import AuthenticationError, KeySourceError, ScoringClient, TokenAuth
from bankscore._control import ControlClient
from bankscore.credentials import ARM_SCOPE, ML_SCOPE, KeyCredential
from tests.support.canned import Answer, CannedServer, Seen


class Token(NamedTuple):
    token: str
    expires_on: int


class Info(NamedTuple):
    token: str
    expires_on: int
    refresh_on: int | None = None
    token_type: str = "Bearer"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeCredential:
    """azure-core's TokenCredential shape; hands out tok-1, tok-2, ... living `lifetime` seconds."""

    def __init__(self, clock: Clock, lifetime: float = 3600, fail: bool = False) -> None:
        self.clock, self.lifetime, self.fail = clock, lifetime, fail
        self.calls: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        with self._lock:
            self.calls.append(scopes)
            if self.fail:
                raise RuntimeError("AADSTS7000215: Invalid client secret provided.")
            return Token(f"tok-{len(self.calls)}", int(self.clock() + self.lifetime))


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_token_is_fetched_once_and_reused_until_five_minutes_before_expiry(clock: Clock) -> None:
    credential = FakeCredential(clock, lifetime=3600)
    auth = TokenAuth(credential, ML_SCOPE, clock=clock)
    assert auth.stale() and auth.authorization() is None
    auth.refresh()
    assert auth.authorization() == "Bearer tok-1"
    assert credential.calls == [(ML_SCOPE,)]
    clock.now += 3600 - 301
    assert not auth.stale()
    clock.now += 2  # now fewer than 300 s remain
    assert auth.stale()
    auth.refresh()
    assert auth.authorization() == "Bearer tok-2"
    assert len(credential.calls) == 2


def test_a_short_lived_token_is_refreshed_at_half_its_life_not_on_every_request(clock: Clock) -> None:
    credential = FakeCredential(clock, lifetime=5)
    auth = TokenAuth(credential, clock=clock)
    auth.refresh()
    clock.now += 2.4
    assert not auth.stale()
    clock.now += 0.2
    assert auth.stale()


def test_refresh_on_from_get_token_info_comes_first(clock: Clock) -> None:
    class InfoCredential:
        def __init__(self) -> None:
            self.calls = 0

        def get_token_info(self, *scopes: str, options: Any = None) -> Info:
            self.calls += 1
            return Info(f"info-{self.calls}", int(clock() + 3600), refresh_on=int(clock() + 600))

    credential = InfoCredential()
    auth = TokenAuth(credential, clock=clock)  # type: ignore[arg-type]
    auth.refresh()
    assert auth.authorization() == "Bearer info-1"
    clock.now += 599
    assert not auth.stale()
    clock.now += 2
    assert auth.stale()
    auth.refresh()
    assert auth.authorization() == "Bearer info-2"


def test_a_failed_refresh_keeps_a_still_valid_token_and_waits_before_trying_again(clock: Clock) -> None:
    credential = FakeCredential(clock, lifetime=3600)
    auth = TokenAuth(credential, clock=clock)
    auth.refresh()
    clock.now += 3400  # in the refresh window
    credential.fail = True
    auth.refresh()  # fails quietly: the token still works
    assert auth.authorization() == "Bearer tok-1"
    assert not auth.stale()  # no new attempt for 30 s
    clock.now += 31
    assert auth.stale()


def test_no_token_at_all_is_an_authentication_error_with_the_credentials_words_and_no_secret(clock: Clock) -> None:
    auth = TokenAuth(FakeCredential(clock, fail=True), clock=clock)
    with pytest.raises(AuthenticationError) as caught:
        auth.refresh()
    message = str(caught.value)
    assert "FakeCredential" in message and ML_SCOPE in message and "AADSTS7000215" in message


def test_a_rejected_token_is_dropped_so_the_next_attempt_fetches_a_new_one(clock: Clock) -> None:
    credential = FakeCredential(clock)
    auth = TokenAuth(credential, clock=clock)
    auth.refresh()
    assert auth.rejected("Bearer tok-1")
    assert auth.stale()
    auth.refresh()
    assert auth.authorization() == "Bearer tok-2"
    # A 401 for a token already replaced (another thread refreshed first) drops nothing.
    auth.rejected("Bearer tok-1")
    assert auth.authorization() == "Bearer tok-2"


def test_concurrent_senders_share_one_fetch(clock: Clock) -> None:
    credential = FakeCredential(clock)
    auth = TokenAuth(credential, clock=clock)
    barrier = threading.Barrier(8)

    def sender() -> None:
        barrier.wait()
        if auth.stale():
            auth.refresh()

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(credential.calls) == 1


def test_async_credentials_are_awaited_and_sync_ones_run_off_the_loop(clock: Clock) -> None:
    class AsyncCredential:
        def __init__(self) -> None:
            self.calls = 0

        async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
            self.calls += 1
            await asyncio.sleep(0)
            return Token(f"async-{self.calls}", int(clock() + 3600))

    async_credential = AsyncCredential()
    auth = TokenAuth(async_credential, clock=clock)  # type: ignore[arg-type]
    assert auth.is_async
    with pytest.raises(TypeError, match="AsyncScoringClient"):
        auth.refresh()

    async def main() -> tuple[str | None, str | None]:
        await asyncio.gather(*(auth.refresh_async() for _ in range(5)))
        sync_auth = TokenAuth(FakeCredential(clock), clock=clock)
        await sync_auth.refresh_async()
        return auth.authorization(), sync_auth.authorization()

    assert asyncio.run(main()) == ("Bearer async-1", "Bearer tok-1")
    assert async_credential.calls == 1


def test_tokens_stay_out_of_reprs_and_pickles(clock: Clock) -> None:
    auth = TokenAuth(FakeCredential(clock), ARM_SCOPE, clock=clock)
    auth.refresh()
    assert "tok-1" not in repr(auth) and "tok-1" not in str(auth)
    assert repr(auth) == f"TokenAuth(credential=FakeCredential, scope={ARM_SCOPE!r})"
    with pytest.raises(TypeError, match="can't be pickled"):
        pickle.dumps(auth)
    assert auth.secrets() == ("tok-1",)  # what error messages are redacted of


def test_something_without_get_token_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="not a token credential"):
        TokenAuth("my-key")  # type: ignore[arg-type]


def test_the_client_refuses_a_token_over_plain_http_beyond_loopback_and_a_key_beside_a_credential(
    clock: Clock,
) -> None:
    credential = FakeCredential(clock)
    with pytest.raises(KeySourceError, match="plain http"):
        ScoringClient("http://scoring.example.com/score", credential=credential, swagger={})
    with pytest.raises(KeySourceError, match="not both"):
        ScoringClient("https://x.inference.ml.azure.com/score", key="k", credential=credential)
    for url in ("https://x.inference.ml.azure.com/score", "http://127.0.0.1:9/score", "http://localhost:9/score"):
        ScoringClient(url, credential=credential).close()
    assert credential.calls == []  # no token is fetched before a request needs one


def test_the_sync_client_refuses_an_async_credential() -> None:
    class AsyncCredential:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
            raise AssertionError("never called")

    with pytest.raises(TypeError, match="AsyncScoringClient"):
        ScoringClient("http://127.0.0.1:9/score", credential=AsyncCredential())  # type: ignore[arg-type]


# ------------------------------------------------------------------ job calls: safe retries, over loopback


@pytest.fixture
def canned() -> Iterator[CannedServer]:
    with CannedServer({}) as server:
        yield server


def _sequence(*answers: Answer) -> Any:
    remaining = list(answers)

    def route(seen: Seen) -> Answer:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]

    return route


def _control(auth: Any) -> ControlClient:
    from bankscore.retry import RetryPolicy

    return ControlClient(auth, policy=RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.02), timeout=5)


def test_a_submit_is_not_repeated_after_the_service_may_have_acted(canned: CannedServer) -> None:
    canned.routes["POST /submit"] = Answer(500, b'{"error": {"code": "InternalError", "message": "boom"}}')
    with _control(KeyCredential("k")) as control, pytest.raises(Exception, match="boom") as caught:
        control.call("POST", canned.base_url + "/submit", {"x": 1}, submit=True)
    assert len(canned.targets("POST")) == 1
    assert getattr(caught.value, "code", None) == "InternalError"


def test_a_submit_refused_outright_is_repeated_and_reads_are_repeated_on_any_transient_answer(
    canned: CannedServer,
) -> None:
    canned.routes["POST /submit"] = _sequence(Answer(503, b"{}"), Answer(429, b"{}"), Answer(200, b'{"Id": "r1"}'))
    canned.routes["GET /run"] = _sequence(Answer(502, b"{}"), Answer(504, b"{}"), Answer(200, b'{"status": "Running"}'))
    with _control(KeyCredential("k")) as control:
        assert control.call("POST", canned.base_url + "/submit", {}, submit=True) == {"Id": "r1"}
        assert control.call("GET", canned.base_url + "/run") == {"status": "Running"}
    assert len(canned.targets("POST")) == 3 and len(canned.targets("GET")) == 3


def test_a_401_fetches_a_new_token_and_tries_once_more(canned: CannedServer, clock: Clock) -> None:
    def route(seen: Seen) -> Answer:
        if seen.headers.get("authorization") == "Bearer tok-1":
            return Answer(401, b'{"error": {"code": "InvalidAuthenticationToken", "message": "The token is expired"}}')
        return Answer(200, b'{"status": "Completed"}')

    canned.routes["GET /run"] = route
    credential = FakeCredential(clock)
    with _control(TokenAuth(credential, ARM_SCOPE, clock=clock)) as control:
        assert control.call("GET", canned.base_url + "/run") == {"status": "Completed"}
    assert [s.headers["authorization"] for s in canned.seen] == ["Bearer tok-1", "Bearer tok-2"]
    assert credential.calls == [(ARM_SCOPE,), (ARM_SCOPE,)]


def test_a_token_refused_twice_is_an_authentication_error_without_the_token(canned: CannedServer, clock: Clock) -> None:
    canned.routes["GET /run"] = Answer(401, b'{"error": {"code": "InvalidAuthenticationToken", "message": "no"}}')
    auth = TokenAuth(FakeCredential(clock), ARM_SCOPE, clock=clock)
    with _control(auth) as control, pytest.raises(AuthenticationError) as caught:
        control.call("GET", canned.base_url + "/run")
    assert len(canned.seen) == 2
    assert "tok-" not in str(caught.value) and "tok-" not in str(caught.value.body)
