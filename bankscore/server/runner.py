"""Run the embedded endpoint: in the foreground (`bankscore serve`) or on a background thread.

The background form is what `bankscore score` uses when no endpoint is configured, and what the
tests use: a real server on a free loopback port, spoken to over real HTTP.
"""

# ruff: noqa: E402 (the extra is checked before its libraries are imported: a missing one is one clear line)
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

from .._extras import check

check("server", "The embedded endpoint (and its trainer)")  # before the imports it checks for

import orjson
import platformdirs
import uvicorn
from filelock import FileLock

from .app import DEFAULT_MAX_BODY_BYTES, ScoringApp, access_logger
from .auth import KeyRing
from .faults import FaultPlan
from .model import MODEL_FILE, Model, load_model
from .payload import ServedEnvelope

if TYPE_CHECKING:
    from .batch import BatchService
    from .entra import TokenValidator
    from .pipelines import PipelineService

CACHE_ENV: Final = "BANKSCORE_CACHE_DIR"
CONFIG_ENV: Final = "BANKSCORE_ENDPOINT_CONFIG"
SYNTHETIC_MODEL: Final = "synthetic-v2"
SYNTHETIC_ROWS: Final = 20_000
DATA_AUDIENCE: Final = "https://ml.azure.com"  # entra.DATA_AUDIENCE, kept here so key-auth starts skip PyJWT

AuthMode = Literal["key", "entra", "none"]


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path(platformdirs.user_cache_dir("bankscore"))


def default_runs_dir() -> Path:
    """Where pipeline runs write their logs and models, and batch jobs their default outputs."""
    return cache_dir() / "runs"


def default_model_dir(announce: Callable[[str], None] | None = None) -> Path:
    """The synthetic model, trained once per machine and cached; a lock keeps parallel starts from racing.

    The lock is an OS file lock (fcntl on POSIX, msvcrt on Windows, through filelock), released by the
    OS if the process dies, so a crashed first start never blocks the next one.
    """
    target = cache_dir() / "models" / SYNTHETIC_MODEL
    if (target / MODEL_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f".{SYNTHETIC_MODEL}.lock"):
        if (target / MODEL_FILE).is_file():
            return target
        from ..bankmarketing.synthetic import generate
        from .training import train

        if announce is not None:
            announce(f"Training the synthetic Bank Marketing model once; it is cached in {target}")
        result = train(generate(SYNTHETIC_ROWS, seed=0), source=f"synthetic(rows={SYNTHETIC_ROWS}, seed=0)")
        result.save(target)
    return target


@dataclass
class EndpointConfig:
    """How to serve. Auth: "key" checks primary_key/secondary_key (no primary key: no auth, as it always
    was), "entra" checks RS256 tokens against jwks_file for `audience` on the data plane (ARM's audiences
    on the pipeline and run-history routes), "none" checks nothing."""

    model_dir: Path
    envelope: ServedEnvelope = "inputs"
    host: str = "127.0.0.1"
    port: int = 5001
    workers: int = 1
    primary_key: str | None = field(default=None, repr=False)
    secondary_key: str | None = field(default=None, repr=False)
    auth: AuthMode = "key"
    jwks_file: Path | None = None
    audience: str = DATA_AUDIENCE
    clock_skew: float = 60.0
    issuer: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    fault_rate: float = 0.0
    faults: tuple[int | str, ...] = (503,)
    retry_after: float | None = 1.0
    latency_ms: float = 0.0
    fault_seed: int | None = None
    log_file: Path | None = None
    access_log: bool = True
    pipelines: bool = False  # the published pipeline `retrain` and the batch endpoint /jobs
    runs_dir: Path | None = None  # default: <cache dir>/runs
    run_timeout: float = 600.0  # seconds one pipeline run or batch job may take
    pipeline_defaults: dict[str, Any] = field(default_factory=dict)  # parameter values a run doesn't set

    def __post_init__(self) -> None:
        if self.auth not in ("key", "entra", "none"):
            raise ValueError(f"auth must be 'key', 'entra' or 'none', not {self.auth!r}")
        if self.auth != "key" and self.primary_key is not None:
            raise ValueError(f"auth {self.auth!r} takes no keys; leave primary_key and secondary_key unset")
        if self.auth == "entra" and self.jwks_file is None:
            raise ValueError("auth 'entra' needs jwks_file, the JSON Web Key Set the tokens are signed with")

    @property
    def keys(self) -> KeyRing | None:
        if self.auth != "key" or self.primary_key is None:
            return None
        return KeyRing(self.primary_key, self.secondary_key)

    def token_validator(self) -> TokenValidator | None:
        """The Entra token check for auth "entra" (a bad JWKS file raises KeySourceError), else None."""
        if self.auth != "entra":
            return None
        from .entra import TokenValidator

        assert self.jwks_file is not None  # __post_init__
        return TokenValidator.from_file(
            self.jwks_file, audience=self.audience, clock_skew=self.clock_skew, issuer=self.issuer
        )

    def fault_plan(self) -> FaultPlan:
        return FaultPlan(
            rate=self.fault_rate,
            faults=self.faults,
            retry_after=self.retry_after,
            latency_ms=self.latency_ms,
            seed=self.fault_seed,
        )

    def build_app(self, model: Model | None = None) -> ScoringApp:
        pipelines: PipelineService | None = None
        batch: BatchService | None = None
        if self.pipelines:
            from .batch import BatchService
            from .pipelines import PipelineService

            runs = self.runs_dir or default_runs_dir()
            pipelines = PipelineService(runs, run_timeout=self.run_timeout, defaults=self.pipeline_defaults)
            batch = BatchService(runs / "batch", job_timeout=self.run_timeout)
        return ScoringApp(
            model or load_model(self.model_dir),
            envelope=self.envelope,
            keys=self.keys,
            tokens=self.token_validator(),
            max_body_bytes=self.max_body_bytes,
            faults=self.fault_plan(),
            pipelines=pipelines,
            batch=batch,
        )

    def to_env(self) -> str:
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        data["log_file"] = str(self.log_file) if self.log_file else None
        data["jwks_file"] = str(self.jwks_file) if self.jwks_file else None
        data["runs_dir"] = str(self.runs_dir) if self.runs_dir else None
        return orjson.dumps(data).decode()

    @classmethod
    def from_env(cls, text: str) -> EndpointConfig:
        data: dict[str, Any] = orjson.loads(text)
        data["model_dir"] = Path(data["model_dir"])
        data["log_file"] = Path(data["log_file"]) if data["log_file"] else None
        data["runs_dir"] = Path(data["runs_dir"]) if data.get("runs_dir") else None
        data["faults"] = tuple(data["faults"])
        data["jwks_file"] = Path(data["jwks_file"]) if data.get("jwks_file") else None
        return cls(**data)


def configure_access_log(config: EndpointConfig, stream: TextIO | None = None) -> None:
    """One JSON line per request to stderr or a file; nothing else goes to that logger."""
    for old in list(access_logger.handlers):
        access_logger.removeHandler(old)
        old.close()
    access_logger.propagate = False
    if not config.access_log:
        access_logger.setLevel(logging.WARNING)
        return
    handler: logging.Handler
    if config.log_file is not None:
        handler = logging.FileHandler(config.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)


def app_from_environment() -> ScoringApp:
    """Factory each uvicorn worker process calls; the parent passes its settings through the environment."""
    config = EndpointConfig.from_env(os.environ[CONFIG_ENV])
    configure_access_log(config)
    return config.build_app()


def _uvicorn_options(config: EndpointConfig) -> dict[str, Any]:
    """uvicorn's settings; loop and HTTP parser on "auto": uvloop and httptools where they are installed
    (uvicorn[standard] skips uvloop on Windows), asyncio and h11 elsewhere. No WebSocket routes, so no
    WebSocket library is imported (about 50 ms of every start)."""
    return {
        "host": config.host,
        "port": config.port,
        "loop": "auto",
        "http": "auto",
        "ws": "none",
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "log_level": "warning",
        "timeout_keep_alive": 30,
    }


def serve(config: EndpointConfig) -> None:
    """Serve in the foreground until interrupted."""
    if config.pipelines and config.workers > 1:
        raise ValueError("pipelines swap the served model in one process: serve them with one worker")
    if config.workers > 1:
        os.environ[CONFIG_ENV] = config.to_env()
        uvicorn.run(
            "bankscore.server.runner:app_from_environment",
            factory=True,
            workers=config.workers,
            **_uvicorn_options(config),
        )
        return
    configure_access_log(config)
    uvicorn.Server(uvicorn.Config(config.build_app(), **_uvicorn_options(config))).run()


def reuse_address_is_safe() -> bool:
    """SO_REUSEADDR lets a restarted server rebind past TIME_WAIT on POSIX; on Windows it lets a second
    socket take over a port another program is listening on, so there it is left off."""
    return sys.platform != "win32"


class EmbeddedEndpoint:
    """The endpoint on a daemon thread, bound to a free loopback port; use as a context manager."""

    def __init__(self, config: EndpointConfig, model: Model | None = None) -> None:
        self.config = config
        configure_access_log(config)
        self.app = config.build_app(model)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if reuse_address_is_safe():
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((config.host, config.port if config.port else 0))
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self.app, **_uvicorn_options(config)))
        self._thread = threading.Thread(target=self._run, name="bankscore-endpoint", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def scoring_uri(self) -> str:
        return f"{self.base_url}/score"

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self, timeout: float = 30.0) -> EmbeddedEndpoint:
        self._thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            deadline.wait(0.01)
        raise RuntimeError(f"the embedded endpoint did not start on {self.base_url}")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.app.close()  # done by the lifespan shutdown already, unless the server never got that far
        with contextlib.suppress(OSError):
            self._sock.close()

    def __enter__(self) -> EmbeddedEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_endpoint(announce: Callable[[str], None] | None = None) -> tuple[EmbeddedEndpoint, str]:
    """The endpoint tools fall back to when none is configured: default model, loopback, throwaway key."""
    import secrets

    key = secrets.token_urlsafe(32)
    config = EndpointConfig(model_dir=default_model_dir(announce), port=0, primary_key=key, access_log=False)
    return EmbeddedEndpoint(config).start(), key
