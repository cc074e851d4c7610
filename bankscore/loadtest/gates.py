"""Load tests that can't lie: SLO gates and an ab-style summary over locust's statistics.

The locust user lives in `bankscore.loadtest.users` (importing it imports locust, which
monkey-patches with gevent: run it in its own process). This module is plain Python, so the gate
logic and the summary are tested without locust.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

AB_PERCENTILES: Final = (0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 1.0)


@dataclass(frozen=True)
class Figures:
    """What one run measured, from locust's aggregated statistics."""

    requests: int
    failures: int
    non_2xx: int
    rps: float
    mean_ms: float
    concurrency: int
    percentile_ms: Callable[[float], float]
    rows_per_request: int = 1
    cpu_saturated: bool = False
    duration_s: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 1.0


@dataclass(frozen=True)
class Gates:
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float | None = None
    min_rps: float | None = None


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.name}: {self.detail}"


def judge(figures: Figures, gates: Gates) -> list[Verdict]:
    """One verdict per gate set, plus the ones every run gets: requests were made, none failed
    (unless an error-rate gate allows some), and the load generator itself had CPU to spare."""
    verdicts: list[Verdict] = [
        Verdict("requests", figures.requests > 0, f"{figures.requests:,} completed"),
    ]
    if gates.error_rate is None:
        verdicts.append(Verdict("failures", figures.failures == 0, f"{figures.failures:,} (none allowed)"))
    else:
        verdicts.append(
            Verdict(
                "error rate",
                figures.requests > 0 and figures.error_rate <= gates.error_rate,
                f"{figures.error_rate:.2%} (limit {gates.error_rate:.2%})",
            )
        )
    for name, limit, q in (("p95", gates.p95_ms, 0.95), ("p99", gates.p99_ms, 0.99)):
        if limit is not None:
            value = figures.percentile_ms(q)
            verdicts.append(
                Verdict(
                    f"{name} latency", figures.requests > 0 and value <= limit, f"{value:g} ms (limit {limit:g} ms)"
                )
            )
    if gates.min_rps is not None:
        verdicts.append(
            Verdict(
                "throughput", figures.rps >= gates.min_rps, f"{figures.rps:,.1f} req/s (at least {gates.min_rps:g})"
            )
        )
    verdicts.append(
        Verdict(
            "load generator CPU",
            not figures.cpu_saturated,
            "saturated: these figures measure locust, not the endpoint (add --processes or workers)"
            if figures.cpu_saturated
            else "below 90%",
        )
    )
    return verdicts


def ab_summary(figures: Figures) -> str:
    """The figures in ab's words and order, so a benchmark.sh user can compare line by line."""
    mean_all = figures.mean_ms / figures.concurrency if figures.concurrency else figures.mean_ms
    lines = [
        f"Concurrency Level:      {figures.concurrency}",
        f"Time taken for tests:   {figures.duration_s:.3f} seconds",
        f"Complete requests:      {figures.requests}",
        f"Failed requests:        {figures.failures}   (not 2xx, or not one prediction per row sent)",
        f"Non-2xx responses:      {figures.non_2xx}",
        f"Requests per second:    {figures.rps:.2f} [#/sec] (mean)",
        f"Rows per second:        {figures.rps * figures.rows_per_request:.2f} [#/sec] (mean, "
        f"{figures.rows_per_request} per request)",
        f"Time per request:       {figures.mean_ms:.3f} [ms] (mean)",
        f"Time per request:       {mean_all:.3f} [ms] (mean, across all concurrent requests)",
        "",
        "Percentage of the requests served within a certain time (ms)",
    ]
    for q in AB_PERCENTILES:
        label = "100%" if q == 1.0 else f"{q:.0%}"
        suffix = " (longest request)" if q == 1.0 else ""
        lines.append(f"  {label:>4}  {figures.percentile_ms(q):6g}{suffix}")
    return "\n".join(lines)


def render(figures: Figures, verdicts: Sequence[Verdict]) -> str:
    gates = "\n".join(v.line() for v in verdicts)
    outcome = "PASS" if all(v.passed for v in verdicts) else "FAIL"
    return f"{ab_summary(figures)}\n\nSLO gates\n{gates}\n{outcome}"
