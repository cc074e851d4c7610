"""Fixtures for endpoints with `--auth entra`: one issuer (and so one RSA key) per test session, its JWKS
file, and endpoints that trust it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.entra import TestIssuer

EndpointFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="session")
def jwks_file(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return issuer.write_jwks(tmp_path_factory.mktemp("entra") / "jwks.json")


@pytest.fixture
def entra_endpoint(start_endpoint: EndpointFactory, jwks_file: Path) -> EndpointFactory:
    """Start an endpoint with auth entra trusting `issuer` (EndpointConfig's keywords: audience, clock_skew,
    issuer, jwks_file, ...), on a free loopback port, stopped after the test."""

    def start(**options: Any) -> Any:
        options.setdefault("jwks_file", jwks_file)
        return start_endpoint(auth="entra", **options)

    return start
