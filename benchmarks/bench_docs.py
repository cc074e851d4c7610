"""What `bankscore docs` costs, measured side by side in one run: /score through its proxy beside /score direct,
and how long the Swagger UI pages take to be ready in a real browser.

A `bankscore serve` process (key auth) and a `bankscore docs --endpoint` process in front of it, both on loopback,
as a user runs them. The client takes turns, one request direct (with the key), one through the proxy (which adds
it), `--calls` pairs of the same two-row body on keep-alive connections: p50 and p90 of each, and the proxy's
extra per call. Then the system's Chromium (as tests/browser drives it) loads the endpoint's `/docs` and the
proxy's page `--loads` times each, taking turns: from navigation until the score operation is open to edit.

    uv run python benchmarks/bench_docs.py [--model DIR] [--calls 500] [--loads 5]

Machines are noisy: read the differences and ratios. Exit 1 if an answer differs between the two paths.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import _common
import httpx

from bankscore.bankmarketing.schema import SAMPLE_ROWS

BANKSCORE = str(Path(sys.executable).parent / "bankscore")
BODY = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}}


@contextlib.contextmanager
def started(args: list[str], env: dict[str, str], ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run `bankscore ARGS` until `ready` answers, then stop it by its PID."""
    process = subprocess.Popen(
        [BANKSCORE, *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_common.die_with_parent,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(ready, timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise _common.BenchError(f"bankscore {args[0]} did not start")
            time.sleep(0.05)
        yield process
    finally:
        _common.stop_process(process)


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=10)
    return statistics.median(values), cuts[8]


def score_calls(direct: str, proxied: str, key: str, calls: int) -> bool:
    times: dict[str, list[float]] = {"direct": [], "proxy": []}
    answers: set[str] = set()
    with httpx.Client(timeout=30) as client:
        for url, headers in ((direct, {"authorization": f"Bearer {key}"}), (proxied, {})):  # warm both paths
            client.post(url, json=BODY, headers=headers)
        for _ in range(calls):
            for name, url, headers in (
                ("direct", direct, {"authorization": f"Bearer {key}"}),
                ("proxy", proxied, {}),
            ):
                started_at = time.perf_counter()
                answer = client.post(url, json=BODY, headers=headers)
                times[name].append((time.perf_counter() - started_at) * 1000)
                answers.add(f"{answer.status_code} {answer.text}")
    (d50, d90), (p50, p90) = quantiles(times["direct"]), quantiles(times["proxy"])
    print(f"POST /score, 2 rows, {calls} calls each, taking turns (ms)")
    print(f"  direct:         p50 {d50:6.2f}   p90 {d90:6.2f}")
    print(f"  through proxy:  p50 {p50:6.2f}   p90 {p90:6.2f}")
    print(f"  proxy's extra:  p50 {p50 - d50:+6.2f}   p90 {p90 - d90:+6.2f}   (p50 ratio {p50 / d50:.2f})")
    if len(answers) != 1:
        print(f"  ANSWERS DIFFER: {sorted(answers)}")
        return False
    return True


def page_loads(pages: dict[str, str], loads: int) -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(_common.REPO_ROOT))
    from tests.support.browser import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    if executable is None:
        print("page loads: no Chromium (apt-get install chromium); skipped")
        return
    times: dict[str, list[float]] = {name: [] for name in pages}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS))
        try:
            for _ in range(loads):
                for name, url in pages.items():
                    context = browser.new_context(viewport={"width": 1280, "height": 900})  # a cold cache each time
                    page = context.new_page()
                    started_at = time.perf_counter()
                    page.goto(url)
                    page.wait_for_selector(".opblock-post textarea.body-param__text", timeout=30_000)
                    times[name].append((time.perf_counter() - started_at) * 1000)
                    context.close()
        finally:
            browser.close()
    print(f"Swagger UI ready to edit the score operation, {loads} cold loads each, taking turns (ms)")
    for name, values in times.items():
        print(f"  {name:<22} median {statistics.median(values):7.1f}   min {min(values):7.1f}   max {max(values):7.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the cached synthetic)")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--loads", type=int, default=5)
    options = parser.parse_args()
    key = secrets.token_urlsafe(24)
    serve_port, docs_port = _common.free_port(), _common.free_port()
    base = f"http://127.0.0.1:{serve_port}"
    model = ["--model", str(options.model)] if options.model else []
    env = {"BANKSCORE_KEY": key}
    serve_args = ["serve", "--port", str(serve_port), "--no-access-log", *model]
    docs_args = ["docs", "--endpoint", base + "/score", "--port", str(docs_port)]
    proxy = f"http://127.0.0.1:{docs_port}"
    with started(serve_args, env, base + "/"), started(docs_args, env, proxy + "/swagger.json"):
        same = score_calls(base + "/score", proxy + "/score", key, options.calls)
        page_loads({"endpoint /docs": base + "/docs", "bankscore docs /": proxy + "/"}, options.loads)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
