"""The locust side of `bankscore loadtest`: users that score realistic rows, judged as the client judges.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:5001 --headless -u 8 -t 30s --slo-p99-ms 50

Requests are built by the client from the endpoint's own swagger (the right envelope for gen A,
gen B or MLflow), from synthetic rows or `--rows-file`. A response counts as a failure unless it
is 2xx and decodes to one prediction per row sent: the mistake ab made (counting ten 400s from a
malformed key as "Failed requests: 0") can't happen here. At the end: an ab-style summary, one
✓/✗ line per SLO gate, and a non-zero exit code when any gate fails or the load generator itself
ran out of CPU. Importing this module imports locust (gevent monkey-patching): run it in its own
process, as `locust` and `bankscore loadtest` do.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bankscore._extras import require

require("locust", "loadtest", "A load test")

import locust.runners  # noqa: E402 - after the check, so a missing extra is one clear line
import locust.stats  # noqa: E402
from locust import FastHttpUser, events, tag, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import MasterRunner, WorkerRunner  # noqa: E402

from bankscore import APIError, BankscoreError, ScoringClient, read_scores  # noqa: E402
from bankscore.credentials import AUTH_ENV, ML_SCOPE, TokenAuth, default_azure_credential  # noqa: E402
from bankscore.loadtest.gates import Figures, Gates, Verdict, judge, render  # noqa: E402

# locust samples its own CPU every 10 s and only warns; sample often enough to catch short runs.
locust.runners.CPU_MONITOR_INTERVAL = 1.0
POOL_SIZE = 64  # distinct request bodies cycled through, so caches along the way see varied rows


def _options(parser: Any) -> None:
    group = parser.add_argument_group("bankscore")
    group.add_argument("--rows-per-request", type=int, default=1, help="Rows in each request (default 1).")
    group.add_argument("--rows-file", default="", help="CSV/Parquet/XLSX/JSONL of rows to send (default: synthetic).")
    group.add_argument("--method", default="predict", choices=["predict", "predict_proba"])
    group.add_argument("--score-path", default="/score", help="Path of the scoring route on --host.")
    group.add_argument("--swagger", default="", help="swagger.json path or URL (default: <host>/swagger.json).")
    group.add_argument("--wait-ms", type=float, default=0.0, help="Pause per user between requests (default 0).")
    group.add_argument("--max-requests", type=int, default=0, help="Stop after this many score requests (local).")
    group.add_argument("--slo-p95-ms", type=float, default=None, help="Fail when p95 latency exceeds this.")
    group.add_argument("--slo-p99-ms", type=float, default=None, help="Fail when p99 latency exceeds this.")
    group.add_argument(
        "--slo-error-rate", type=float, default=None, help="Failures allowed, as a fraction (default: none)."
    )
    group.add_argument("--slo-min-rps", type=float, default=None, help="Fail below this many requests/s.")
    group.add_argument(
        "--cpu-limit",
        type=float,
        default=90.0,
        help="Fail when the load generator's own CPU goes above this percentage of a core (default 90).",
    )


@dataclass
class _State:
    requests: list[Any] = field(default_factory=list)
    cycle: Any = None
    path: str = "/score"
    sent: int = 0
    done: int = 0
    saturated: bool = False
    setup_error: str = ""
    secrets: tuple[str, ...] = ()  # the key sent, redacted from failures if a body echoes it
    auth: Any = None  # TokenAuth with --auth entra: each request takes the current token


STATE = _State()


def _prepare(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # workers build their own requests
    options = _opts(environment)
    host = (environment.host or "").rstrip("/")
    endpoint = host if urlsplit(host).path.endswith(options.score_path) else host + options.score_path
    STATE.path = urlsplit(endpoint).path
    per_request = max(1, int(options.rows_per_request))
    try:
        if os.environ.get(AUTH_ENV, "key").lower() == "entra":
            STATE.auth = TokenAuth(default_azure_credential(), ML_SCOPE)
        with ScoringClient(endpoint, credential=STATE.auth, swagger=options.swagger or None, timeout=30) as client:
            frame = _rows(options.rows_file, POOL_SIZE * per_request, client)
            STATE.requests = [
                client.prepare(frame.iloc[start : start + per_request], options.method, extra_columns="ignore")
                for start in range(0, len(frame) - per_request + 1, per_request)
            ][:POOL_SIZE]
    except BankscoreError as exc:  # no swagger, bad rows file, ...: nothing to send, so stop now
        STATE.setup_error = str(exc).splitlines()[0]
        print(f"error: {STATE.setup_error}", flush=True)
        if environment.runner is not None:
            threading.Thread(target=environment.runner.quit, daemon=True).start()
        return
    STATE.cycle = itertools.cycle(STATE.requests)
    key = STATE.requests[0].headers.get("authorization", "").partition(" ")[2] if STATE.requests else ""
    STATE.secrets = (key,) if key else ()


def _rows(rows_file: str, count: int, client: ScoringClient) -> Any:
    import pandas as pd

    if rows_file:
        from bankscore.files import read_table

        frame = read_table(Path(rows_file), types=client.contract.types)
        repeats = -(-count // len(frame))
        return pd.concat([frame] * repeats, ignore_index=True).iloc[:count]
    from bankscore.bankmarketing.synthetic import generate

    return generate(count, seed=7, label=False)


class ScoringUser(FastHttpUser):
    """Scores as fast as the endpoint answers (like ab), or paced by --wait-ms."""

    def wait_time(self) -> float:
        return float(_opts(self.environment).wait_ms) / 1000

    @tag("score")
    @task
    def score(self) -> None:
        limit = _opts(self.environment).max_requests
        if STATE.cycle is None or (limit and STATE.sent >= limit):
            time.sleep(0.05)  # the last requests are in flight; the runner stops when they land (gevent-patched)
            return
        STATE.sent += 1
        prepared = next(STATE.cycle)
        headers = {**prepared.headers, "x-ms-client-request-id": str(uuid.uuid4())}
        auth = STATE.auth
        if auth is not None:  # tokens expire during a long test: the current one, refreshed when due
            if auth.stale():
                auth.refresh()
            headers["authorization"] = auth.authorization() or ""
        with self.client.post(
            STATE.path, data=prepared.body, headers=headers, catch_response=True, name="score"
        ) as response:
            status = response.status_code or 0
            try:
                body = response.content or b""
                secrets = STATE.secrets if auth is None else auth.secrets()
                read_scores(status, body, prepared.rows, response.headers, secrets=secrets)
            except APIError as exc:
                if status == 401 and auth is not None:
                    auth.rejected(headers["authorization"])  # the next request fetches a new token
                response.failure(_reason(status, exc))
            else:
                response.success()

    @tag("health")
    @task
    def health(self) -> None:
        self.client.get("/", name="health")


def _reason(status: int, error: APIError) -> str:
    """A failure label with few distinct values (locust groups by it): status and kind, no request ids."""
    if status == 0:
        return f"no answer: {type(error).__name__}"
    detail = str(error).split(" (rows", 1)[0]
    if len(detail) > 80:
        detail = detail[:77] + "..."
    return f"HTTP {status} {type(error).__name__}: {detail}"


def _count(name: str, **_: Any) -> None:
    if name != "score":
        return
    STATE.done += 1
    environment = _ENVIRONMENT.get("env")
    if environment is None:
        return
    limit = _opts(environment).max_requests
    if limit and STATE.done >= limit and environment.runner is not None:
        # Not from inside this request's greenlet, which quit() stops: a new one (threads are greenlets here).
        threading.Thread(target=environment.runner.quit, daemon=True).start()


_ENVIRONMENT: dict[str, Environment] = {}


def _remember(environment: Environment, **_: Any) -> None:
    _ENVIRONMENT["env"] = environment
    if environment.parsed_options is not None:  # read by locust's CPU monitor on every sample
        locust.runners.CPU_WARNING_THRESHOLD = environment.parsed_options.cpu_limit


def _saturated(**_: Any) -> None:
    STATE.saturated = True


def _report(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return
    options = _opts(environment)
    total = environment.stats.total
    non_2xx = sum(
        error.occurrences
        for error in environment.stats.errors.values()
        if str(error.error).startswith("HTTP ") and not str(error.error).startswith("HTTP 2")
    )
    saturated = STATE.saturated or bool(getattr(runner, "worker_cpu_warning_emitted", False))
    duration = max(0.0, (total.last_request_timestamp or total.start_time) - total.start_time)
    figures = Figures(
        requests=total.num_requests,
        failures=total.num_failures,
        non_2xx=non_2xx,
        rps=total.num_requests / duration if duration > 0 else 0.0,
        mean_ms=total.avg_response_time,
        concurrency=max(1, int(getattr(runner, "target_user_count", 0) or options.num_users or 1)),
        percentile_ms=lambda q: float(total.get_response_time_percentile(q)),
        rows_per_request=max(1, int(options.rows_per_request)),
        cpu_saturated=saturated,
        duration_s=duration,
    )
    gates = Gates(options.slo_p95_ms, options.slo_p99_ms, options.slo_error_rate, options.slo_min_rps)
    verdicts = judge(figures, gates)
    if STATE.setup_error:
        verdicts.insert(0, Verdict("setup", False, STATE.setup_error))
    print("\n" + render(figures, verdicts), flush=True)
    environment.process_exit_code = 0 if all(v.passed for v in verdicts) else 1
    if options.csv_prefix:
        # locust's CSV writer rewrites its files once a second and not again at the end: let it run once
        # more, so the CSV report holds the whole run (a short -n run would otherwise leave it empty).
        time.sleep(locust.stats.CSV_STATS_INTERVAL_SEC + 0.2)


def _opts(environment: Environment) -> Any:
    options = environment.parsed_options
    assert options is not None, "run through locust, which parses the options"
    return options


_hooks: Any = events  # locust's event hooks are untyped
_hooks.init_command_line_parser.add_listener(_options)
_hooks.init.add_listener(_remember)
_hooks.test_start.add_listener(_prepare)
_hooks.request.add_listener(_count)
_hooks.cpu_warning.add_listener(_saturated)
_hooks.quitting.add_listener(_report)
