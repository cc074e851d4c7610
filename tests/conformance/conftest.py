"""The conformance tests: both clients against servers that need the full environment (Microsoft's inference
server in its own venv, an MLflow-style server on uvicorn) and a trained model in this process.

Like the client suite (tests/client/conftest.py), every test that makes a client runs once per client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.twins import FLAVORS, ClientFactory, Flavor, client_factory


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> Flavor:
    """The client under test: "sync" (ScoringClient) or "async" (AsyncScoringClient, through an AsyncTwin)."""
    value: Flavor = request.param
    return value


@pytest.fixture
def make_client(flavor: Flavor) -> Iterator[ClientFactory]:
    """`make_client(endpoint, ...)` takes ScoringClient's arguments and gives this test's flavor of client."""
    with client_factory(flavor) as factory:
        yield factory
