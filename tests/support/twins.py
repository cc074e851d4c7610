"""ScoringClient and AsyncScoringClient behind one synchronous surface, so each client test runs against both.

`ClientFactory("sync")` makes real `ScoringClient`s. `ClientFactory("async")` makes `AsyncTwin`s: a real
`AsyncScoringClient` whose every coroutine is run to completion on one event loop the twin owns (an
`asyncio.Runner` kept for the twin's lifetime). Both take `ScoringClient`'s constructor arguments and answer
`predict`, `predict_proba`, `score_table`, `prepare`, `health`, `swagger`, `contract`, `row_model`, `endpoint`,
`options`, `with_options`, `close` and `with`, so a test written once drives either client. Imports only the core
SDK.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

import httpx
import pytest

from bankscore import AsyncScoringClient, Contract, ScoringClient

Flavor = Literal["sync", "async"]
FLAVORS: Final[tuple[Flavor, ...]] = ("sync", "async")

T = TypeVar("T")


class AsyncTwin:
    """An `AsyncScoringClient` driven from synchronous code, with `ScoringClient`'s surface.

    Like `ScoringClient`, it reads the contract on first use (`contract`, `row_model`, `prepare` await
    `load_contract()` first), so a bad swagger fails where it would fail the sync client. Clients made by
    `with_options` are twins on the same loop; closing this twin closes them and then the loop.
    """

    def __init__(self, client: AsyncScoringClient, runner: asyncio.Runner, parent: AsyncTwin | None = None) -> None:
        self.client = client
        self._runner = runner
        self._parent = parent
        self._children: list[AsyncTwin] = []
        self._closed = False

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run one of the client's coroutines to completion on the twin's loop."""
        if self._closed:
            coroutine.close()
            raise RuntimeError("this AsyncTwin is closed")
        return self._runner.run(coroutine)

    # ------------------------------------------------------------------------------ the sync surface

    @property
    def endpoint(self) -> str:
        return self.client.endpoint

    @property
    def options(self) -> Any:
        return self.client.options

    @property
    def contract(self) -> Contract:
        return self.run(self.client.load_contract())

    @property
    def row_model(self) -> Any:
        self.run(self.client.load_contract())
        return self.client.row_model

    def health(self) -> bool:
        return self.run(self.client.health())

    def swagger(self) -> dict[str, Any]:
        return self.run(self.client.swagger())

    def predict(self, rows: Any, **kwargs: Any) -> Any:
        return self.run(self.client.predict(rows, **kwargs))

    def predict_proba(self, rows: Any, **kwargs: Any) -> Any:
        return self.run(self.client.predict_proba(rows, **kwargs))

    def score_table(self, table: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return self.run(self.client.score_table(table, *args, **kwargs))

    def prepare(self, rows: Any, *args: Any, **kwargs: Any) -> Any:
        self.run(self.client.load_contract())
        return self.client.prepare(rows, *args, **kwargs)

    def with_options(self, **changes: Any) -> AsyncTwin:
        child = AsyncTwin(self.client.with_options(**changes), self._runner, parent=self)
        self._children.append(child)
        return child

    def close(self) -> None:
        if self._closed:
            return
        for child in self._children:
            child.close()
        try:
            self.run(self.client.aclose())
        finally:
            self._closed = True
            if self._parent is None:
                self._runner.close()  # cancels whatever the client left running

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self.client)

    def __getattr__(self, name: str) -> Any:
        """The client's own state (`_credential`, `_options`, `_http`) for tests that look inside."""
        value = getattr(self.client, name)
        if inspect.iscoroutinefunction(value):
            raise AttributeError(f"AsyncTwin has no sync wrapper for the coroutine method {name!r}")
        return value


Client = ScoringClient | AsyncTwin


def make_twin(flavor: Flavor, endpoint: str | None = None, /, **options: Any) -> Client:
    """A ScoringClient, or an AsyncTwin around an AsyncScoringClient made from the same arguments on the twin's loop."""
    if flavor == "sync":
        return ScoringClient(endpoint, **options)

    async def construct() -> AsyncScoringClient:
        return AsyncScoringClient(endpoint, **options)

    runner = asyncio.Runner()
    try:
        client = runner.run(construct())
    except BaseException:
        runner.close()
        raise
    return AsyncTwin(client, runner)


class ClientFactory:
    """Makes clients of one flavor and closes every one still open when the test ends."""

    def __init__(self, flavor: Flavor) -> None:
        self.flavor: Flavor = flavor
        self._made: list[Client] = []

    def __call__(self, endpoint: str | None = None, /, **options: Any) -> Client:
        client = make_twin(self.flavor, endpoint, **options)
        self._made.append(client)
        return client

    def close(self) -> None:
        for client in reversed(self._made):
            client.close()


@contextmanager
def client_factory(flavor: Flavor) -> Iterator[ClientFactory]:
    factory = ClientFactory(flavor)
    try:
        yield factory
    finally:
        factory.close()


def unwrap(client: Client) -> ScoringClient | AsyncScoringClient:
    """The real client inside."""
    return client.client if isinstance(client, AsyncTwin) else client


def replace_transport(client: Client, transport: httpx.BaseTransport | httpx.AsyncBaseTransport) -> None:
    """Send the client's requests through `transport` (an `httpx.MockTransport` serves both kinds), keeping its
    headers, timeout and redirect setting; the client's own HTTP client is closed first."""
    real = unwrap(client)
    http = real.options.httpx_kwargs()
    kept = {"headers": http["headers"], "timeout": http["timeout"], "follow_redirects": http["follow_redirects"]}
    if isinstance(client, AsyncTwin):
        assert isinstance(transport, httpx.AsyncBaseTransport)
        client.run(client.client._http.aclose())
        client.client._http = httpx.AsyncClient(transport=transport, **kept)
    else:
        assert isinstance(transport, httpx.BaseTransport)
        client._http.close()
        client._http = httpx.Client(transport=transport, **kept)


class AsyncioWith:
    """The asyncio module with some names replaced, to patch into `bankscore._client` (e.g. a recording sleep)
    without touching the asyncio every other module, and the twins' loops, use."""

    def __init__(self, **replaced: Any) -> None:
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


def record_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make both clients record their waits between attempts instead of sleeping them (`time.sleep` in
    ScoringClient, `asyncio.sleep` in AsyncScoringClient); the requests themselves stay real."""
    import time
    from types import SimpleNamespace

    import bankscore._client as client_module

    recorded: list[float] = []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(client_module, "time", SimpleNamespace(monotonic=time.monotonic, sleep=recorded.append))
    monkeypatch.setattr(client_module, "asyncio", AsyncioWith(sleep=sleep))
    return recorded


@pytest.fixture(params=FLAVORS)
def flavor(request: pytest.FixtureRequest) -> Flavor:
    """The client under test: "sync" (ScoringClient) or "async" (AsyncScoringClient, through an AsyncTwin)."""
    value: Flavor = request.param
    return value


@pytest.fixture
def make_client(flavor: Flavor) -> Iterator[ClientFactory]:
    """`make_client(endpoint, key=..., ...)` takes ScoringClient's arguments and gives this test's flavor of client;
    every client still open at the end of the test is closed."""
    with client_factory(flavor) as factory:
        yield factory
