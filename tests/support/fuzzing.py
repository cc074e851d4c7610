"""Schemathesis against the endpoint's own swagger: generated bodies, valid and invalid, sent over HTTP.

The promise checked on every answer: never a 5xx, and every error is JSON `{"message": ...}`.
Shared by the test suite (fixed seed, fewer cases) and scripts/fuzz_endpoint.py (the full run).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode, openapi


@dataclass
class FuzzReport:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def fuzz(base_url: str, key: str | None, examples: int, fuzz_seed: int = 0) -> FuzzReport:
    """`examples` cases per generation mode (valid and invalid) for POST /score, from the served swagger."""
    document = httpx.get(f"{base_url}/swagger.json", timeout=30, trust_env=False).json()
    schema = openapi.from_dict(document)
    operation = schema["/score"]["POST"]
    report = FuzzReport()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        label = mode.value

        @seed(fuzz_seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            report.cases += 1
            report.statuses[response.status_code] += 1
            problem = _judge(response)
            if problem:
                report.problems.append(f"{label}: {problem}; body sent: {str(case.body)[:200]}")  # noqa: B023 - run() runs here

        run()
    return report


def _judge(response: Any) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"HTTP {status}: {response.text[:200]}"
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            return f"HTTP {status} with a body that is not JSON: {response.text[:200]}"
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            return f"HTTP {status} without a JSON message: {response.text[:200]}"
    return None
