"""The throttle's state machine alone: AIMD, the shared Retry-After pause, the patience clock, the counts.

Plain calls with the time passed in: no HTTP, no threads (but one test of the thread wrapper's blocking).
"""

from __future__ import annotations

import threading

import pytest

from bankscore import ClientStats, RetryPolicy
from bankscore._throttle import Answer, ThreadThrottle, Throttle, read_answer

OK = Answer(200, congested=False, retry_after=None)
BUSY = Answer(429, congested=True, retry_after=None)
DOWN = Answer(503, congested=True, retry_after=None)


def fill(throttle: Throttle, now: float = 0.0) -> list[int]:
    """Send as many requests as the throttle admits now; their tickets."""
    tickets = []
    while throttle.admit(now) == 0.0:
        tickets.append(throttle.acquire(now))
    return tickets


def test_starts_at_concurrency_and_admits_no_more() -> None:
    throttle = Throttle(4)
    assert len(fill(throttle)) == 4
    assert throttle.admit(0.0) is None  # full: wait for a release
    throttle.release(1, 0.0, OK)
    assert throttle.admit(0.0) == 0.0


def test_many_429s_of_one_overload_halve_the_limit_once() -> None:
    throttle = Throttle(8)
    tickets = fill(throttle)
    for ticket in tickets:  # all eight were sent before the cut: one congestion event
        throttle.release(ticket, 1.0, BUSY)
    assert throttle.limit == 4
    assert throttle.stats().rate_limited == 8


def test_a_429_to_a_request_sent_after_the_cut_cuts_again() -> None:
    throttle = Throttle(8)
    first, second = fill(throttle)[:2]
    throttle.release(first, 1.0, BUSY)
    assert throttle.limit == 4
    late = throttle.acquire(1.0)  # sent after the cut
    throttle.release(second, 1.1, BUSY)  # sent before it: ignored
    assert throttle.limit == 4
    throttle.release(late, 1.2, DOWN)
    assert throttle.limit == 2
    assert throttle.stats().unavailable == 1


def test_limit_never_drops_below_one() -> None:
    throttle = Throttle(2)
    for _ in range(5):
        ticket = throttle.acquire(0.0)
        throttle.release(ticket, 0.0, BUSY)
    assert throttle.limit == 1
    assert throttle.admit(0.0) == 0.0


def test_limit_grows_by_one_after_limit_successes_up_to_concurrency() -> None:
    throttle = Throttle(4)
    for _ in range(2):
        throttle.release(throttle.acquire(0.0), 0.0, BUSY)
    assert throttle.limit == 1
    seen = []
    for _ in range(12):
        throttle.release(throttle.acquire(0.0), 0.0, OK)
        seen.append(throttle.limit)
    # 1 success at limit 1 → 2; 2 at limit 2 → 3; 3 at limit 3 → 4; then it stays at concurrency
    assert seen == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]


def test_other_failures_neither_cut_nor_count_toward_growth() -> None:
    throttle = Throttle(4)
    throttle.release(throttle.acquire(0.0), 0.0, BUSY)
    assert throttle.limit == 2
    throttle.release(throttle.acquire(0.0), 0.0, Answer(502, congested=False, retry_after=None))
    throttle.release(throttle.acquire(0.0), 0.0, None)  # no answer (a reset)
    assert throttle.limit == 2
    throttle.release(throttle.acquire(0.0), 0.0, OK)
    assert throttle.limit == 2  # one 200 of the two limit 2 needs
    throttle.release(throttle.acquire(0.0), 0.0, OK)
    assert throttle.limit == 3


def test_fixed_concurrency_when_not_adaptive() -> None:
    throttle = Throttle(4, adaptive=False)
    for ticket in fill(throttle):
        throttle.release(ticket, 0.0, BUSY)
    assert throttle.limit == 4
    assert throttle.stats().rate_limited == 4


def test_retry_after_pauses_every_sender_until_then() -> None:
    throttle = Throttle(4)
    first = throttle.acquire(10.0)
    throttle.release(first, 10.0, Answer(429, congested=True, retry_after=2.0))
    assert throttle.admit(10.5) == pytest.approx(1.5)  # any sender, not just the one that got it
    assert throttle.stats().paused_until == 12.0
    assert throttle.admit(12.0) == 0.0
    throttle.acquire(12.0)
    assert throttle.stats().paused_until is None


def test_a_later_retry_after_extends_the_pause_an_earlier_one_does_not_shorten_it() -> None:
    throttle = Throttle(4)
    a, b, c = throttle.acquire(0.0), throttle.acquire(0.0), throttle.acquire(0.0)
    throttle.release(a, 0.0, Answer(503, congested=True, retry_after=5.0))
    throttle.release(b, 1.0, Answer(429, congested=True, retry_after=1.0))
    assert throttle.paused_until == 5.0
    throttle.release(c, 2.0, Answer(429, congested=True, retry_after=6.0))
    assert throttle.paused_until == 8.0


def test_a_wait_that_outlasted_the_pause_is_not_waited_again() -> None:
    throttle = Throttle(2)
    throttle.release(throttle.acquire(0.0), 0.0, Answer(429, congested=True, retry_after=3.0))
    covered = throttle.pause_covered(0.0, 3.0)  # the retry's own backoff: the Retry-After itself
    assert covered == 3.0
    assert throttle.admit(0.0, waited_until=covered) == 0.0  # even if the clock did not move (a recorded sleep)
    assert throttle.pause_covered(0.0, 1.0) is None  # a shorter wait leaves the rest of the pause
    assert throttle.admit(0.0) == 3.0


def test_patience_is_measured_from_the_last_success_or_the_start_of_the_calls() -> None:
    throttle = Throttle(2)
    throttle.job_started(100.0)
    assert throttle.progress_since() == 100.0
    throttle.succeeded(130.0, rows=50)
    assert throttle.progress_since() == 130.0
    throttle.job_finished()
    throttle.job_started(500.0)  # idle in between: a new call's patience starts afresh
    assert throttle.progress_since() == 500.0
    throttle.job_started(510.0)  # a second call while the first runs shares its clock
    assert throttle.progress_since() == 500.0


def test_stats_snapshot_counts_what_happened() -> None:
    throttle = Throttle(3)
    t1, t2 = throttle.acquire(0.0), throttle.acquire(0.0)
    throttle.release(t1, 1.0, BUSY)
    throttle.retried()
    throttle.succeeded(2.0, rows=10)
    stats = throttle.stats()
    assert isinstance(stats, ClientStats)
    assert (stats.requests, stats.retries, stats.rate_limited, stats.rows, stats.in_flight) == (2, 1, 1, 10, 1)
    assert (stats.limit, stats.concurrency, stats.last_success) == (1, 3, 2.0)
    throttle.release(t2, 2.0, OK)
    assert stats.in_flight == 1  # a snapshot: it does not change under the reader


@pytest.mark.parametrize(
    ("status", "headers", "congested", "retry_after"),
    [
        (429, {}, True, None),
        (503, {"retry-after": "4"}, True, 4.0),
        (503, {"x-ms-run-function-failed": "True"}, False, None),  # the model failed; the service is not busy
        (502, {"retry-after-ms": "250"}, False, 0.25),
        (429, {"retry-after": "900"}, True, 30.0),  # capped as the retry policy caps it
        (200, {}, False, None),
        (None, None, False, None),
    ],
)
def test_read_answer(status: int | None, headers: dict[str, str] | None, congested: bool, retry_after: float) -> None:
    answer = read_answer(status, headers, RetryPolicy().retry_after_cap)
    assert (answer.congested, answer.retry_after) == (congested, retry_after)


def test_the_thread_wrapper_blocks_a_sender_until_a_release() -> None:
    throttle = ThreadThrottle(Throttle(1))
    first = throttle.acquire()
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(throttle.acquire()))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got  # the one slot is taken
    throttle.release(first, OK)
    waiter.join(5)
    assert got == [2]


def test_retry_policy_budgets() -> None:
    unbounded_count = RetryPolicy(max_retries=None, deadline=10.0)
    assert unbounded_count.next_delay(10_000, started=0.0, now=1.0) is not None  # no count limit
    assert unbounded_count.next_delay(10_000, started=0.0, now=11.0) is None  # the deadline still holds
    with pytest.raises(ValueError, match="needs a time bound"):
        RetryPolicy(max_retries=None, deadline=None)
    assert RetryPolicy(max_retries=None, deadline=None, patience=60.0).patience == 60.0
    with pytest.raises(ValueError, match="patience"):
        RetryPolicy(patience=0)
