"""When to try a request again, and how long to wait: Azure's retry guidance as one small policy.

Transient answers (408, 429, 502, 503, 504) and transport failures are retried with full-jitter
exponential backoff, `Retry-After` is honoured up to a cap, and a total deadline bounds the
whole call. Scoring is idempotent, so repeating a POST is safe; client mistakes and model
errors are never repeated.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Final

RETRYABLE_STATUSES: Final = frozenset({408, 429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_cap: float = 30.0
    deadline: float | None = 300.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_after_cap < 0:
            raise ValueError("backoff and Retry-After caps must be >= 0")

    def retryable_status(self, status: int) -> bool:
        return status in self.statuses

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.retry_after_cap)
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt - 1, 64))
        return self.rng.uniform(0, ceiling)

    def next_delay(self, attempt: int, started: float, retry_after: str | None = None) -> float | None:
        """The wait before another attempt, or None when retries or the deadline are spent."""
        if attempt > self.max_retries:
            return None
        wait = self.delay(attempt, retry_after)
        if self.deadline is not None and time.monotonic() + wait - started > self.deadline:
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
