"""Deliberate misbehaviour, so clients and load tests can rehearse throttling and outages offline."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

MODEL_ERROR: Final = "model-error"
ALLOWED_STATUSES: Final = (408, 429, 500, 502, 503, 504)


def parse_fault(text: str) -> int | str:
    """`429`, `503`, ... or `model-error` (gen A: 200 + {"error"}; gen B: 500 + x-ms-run-function-failed)."""
    text = text.strip().lower()
    if text == MODEL_ERROR:
        return MODEL_ERROR
    try:
        status = int(text)
    except ValueError:
        status = -1
    if status not in ALLOWED_STATUSES:
        allowed = ", ".join(map(str, ALLOWED_STATUSES))
        raise ValueError(f"fault {text!r} is not one of {allowed} or {MODEL_ERROR}")
    return status


@dataclass
class FaultPlan:
    rate: float = 0.0
    faults: tuple[int | str, ...] = (503,)
    retry_after: float | None = 1.0
    latency_ms: float = 0.0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate}")
        if self.latency_ms < 0:
            raise ValueError(f"latency must not be negative, got {self.latency_ms} ms")
        if not self.faults:
            raise ValueError("at least one fault kind is needed")
        self._rng = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return self.rate > 0 or self.latency_ms > 0

    def draw(self) -> int | str | None:
        """The fault for the next request, or None to answer normally."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        return self._rng.choice(self.faults)
