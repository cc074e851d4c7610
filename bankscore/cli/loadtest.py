"""`bankscore loadtest`: locust in its own process, headless and bounded, with SLO gates."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._app import EXIT_FAILURE, err, fail
from ._endpoint import AuthChoice, AuthOption, EndpointOption, KeyFileOption


def loadtest(
    endpoint: EndpointOption = None,
    key_file: KeyFileOption = None,
    auth: AuthOption = AuthChoice.key,
    requests: Annotated[
        int | None, typer.Option("-n", "--requests", help="Stop after this many score requests.", min=1)
    ] = None,
    duration: Annotated[
        str | None, typer.Option("-t", "--duration", help="Run this long: 30s, 2m, 1h30m. Default 10s.")
    ] = None,
    users: Annotated[int, typer.Option("-u", "--users", help="Concurrent users (ab's -c).", min=1)] = 4,
    rows_per_request: Annotated[int, typer.Option(help="Rows in each request.", min=1)] = 1,
    rows_file: Annotated[Path | None, typer.Option(help="Rows to send (CSV/Parquet/XLSX/JSONL).")] = None,
    wait_ms: Annotated[float, typer.Option(help="Pause per user between requests, ms.", min=0)] = 0.0,
    slo_p95_ms: Annotated[float | None, typer.Option(help="Fail when p95 latency exceeds this (ms).")] = None,
    slo_p99_ms: Annotated[float | None, typer.Option(help="Fail when p99 latency exceeds this (ms).")] = None,
    slo_error_rate: Annotated[
        float | None, typer.Option(help="Failures allowed, as a fraction (default: none).", min=0, max=1)
    ] = None,
    slo_min_rps: Annotated[float | None, typer.Option(help="Fail below this many requests/s.")] = None,
    cpu_limit: Annotated[
        float, typer.Option(help="Fail when locust's own CPU goes above this % of a core.", min=0, max=100)
    ] = 90.0,
    health: Annotated[bool, typer.Option(help="Also run the health task (tagged separately).")] = False,
    csv: Annotated[str | None, typer.Option(help="Write locust's CSV reports with this prefix.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write locust's HTML report here.")] = None,
) -> None:
    """Load-test an endpoint with locust, headless and bounded, with SLO gates and an ab-style summary."""
    import importlib.util
    import subprocess
    from urllib.parse import urlsplit, urlunsplit

    from .._extras import check

    check("loadtest", "bankscore loadtest")  # locust is not imported here: it monkey-patches with gevent
    if requests is not None and duration is not None:
        fail("give -n REQUESTS or -t DURATION, not both")
    seconds = _duration_seconds(duration or "10s") if requests is None else 600.0
    if seconds is None:
        fail(f"-t {duration!r}: use a duration like 30s, 2m or 1h30m")
    env = {
        k: v for k, v in os.environ.items() if k != "BANKSCORE_KEY" or endpoint or os.environ.get("BANKSCORE_ENDPOINT")
    }
    env["BANKSCORE_AUTH"] = auth.value  # the locust process gets its own tokens (azure-identity's environment)
    local = None
    try:
        target = endpoint or os.environ.get("BANKSCORE_ENDPOINT")
        if auth is AuthChoice.entra:
            if target is None:
                fail("--auth entra needs an endpoint (--endpoint or BANKSCORE_ENDPOINT)")
            if key_file is not None:
                fail("--auth entra and --key-file contradict each other: a token replaces the key; choose one")
            check("azure", "--auth entra")
        if target is None:
            from ..server.runner import start_local_endpoint

            local, key = start_local_endpoint(announce=err.print)
            target = local.scoring_uri
            env["BANKSCORE_KEY"] = key  # to the child through its environment, never its command line
            env.pop("BANKSCORE_KEY_FILE", None)
            err.print(f"No endpoint configured: load-testing the embedded local endpoint at {target}.")
        elif key_file is not None:
            env["BANKSCORE_KEY_FILE"] = str(key_file)
        from .. import scoring_uri

        parts = urlsplit(scoring_uri(target))
        host = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        users_module = importlib.util.find_spec("bankscore.loadtest.users")
        assert users_module is not None and users_module.origin is not None
        locustfile = users_module.origin
        command = [
            sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--only-summary",
            "--host", host, "--score-path", parts.path or "/score",
            "-u", str(users), "-r", str(users), "--stop-timeout", "5",
            "--rows-per-request", str(rows_per_request), "--wait-ms", str(wait_ms), "--cpu-limit", str(cpu_limit),
        ]  # fmt: skip
        command += (
            ["--max-requests", str(requests), "--run-time", "600s"] if requests else ["--run-time", duration or "10s"]
        )
        if not health:
            command += ["--exclude-tags", "health"]
        for flag, value in (
            ("--rows-file", rows_file), ("--slo-p95-ms", slo_p95_ms), ("--slo-p99-ms", slo_p99_ms),
            ("--slo-error-rate", slo_error_rate), ("--slo-min-rps", slo_min_rps), ("--csv", csv), ("--html", html),
        ):  # fmt: skip
            if value is not None:
                command += [flag, str(value)]
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"  # the ✓/✗ lines, even where a pipe's locale encoding can't (Windows cp1252)
        process = subprocess.Popen(command, env=env)
        try:
            code = process.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            fail("the load test did not stop on time and was stopped", EXIT_FAILURE)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
    finally:
        if local is not None:
            local.stop()
    if code != 0:
        raise typer.Exit(EXIT_FAILURE)


def _duration_seconds(text: str) -> float | None:
    """30s, 2m, 1h30m, 45 → seconds; None when it isn't a duration."""
    import re

    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", text.strip())
    if not match or not text.strip():
        return None
    hours, minutes, secs = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + secs
    return float(total) if total > 0 else None
