"""What Entra auth costs, measured side by side in one run: the same endpoint with a key and with tokens.

Two `bankscore serve` processes on loopback serve the same model, one with key auth, one with
`--auth entra --jwks FILE` (a key pair made here). The client takes turns on both:

1. single-row `ScoringClient.predict([row])` latency, p50 and p99 — token ÷ key;
2. 1,000-row batches, rows/s — token ÷ key;
3. how often the client fetched a token (a credential that signs tokens here, each living --lifetime seconds).

Then a published-pipeline run of the emulator (`serve --pipelines`), submit → Completed, timed with the
tiny training parameters the tests use and with the default synthetic rows.

    uv run python benchmarks/bench_auth.py [--model DIR] [--calls 2000] [--rounds 3] [--lifetime 3600]

Machines are noisy: read the ratios. Exit 1 if an answer differs between the two endpoints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _common
import httpx
import jwt
from azure.core.credentials import AccessToken
from cryptography.hazmat.primitives.asymmetric import rsa

from bankscore import PipelineClient, ScoringClient
from bankscore.bankmarketing.synthetic import generate

KID = "bench-key"


class Signer:
    """A TokenCredential that signs its own RS256 tokens, as Entra would, and counts what it is asked for."""

    def __init__(self, lifetime: float) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.lifetime = lifetime
        self.calls = 0
        self._lock = threading.Lock()

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        with self._lock:
            self.calls += 1
        now = int(time.time())
        audience = scopes[0].removesuffix("/.default")
        claims = {"aud": audience, "iss": "https://sts.windows.net/bench/", "iat": now, "nbf": now,
                  "exp": now + int(self.lifetime), "oid": "bench", "tid": "bench"}  # fmt: skip
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})
        return AccessToken(token, now + int(self.lifetime))


@contextlib.contextmanager
def serve(model: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = _common.free_port()
    command = [_common.bankscore_cli(), "serve", "--model", str(model), "--port", str(port), "--no-access-log", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_common.die_with_parent)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/", timeout=1).status_code in (200, 401):
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise _common.BenchError(f"serve {' '.join(args)} did not start")
            time.sleep(0.05)
        yield base
    finally:
        _common.stop_process(process)


def latencies(client: ScoringClient, rows: list[dict[str, Any]], calls: int) -> list[float]:
    seen = []
    for i in range(calls):
        started = time.perf_counter()
        client.predict([rows[i % len(rows)]])
        seen.append((time.perf_counter() - started) * 1000)
    return seen


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--lifetime", type=float, default=3600.0)
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, _common.raise_on_sigterm)
    model = _common.ensure_model(options.model, _common.REPO_ROOT / "benchmarks" / "out" / "model-synthetic")
    print(f"model: {_common.describe_model(model)}")
    signer = Signer(options.lifetime)
    frame = generate(options.batch_rows, seed=3, label=False)
    single = frame.head(256).to_dict(orient="records")
    with tempfile.TemporaryDirectory() as scratch:
        jwks = Path(scratch) / "jwks.json"
        jwks.write_text(json.dumps(signer.jwks()))
        key = "bench-" + "k" * 32
        with (
            serve(model, env={**_env(), "BANKSCORE_KEY": key}) as keyed,
            serve(model, "--auth", "entra", "--jwks", str(jwks), env=_env()) as entra,
            ScoringClient(keyed + "/score", key=key, batch_rows=1000, concurrency=2) as by_key,
            ScoringClient(entra + "/score", credential=signer, batch_rows=1000, concurrency=2) as by_token,
        ):
            if by_key.predict(frame.head(2000)).tolist() != by_token.predict(frame.head(2000)).tolist():
                print("FAILED: the two endpoints answer differently")
                return 1
            lat: dict[str, list[float]] = {"key": [], "token": []}
            rate: dict[str, list[float]] = {"key": [], "token": []}
            for _ in range(options.rounds):
                for name, client in (("key", by_key), ("token", by_token)):
                    lat[name] += latencies(client, single, options.calls // options.rounds)
                    started = time.perf_counter()
                    client.predict(frame)
                    rate[name].append(len(frame) / (time.perf_counter() - started))
    p50 = {n: statistics.median(v) for n, v in lat.items()}
    p99 = {n: percentile(v, 0.99) for n, v in lat.items()}
    rows_s = {n: statistics.median(v) for n, v in rate.items()}
    print(f"single-row predict p50: key {p50['key']:.2f} ms, token {p50['token']:.2f} ms "
          f"→ token ÷ key {p50['token'] / p50['key']:.2f}")  # fmt: skip
    print(f"single-row predict p99: key {p99['key']:.2f} ms, token {p99['token']:.2f} ms "
          f"→ token ÷ key {p99['token'] / p99['key']:.2f}")  # fmt: skip
    print(f"1,000-row batches, {len(frame):,} rows: key {rows_s['key']:,.0f} rows/s, token "
          f"{rows_s['token']:,.0f} rows/s → token ÷ key {rows_s['token'] / rows_s['key']:.2f}")  # fmt: skip
    print(f"tokens fetched for {sum(len(v) for v in lat.values()) // 2 + 1:,} token-authorised calls: {signer.calls}")
    pipeline_runs(model)
    return 0


def pipeline_runs(model: Path) -> None:
    """Submit → Completed for the emulator's published pipeline, tiny and default training."""
    with tempfile.TemporaryDirectory() as runs:
        key = "bench-" + "p" * 32
        with serve(model, "--pipelines", "--runs-dir", runs, env={**_env(), "BANKSCORE_KEY": key}) as base:
            url = base + (
                "/pipelines/v1.0/subscriptions/local/resourceGroups/local/providers/"
                "Microsoft.MachineLearningServices/workspaces/local/PipelineRuns/PipelineSubmit/retrain"
            )
            with PipelineClient(key=key) as pipelines:
                for label, parameters in (
                    ("tiny (300 rows, 2 folds, LogisticRegression)",
                     {"rows": 300, "folds": 2, "candidates": "LogisticRegression"}),
                    ("synthetic defaults (32,950 rows, 5 folds, every candidate)", {}),
                ):  # fmt: skip
                    started = time.monotonic()
                    run = pipelines.submit(url, "bench", parameters=parameters)
                    final = pipelines.wait(run, timeout=1800, poll_interval=0.2)
                    print(f"pipeline run, {label}: {final.status} in {time.monotonic() - started:.1f} s")


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("BANKSCORE_KEY", "BANKSCORE_KEY_FILE")}


if __name__ == "__main__":
    sys.exit(main())
