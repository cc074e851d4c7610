"""Retry budgets sized for jobs and concurrency that backs off, over real loopback HTTP through FaultProxy.

Both clients (`make_client`); the right answers come from the endpoint itself (`reference`), and what the
client sent is counted at the proxy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from bankscore import BadRequestError, ModelError, RetryPolicy, ServiceUnavailableError
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY
from tests.support.faultproxy import FaultProxy

if TYPE_CHECKING:
    from tests.client.conftest import Reference
    from tests.support.twins import ClientFactory


def quick(**changes: Any) -> RetryPolicy:
    """Small backoff so the tests are fast; no count limit unless a test sets one."""
    options: dict[str, Any] = {"max_retries": None, "backoff_base": 0.01, "backoff_max": 0.05, "deadline": 60.0}
    return RetryPolicy(**{**options, **changes})


def base_of(endpoint: Any) -> str:
    return str(endpoint.scoring_uri).rsplit("/score", 1)[0]


def test_adaptive_concurrency_gets_far_fewer_429s_than_a_fixed_16(
    make_client: ClientFactory, start_endpoint: Any, endpoint: Any, reference: Reference, caplog: Any
) -> None:
    # Each answer takes a while, so requests overlap as at a busy service, however slowly this machine sends them.
    slow = start_endpoint(latency_ms=100)
    rows = generate(4_000, seed=8, label=False)
    expected = reference.predict(endpoint, rows)
    caplog.set_level(logging.INFO, logger="bankscore")
    seen = {}
    for adaptive in (True, False):
        with (
            FaultProxy(base_of(slow), max_in_flight=3) as proxy,
            make_client(
                proxy.scoring_uri,
                key=PRIMARY,
                batch_rows=40,
                concurrency=16,
                adaptive_concurrency=adaptive,
                retry_policy=quick(),
            ) as client,
        ):
            assert client.predict(rows).tolist() == expected  # every row right, in order
            stats = client.stats
        assert stats.rate_limited == proxy.overloaded and stats.requests == len(proxy.post_times)
        assert stats.rows == len(rows) and stats.retries == proxy.overloaded
        seen[adaptive] = (proxy.overloaded, stats.limit)
    (adaptive_429s, adaptive_limit), (fixed_429s, fixed_limit) = seen[True], seen[False]
    assert fixed_limit == 16 and adaptive_limit < 16
    assert fixed_429s > 0
    # AIMD settles around the limit (a 429 every few batches: 35 here, against 391-1,246 for fixed 16 behind these
    # 100 ms answers); a loaded machine overlaps fewer requests, so the margin asked for is far wider.
    assert adaptive_429s * 10 <= fixed_429s * 7, seen
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert any("HTTP 429" in message for message in retries)  # retries are still logged


def test_a_retry_after_pauses_every_sender(make_client: ClientFactory, endpoint: Any, reference: Reference) -> None:
    rows = generate(600, seed=9, label=False)
    pause = 1.5
    with (
        FaultProxy(base_of(endpoint), schedule={6: "429-retry-after"}, retry_after=repr(pause)) as proxy,
        make_client(proxy.scoring_uri, key=PRIMARY, batch_rows=20, concurrency=4, retry_policy=quick()) as client,
    ):
        assert client.predict(rows).tolist() == reference.predict(endpoint, rows)
        assert client.stats.rate_limited == 1
    assert proxy.posts == 30 + 1  # 30 batches and the one retry
    ((answered, fault),) = proxy.fault_times
    assert fault == "429-retry-after"
    during = [t for t in proxy.post_times if answered < t < answered + pause * 0.9]
    # Only requests already on their way when the 429 came back may arrive in the pause (at most the other 3
    # senders'); without the shared pause the other senders would have sent the remaining 23 batches in it.
    assert len(during) <= 3, len(during)
    assert len([t for t in proxy.post_times if t > answered]) >= 20  # the job went on after the pause


def test_no_count_limit_keeps_retrying_a_flaky_batch(
    make_client: ClientFactory, endpoint: Any, reference: Reference
) -> None:
    rows = generate(10, seed=3, label=False)
    faults = dict.fromkeys(range(8), "502-html")  # eight failures in a row: more than max_retries=4 allows
    with FaultProxy(base_of(endpoint), schedule=faults) as proxy:
        with make_client(proxy.scoring_uri, key=PRIMARY, retry_policy=quick()) as client:
            assert client.predict(rows).tolist() == reference.predict(endpoint, rows)
        assert proxy.posts == 9
    with FaultProxy(base_of(endpoint), schedule=faults) as proxy:
        counted = make_client(proxy.scoring_uri, key=PRIMARY, retry_policy=quick(max_retries=4))
        with counted, pytest.raises(Exception, match="gave up after 5 attempts"):
            counted.predict(rows)


def test_no_count_limit_still_stops_at_the_deadline(make_client: ClientFactory, endpoint: Any) -> None:
    rows = generate(5, seed=3, label=False)
    with (
        FaultProxy(base_of(endpoint), rate=1.0, faults=("503",)) as proxy,
        make_client(proxy.scoring_uri, key=PRIMARY, retry_policy=quick(deadline=1.0)) as client,
        pytest.raises(ServiceUnavailableError) as caught,
    ):
        client.predict(rows)
    assert proxy.posts > 5  # more than the default count allows
    assert f"gave up after {proxy.posts} attempts" in str(caught.value)
    assert caught.value.rows == (0, 5)


def test_patience_gives_up_when_no_batch_succeeds(make_client: ClientFactory, endpoint: Any) -> None:
    rows = generate(200, seed=4, label=False)
    with (
        FaultProxy(base_of(endpoint), rate=1.0, faults=("503",)) as proxy,
        make_client(
            proxy.scoring_uri,
            key=PRIMARY,
            batch_rows=50,
            concurrency=2,
            max_retries=None,
            deadline=None,
            patience=1.0,
            retry_policy=None,
        ) as client,
        pytest.raises(ServiceUnavailableError) as caught,
    ):
        client.predict(rows)
    message = str(caught.value)
    assert "no batch has succeeded for 1 s" in message, message
    assert caught.value.rows is not None and caught.value.rows[1] - caught.value.rows[0] == 50
    assert proxy.posts > 2  # it did retry before giving up


@pytest.mark.parametrize(("fault", "error"), [("400", BadRequestError), ("model-error-200", ModelError)])
def test_client_and_model_errors_still_end_at_once(
    make_client: ClientFactory, endpoint: Any, fault: str, error: type[Exception]
) -> None:
    rows = generate(5, seed=3, label=False)
    with (
        FaultProxy(base_of(endpoint), schedule={0: fault}) as proxy,
        make_client(proxy.scoring_uri, key=PRIMARY, retry_policy=quick(patience=30.0)) as client,
        pytest.raises(error),
    ):
        client.predict(rows)
    assert proxy.posts == 1


def test_options_reach_the_policy_and_with_options(make_client: ClientFactory, endpoint: Any) -> None:
    client = make_client(endpoint.scoring_uri, key=PRIMARY)
    policy = client.options.policy()
    assert (policy.max_retries, policy.deadline, policy.patience) == (4, 300.0, None)  # plain predict: as before
    assert client.options.adaptive_concurrency is True
    job = client.with_options(max_retries=None, patience=120.0, adaptive_concurrency=False, concurrency=6)
    policy = job.options.policy()
    assert (policy.max_retries, policy.deadline, policy.patience) == (None, 300.0, 120.0)
    assert job.stats.limit == 6 and job.stats.requests == 0
    with pytest.raises(ValueError, match="time bound"):
        client.with_options(max_retries=None, deadline=None)
