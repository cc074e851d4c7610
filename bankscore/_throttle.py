"""How many requests one client keeps in flight, and when it holds them all back: AIMD and shared Retry-After.

A service that answers 429 or 503 is overloaded; retrying each request on its own schedule keeps it
overloaded. So every sender of one client shares one `Throttle`: the in-flight limit starts at the
client's `concurrency`, halves on a 429 or 503 (once per congestion event: only an answer to a request
sent after the last cut cuts again), and grows by one after `limit` answers in a row that were 200s,
never below 1 nor above `concurrency`. A `Retry-After` pauses every sender until that time, not just
the request that got it. The same state counts what progress displays show (`ClientStats`) and when a
batch last succeeded, which bounds a job's patience.

`Throttle` is the state alone — no I/O, no locks, the clock passed in — so both clients share it;
`ThreadThrottle` and `AsyncThrottle` wrap it with the waiting of threads and of asyncio tasks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from .retry import parse_retry_after, retry_after_header

CONGESTION_STATUSES: Final = frozenset({429, 503})
PAUSE_SLACK: Final = 0.05
"""A wait ending this close to a pause's end covers it: the same HTTP-date Retry-After read twice differs a little."""

Clock = Callable[[], float]


class Tally(Protocol):
    """What the retry logic tells the throttle and asks of it, without waiting (both wrappers have it)."""

    def succeeded(self, rows: int) -> None: ...
    def retried(self) -> None: ...
    def progress_since(self) -> float: ...


@dataclass(frozen=True)
class ClientStats:
    """What one client has done so far, for progress displays; times are `time.monotonic()` seconds."""

    requests: int
    """POSTs sent (every attempt counts)."""
    retries: int
    """Attempts repeated after a transient failure."""
    rate_limited: int
    """429 answers seen."""
    unavailable: int
    """503 answers seen (not the model's own failures)."""
    rows: int
    """Rows scored: results received."""
    in_flight: int
    """Requests on the wire now."""
    limit: int
    """How many may be in flight now: `concurrency`, less while the service pushes back."""
    concurrency: int
    """The most the client keeps in flight."""
    paused_until: float | None
    """While a Retry-After holds every sender: when they go on; else None."""
    last_success: float | None
    """When a batch last got its results; None before the first."""


@dataclass(frozen=True)
class Answer:
    """What one answer says about the service's load: an overload (429/503), a 200, a Retry-After."""

    status: int | None
    congested: bool
    retry_after: float | None

    @property
    def ok(self) -> bool:
        return self.status == 200


def read_answer(status: int | None, headers: Mapping[str, str] | None, retry_after_cap: float) -> Answer:
    """An answer's load signal: a model's own 503 (x-ms-run-function-failed) is not an overload."""
    if status == 200:
        return _OK  # no overload and no pause, whatever the headers say
    headers = headers or {}
    model_failed = headers.get("x-ms-run-function-failed", "").lower() == "true"
    congested = status in CONGESTION_STATUSES and not model_failed
    hinted = parse_retry_after(retry_after_header(headers)) if status is not None and status != 200 else None
    return Answer(status, congested, None if hinted is None else min(hinted, retry_after_cap))


_OK: Final = Answer(200, congested=False, retry_after=None)


class Throttle:
    """The shared state of one client's senders; every method is called with the time `now`."""

    def __init__(self, concurrency: int, *, adaptive: bool = True) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.concurrency = concurrency
        self.adaptive = adaptive
        self.limit = concurrency
        self.in_flight = 0
        self.paused_until: float | None = None
        self._sent = 0  # tickets: the number of the request, in the order sent
        self._cut_at = 0  # the last ticket sent when the limit was last cut
        self._streak = 0  # 200s in a row since the last change of the limit
        self._retries = 0
        self._rate_limited = 0
        self._unavailable = 0
        self._rows = 0
        self._jobs = 0
        self._epoch = 0.0  # when the current run of jobs began
        self.last_success: float | None = None

    # ---------------------------------------------------------------------------------- admission

    def admit(self, now: float, waited_until: float | None = None) -> float | None:
        """0.0: send now. A positive number: every sender is paused this much longer. None: wait for a release.

        `waited_until` is a pause the caller has already waited out (its own Retry-After backoff):
        it is not waited again, whatever the clock says.
        """
        if self.paused_until is not None:
            if self.paused_until <= now or self.paused_until == waited_until:
                pass
            else:
                return self.paused_until - now
        if self.in_flight >= self.limit:
            return None
        return 0.0

    def acquire(self, now: float) -> int:
        """Count a request as sent; the ticket goes back with its answer to `release`."""
        if self.paused_until is not None and self.paused_until <= now:
            self.paused_until = None
        self.in_flight += 1
        self._sent += 1
        return self._sent

    def release(self, ticket: int, now: float, answer: Answer | None) -> None:
        """A request's answer (None: no answer came, a transport failure) adjusts the limit and the pause."""
        self.in_flight = max(0, self.in_flight - 1)
        if answer is None:
            return
        if answer.status == 429:
            self._rate_limited += 1
        elif answer.status == 503 and answer.congested:
            self._unavailable += 1
        if answer.retry_after is not None and answer.retry_after > 0:
            until = now + answer.retry_after
            if self.paused_until is None or until > self.paused_until:
                self.paused_until = until
        if not self.adaptive:
            return
        if answer.congested:
            self._streak = 0
            if ticket > self._cut_at:  # sent after the last cut: a new congestion event
                self.limit = max(1, self.limit // 2)
                self._cut_at = self._sent
        elif answer.ok:
            self._streak += 1
            if self._streak >= self.limit and self.limit < self.concurrency:
                self.limit += 1
                self._streak = 0

    def pause_covered(self, now: float, seconds: float) -> float | None:
        """The pause a wait of `seconds` from `now` outlasts, to pass to `admit` as `waited_until` after it."""
        if self.paused_until is not None and now + seconds >= self.paused_until - PAUSE_SLACK:
            return self.paused_until
        return None

    # ---------------------------------------------------------------------------------- progress

    def job_started(self, now: float) -> None:
        """A scoring call began; the first of a run of calls starts the patience clock."""
        if self._jobs == 0:
            self._epoch = now
        self._jobs += 1

    def job_finished(self) -> None:
        self._jobs = max(0, self._jobs - 1)

    def succeeded(self, now: float, rows: int) -> None:
        self.last_success = now
        self._rows += rows

    def retried(self) -> None:
        self._retries += 1

    def progress_since(self) -> float:
        """When the client last made progress: its last success, or the start of the current calls if later."""
        if self.last_success is None:
            return self._epoch
        return max(self.last_success, self._epoch)

    def stats(self) -> ClientStats:
        return ClientStats(
            requests=self._sent,
            retries=self._retries,
            rate_limited=self._rate_limited,
            unavailable=self._unavailable,
            rows=self._rows,
            in_flight=self.in_flight,
            limit=self.limit,
            concurrency=self.concurrency,
            paused_until=self.paused_until,
            last_success=self.last_success,
        )


class ThreadThrottle:
    """A `Throttle` shared by threads: a sender blocks in `acquire` until the limit and any pause let it go.

    `sleep` waits out a pause and `clock` reads the time (the client passes its own, so tests that record
    the client's waits record these too).
    """

    def __init__(
        self, state: Throttle, clock: Clock = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.state = state
        self._clock = clock
        self._sleep = sleep
        self._changed = threading.Condition()

    def acquire(self, waited_until: float | None = None) -> int:
        """Wait until this request may be sent; its ticket goes back to `release` with the answer."""
        with self._changed:
            while True:
                now = self._clock()
                wait = self.state.admit(now, waited_until)
                if wait == 0.0:
                    return self.state.acquire(now)
                if wait is None:
                    self._changed.wait()  # woken by a release
                    continue
                waited_until = self.state.paused_until
                self._changed.release()
                try:
                    self._sleep(wait)
                finally:
                    self._changed.acquire()

    def release(self, ticket: int, answer: Answer | None) -> None:
        with self._changed:
            self.state.release(ticket, self._clock(), answer)
            self._changed.notify_all()

    def pause_covered(self, seconds: float) -> float | None:
        with self._changed:
            return self.state.pause_covered(self._clock(), seconds)

    def job_started(self) -> None:
        with self._changed:
            self.state.job_started(self._clock())

    def job_finished(self) -> None:
        with self._changed:
            self.state.job_finished()

    def succeeded(self, rows: int) -> None:
        with self._changed:
            self.state.succeeded(self._clock(), rows)

    def retried(self) -> None:
        with self._changed:
            self.state.retried()

    def progress_since(self) -> float:
        with self._changed:
            return self.state.progress_since()

    def stats(self) -> ClientStats:
        with self._changed:
            return self.state.stats()


class AsyncThrottle:
    """A `Throttle` shared by the tasks of one event loop: a sender awaits `acquire` until it may send."""

    def __init__(
        self,
        state: Throttle,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.state = state
        self._clock = clock
        self._sleep = sleep
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self, waited_until: float | None = None) -> int:
        """Wait until this request may be sent; its ticket goes back to `release` with the answer."""
        while True:
            now = self._clock()
            wait = self.state.admit(now, waited_until)
            if wait == 0.0:
                return self.state.acquire(now)
            if wait is None:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await waiter  # woken by a release
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                continue
            waited_until = self.state.paused_until
            await self._sleep(wait)

    def release(self, ticket: int, answer: Answer | None) -> None:
        self.state.release(ticket, self._clock(), answer)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def pause_covered(self, seconds: float) -> float | None:
        return self.state.pause_covered(self._clock(), seconds)

    def job_started(self) -> None:
        self.state.job_started(self._clock())

    def job_finished(self) -> None:
        self.state.job_finished()

    def succeeded(self, rows: int) -> None:
        self.state.succeeded(self._clock(), rows)

    def retried(self) -> None:
        self.state.retried()

    def progress_since(self) -> float:
        return self.state.progress_since()

    def stats(self) -> ClientStats:
        return self.state.stats()
