"""Fixtures every wing shares: one small model per test run, real endpoints on loopback ports, the peer.

Nothing here imports the server wing at module level, so the client tests also run in a venv with the
core install alone. There (the core-only CI job sets `BANKSCORE_TEST_SERVER_PYTHON` and
`BANKSCORE_TEST_MODEL_DIR`), endpoints are `bankscore serve` processes of the full environment;
otherwise they run in this process, on a thread, which is faster.

With pytest-xdist, the model is trained once for all workers: the first worker to get the lock trains
it into the run's shared temporary directory, the others wait for it and load it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.common import CACHE_ENV, MODEL_DIR_ENV, PRIMARY, SECONDARY, SERVER_PYTHON_ENV

SERVER_PYTHON = os.environ.get(SERVER_PYTHON_ENV)

# The suite starts many Python processes: let them cache this checkout's compiled modules, even where the
# environment says not to (compiling bankscore and the tests again in every process costs more than it saves).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# One thread per BLAS and OpenMP pool, here and in every process the suite starts: it runs two workers per core,
# where a pool's idle threads spin for CPU the others need (logistic regression on 30,000 rows: 6 times the CPU).
# Set before numpy loads; a value in the environment wins.
for _pool in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")
# The Ctrl-C tests send SIGINT to the commands they start. A shell that starts the suite in the background (`&`, a
# script's job) hands it SIGINT ignored, which every child inherits: each such test would then wait out its timeout
# and fail. Python's own handler instead, so the children start with the default and install theirs.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    with contextlib.suppress(ValueError):  # only the main thread may set it
        signal.signal(signal.SIGINT, signal.default_int_handler)
SYNTHETIC_MODEL = "synthetic-v2"  # bankscore.server.runner.SYNTHETIC_MODEL (checked in tests/server)


def _shared_dir(factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run sees (the workers' basetemp's parent), or this run's own."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model trained on synthetic rows: small enough to train in seconds, real enough to test."""
    given = os.environ.get(MODEL_DIR_ENV)
    if given:
        return Path(given)
    from filelock import FileLock

    target = _shared_dir(tmp_path_factory) / "shared-model" / "bankmarketing"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / ".lock"):
        if not (target / "model.json").is_file():
            from bankscore.bankmarketing.synthetic import generate
            from bankscore.server.training import train

            result = train(
                generate(6_000, seed=1),
                folds=3,
                seed=1,
                candidates=["LightGBM", "LogisticRegression"],
                source="synthetic(rows=6000, seed=1)",
            )
            result.save(target)
    return target


@pytest.fixture(scope="session")
def model(model_dir: Path) -> Any:
    from bankscore.server.model import load_model

    return load_model(model_dir)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """A cache directory that already holds the default model, for commands run without --model."""
    cache = tmp_path_factory.mktemp("cache")
    shutil.copytree(model_dir, cache / "models" / SYNTHETIC_MODEL)
    return cache


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))
    monkeypatch.delenv("BANKSCORE_KEY", raising=False)
    monkeypatch.delenv("BANKSCORE_SECONDARY_KEY", raising=False)
    monkeypatch.delenv("BANKSCORE_KEY_FILE", raising=False)
    monkeypatch.delenv("BANKSCORE_ENDPOINT", raising=False)


EndpointFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def _served_endpoints() -> Iterator[tuple[ExitStack, dict[str, Any]]]:
    """Endpoint processes of the core-only job, one per configuration, kept for the session (each costs a
    process start); the endpoint keeps no state between requests, so tests can share one."""
    with ExitStack() as stack:
        yield stack, {}


@pytest.fixture
def start_endpoint(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[EndpointFactory]:
    """Start endpoints on free loopback ports (EndpointConfig's keywords); every one is stopped after the test."""
    with ExitStack() as stack:

        def start(**options: Any) -> Any:
            if options.get("auth", "key") == "key":  # auth="entra" or "none" takes no keys
                options.setdefault("primary_key", PRIMARY)
                options.setdefault("secondary_key", SECONDARY)
            if SERVER_PYTHON:
                session_stack, started = request.getfixturevalue("_served_endpoints")
                key = repr(sorted(options.items()))
                if key not in started:
                    started[key] = _served(session_stack, model_dir, tmp_path_factory, options)
                return started[key]
            return _in_process(stack, model_dir, options)

        yield start


def _in_process(stack: ExitStack, model_dir: Path, options: dict[str, Any]) -> Any:
    from bankscore.server.model import load_model
    from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig

    config = EndpointConfig(model_dir=model_dir, port=0, access_log=False, **options)
    endpoint = EmbeddedEndpoint(config, _loaded(model_dir, load_model)).start()
    stack.callback(endpoint.stop)
    return endpoint


_MODELS: dict[Path, Any] = {}


def _loaded(model_dir: Path, load: Callable[[Path], Any]) -> Any:
    if model_dir not in _MODELS:
        _MODELS[model_dir] = load(model_dir)
    return _MODELS[model_dir]


def _served(stack: ExitStack, model_dir: Path, factory: pytest.TempPathFactory, options: dict[str, Any]) -> Any:
    from tests.support.serving import ServedEndpoint, serve_args, serving

    assert SERVER_PYTHON is not None
    args, env = serve_args(model_dir, options)
    context = serving(args, env, factory.mktemp("served"), command=(SERVER_PYTHON, "-m", "bankscore"))
    base_url, _ = stack.enter_context(context)
    return ServedEndpoint(base_url)  # the session's ExitStack stops the process


@pytest.fixture
def endpoint(start_endpoint: EndpointFactory) -> Any:
    return start_endpoint()


@pytest.fixture
def data_endpoint(start_endpoint: EndpointFactory) -> Any:
    return start_endpoint(envelope="data")


# ------------------------------------------------------------------ Microsoft's server as a peer


@pytest.fixture(scope="session")
def peer_python() -> Path:
    """Microsoft's inference server in its own venv; built here the first time, never skipped."""
    from tests.support.azureml_peer.peer import ensure_venv

    return ensure_venv()


def _serve(model_dir: Path, generation: str) -> Iterator[Any]:
    from tests.support.azureml_peer.peer import AzureMLPeer

    with AzureMLPeer(model_dir, generation) as peer:  # type: ignore[arg-type]
        yield peer


@pytest.fixture(scope="session")
def gen_b(peer_python: Path, model_dir: Path) -> Iterator[Any]:
    yield from _serve(model_dir, "B")


@pytest.fixture(scope="session")
def gen_a(peer_python: Path, model_dir: Path) -> Iterator[Any]:
    yield from _serve(model_dir, "A")


@pytest.fixture(scope="session")
def gen_a_prime(peer_python: Path, model_dir: Path) -> Iterator[Any]:
    yield from _serve(model_dir, "A'")


@pytest.fixture(scope="session")
def gen_mlflow(peer_python: Path, model_dir: Path) -> Iterator[Any]:
    """MLflow-style `input_data` script: its swagger exists only as OpenAPI 3.0 and 3.1."""
    yield from _serve(model_dir, "MLflow")


@pytest.fixture(scope="session")
def gen_explain(peer_python: Path, model_dir: Path) -> Iterator[Any]:
    """AutoML v1's explainer deployment: run(raw_data) without schema decorators, a bare array of records in."""
    yield from _serve(model_dir, "explain")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a grouped test that `--dist loadgroup` didn't group: each group's shared costs (the peers, a Dask
    cluster, mypy's cache) would otherwise be paid, or raced for, on every worker, silently."""
    grouped = getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group")  # workers
    if grouped and "@" not in item.nodeid:  # xdist groups by adding "@group" to the id: pytest 9.2 keeps it out
        pytest.fail(
            "pytest-xdist did not group this xdist_group test: this pytest and pytest-xdist don't work "
            "together (see the pytest pin in pyproject.toml)",
            pytrace=False,
        )


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core. Many tests wait on child processes, servers and sockets rather than
    compute (a CLI run, a Dask cluster, a proxy holding requests), so one per core leaves the cores idle."""
    return 2 * (os.cpu_count() or 1)
