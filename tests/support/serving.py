"""`bankscore serve` in its own process on a free loopback port, stopped by PID when done.

The CLI tests use it to test `serve` itself; the core-only job uses it to give the client tests a real
endpoint from the full environment, since the core install has no server wing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .common import free_port

BANKSCORE = str(Path(sys.executable).parent / "bankscore")


@contextmanager
def serving(
    args: Sequence[str], env: dict[str, str], tmp_path: Path, command: Sequence[str] = (BANKSCORE,)
) -> Iterator[tuple[str, Path]]:
    """Start `<command> serve --port P ARGS`, wait until GET / answers, yield (base URL, stderr file).

    With `--auth entra` every route wants a token, GET / included: its 401 from bankscore counts as up."""
    port = free_port()
    stderr_path = tmp_path / f"serve-{port}.err"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [*command, "serve", "--port", str(port), *args],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if _answering(httpx.get(base + "/", timeout=1)):
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not start: {stderr_path.read_text()}")
                time.sleep(0.05)
            yield base, stderr_path
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _answering(response: httpx.Response) -> bool:
    if response.status_code == 200:
        return True
    return response.status_code == 401 and response.headers.get("x-ms-server-version", "").startswith("bankscore/")


class ServedEndpoint:
    """An endpoint in another process, shaped like the in-process EmbeddedEndpoint the tests otherwise use
    (its process is stopped by whoever entered `serving`)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.port = int(base_url.rsplit(":", 1)[1])

    @property
    def scoring_uri(self) -> str:
        return f"{self.base_url}/score"


def serve_args(model_dir: Path, options: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """EndpointConfig keywords → `bankscore serve` flags and environment (keys go in the environment)."""
    options = dict(options)
    args = ["--model", str(model_dir), "--no-access-log"]
    env: dict[str, str] = {}
    primary, secondary = options.pop("primary_key", None), options.pop("secondary_key", None)
    mode = options.pop("auth", "key")
    if mode == "entra":
        args += ["--auth", "entra", "--jwks", str(options.pop("jwks_file"))]
        for name in ("audience", "clock_skew", "issuer"):
            value = options.pop(name, None)
            if value is not None:
                args += [f"--{name.replace('_', '-')}", str(value)]
    elif primary is None or mode == "none":
        args.append("--no-auth")
    else:
        env["BANKSCORE_KEY"] = primary
        if secondary is not None:
            env["BANKSCORE_SECONDARY_KEY"] = secondary
    if "envelope" in options:
        args += ["--envelope", options.pop("envelope")]
    if "max_body_bytes" in options:
        args += ["--max-body-mb", repr(options.pop("max_body_bytes") / (1024 * 1024))]
    for fault in options.pop("faults", ()):
        args += ["--fault-status", str(fault)]
    for name in ("fault_rate", "retry_after", "latency_ms", "fault_seed"):
        if name in options:
            args += [f"--{name.replace('_', '-')}", str(options.pop(name))]
    if options.pop("pipelines", False):
        args.append("--pipelines")
    runs_dir = options.pop("runs_dir", None)
    if runs_dir is not None:
        args += ["--runs-dir", str(runs_dir)]
    if "run_timeout" in options:
        args += ["--run-timeout", str(options.pop("run_timeout"))]
    if options:
        raise TypeError(f"no `bankscore serve` flag for {sorted(options)}")
    return args, env
