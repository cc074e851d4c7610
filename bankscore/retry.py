"""When to try a request again, and how long to wait: Azure's retry guidance as one small policy.

Transient answers (408, 429, 502, 503, 504) and transport failures are retried with full-jitter
exponential backoff, `Retry-After` (or Azure's `retry-after-ms` / `x-ms-retry-after-ms`) is honoured
up to a cap. Three budgets bound the retries: a count (`max_retries`, None for none), a deadline per
request body from its first attempt, and a job's patience: once no batch anywhere in the client has
succeeded for that long, every retrying batch gives up. A job of thousands of batches needs time bounds,
not a count sized for one request. Scoring is idempotent, so repeating a POST
is safe — even after a 408 or 504, when the model may still be running the first one. Client
mistakes (400, 401, 403, 404, 413 on one row, 415, 422, 431), model errors (424, a 5xx with
x-ms-run-function-failed, a 200 carrying `{"error"}`) and a complete 200 that isn't scores are never
repeated; a 200 whose body was cut off on the way is.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

RETRYABLE_STATUSES: Final = frozenset({408, 429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and for how long.

    `max_retries`: retries after the first attempt (None: no count limit, only `deadline` and `patience`).
    `deadline`: seconds from a request body's first attempt after which it is not tried again.
    `patience`: seconds without any batch of the client succeeding after which every retrying batch gives up.
    """

    max_retries: int | None = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 30.0
    deadline: float | None = 300.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    patience: float | None = None

    def __post_init__(self) -> None:
        if self.max_retries is not None and self.max_retries < 0:
            raise ValueError("max_retries must be >= 0 (or None for no count limit)")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_after_cap < 0:
            raise ValueError("backoff and Retry-After caps must be >= 0")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError("deadline must be > 0 seconds (or None for no per-batch time limit)")
        if self.patience is not None and self.patience <= 0:
            raise ValueError("patience must be > 0 seconds (or None for no job-level limit)")
        if self.max_retries is None and self.deadline is None and self.patience is None:
            raise ValueError("max_retries=None needs a time bound: give a deadline or a patience")

    def retryable_status(self, status: int) -> bool:
        return status in self.statuses

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt - 1, 64))
        return self.rng.uniform(0, ceiling)

    def next_delay(
        self, attempt: int, started: float, retry_after: str | None = None, now: float | None = None
    ) -> float | None:
        """The wait before another attempt, or None when retries or the deadline are spent."""
        if self.max_retries is not None and attempt > self.max_retries:
            return None
        wait = self.delay(attempt, retry_after)
        now = time.monotonic() if now is None else now
        if self.deadline is not None and now + wait - started > self.deadline:
            return None
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def retry_after_header(headers: Mapping[str, str]) -> str | None:
    """The wait an answer asks for, in seconds as `Retry-After` gives them: Azure's millisecond headers first."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                milliseconds = float(value.strip())
            except ValueError:
                continue
            if milliseconds == milliseconds and milliseconds >= 0:  # not NaN
                return repr(milliseconds / 1000)
    return headers.get("retry-after")
