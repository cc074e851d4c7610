"""Shared fixtures: one small model trained per session, real endpoints on loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bankscore.endpoint.runner import CACHE_ENV, SYNTHETIC_MODEL, EmbeddedEndpoint, EndpointConfig
from bankscore.model import Model, load_model

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("BANKSCORE_REAL_DATA", ROOT.parent / "shared/data/bankmarketing_train.csv"))

PRIMARY = "primary-test-key-7f3a9c"
SECONDARY = "secondary-test-key-2b8e41"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model trained on synthetic rows: small enough to train in seconds, real enough to test."""
    from bankscore.synthetic import generate
    from bankscore.training import train

    result = train(
        generate(6_000, seed=1),
        folds=3,
        seed=1,
        candidates=["LightGBM", "LogisticRegression"],
        source="synthetic(rows=6000, seed=1)",
    )
    return result.save(tmp_path_factory.mktemp("model") / "bankmarketing")


@pytest.fixture(scope="session")
def model(model_dir: Path) -> Model:
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


EndpointFactory = Callable[..., EmbeddedEndpoint]


@pytest.fixture
def start_endpoint(model_dir: Path, model: Model) -> Iterator[EndpointFactory]:
    """Start embedded endpoints on free loopback ports; every one is stopped after the test."""
    started: list[EmbeddedEndpoint] = []

    def start(**options: Any) -> EmbeddedEndpoint:
        options.setdefault("primary_key", PRIMARY)
        options.setdefault("secondary_key", SECONDARY)
        config = EndpointConfig(model_dir=model_dir, port=0, access_log=False, **options)
        endpoint = EmbeddedEndpoint(config, model).start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()


@pytest.fixture
def endpoint(start_endpoint: EndpointFactory) -> EmbeddedEndpoint:
    return start_endpoint()


@pytest.fixture
def data_endpoint(start_endpoint: EndpointFactory) -> EmbeddedEndpoint:
    return start_endpoint(contract="data")


def auth(key: str = PRIMARY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ------------------------------------------------------------------ Microsoft's server as a peer


@pytest.fixture(scope="session")
def peer_python() -> Path:
    """Microsoft's inference server in its own venv; built here the first time, never skipped."""
    from tests.azureml_peer.peer import ensure_venv

    return ensure_venv()


def _serve(model_dir: Path, generation: str) -> Iterator[Any]:
    from tests.azureml_peer.peer import AzureMLPeer

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
