"""Bad input from Python: every case gets the right error type and a message that names the row and column,
or the cause, from both clients. Real endpoint, real servers for odd swaggers. (Bad files, through the CLI,
are in tests/files/test_bad_files.py.)"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pytest

from bankscore import (
    APIStatusError,
    ContractError,
    InputValidationError,
    ResponseDecodeError,
)
from bankscore.bankmarketing.synthetic import generate
from bankscore.retry import RetryPolicy
from tests.support.common import PRIMARY, free_port
from tests.support.faultproxy import FaultProxy

if TYPE_CHECKING:
    from tests.support.twins import ClientFactory

NO_RETRY = RetryPolicy(max_retries=0)


def rows(n: int = 6) -> pd.DataFrame:
    return generate(n, seed=51, label=False)


def records(n: int = 3) -> list[dict[str, Any]]:
    return rows(n).to_dict("records")  # type: ignore[return-value]


def edit(frame: pd.DataFrame, row: int, column: str, value: Any) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.at[row, column] = value
    return frame


# (id, rows to send, keyword arguments, error type, fragments the message must hold)
PYTHON_CASES: list[tuple[str, Callable[[], Any], dict[str, Any], type[Exception], tuple[str, ...]]] = [
    ("missing column", lambda: rows().drop(columns="age"), {}, InputValidationError, ("'age'", "missing column")),
    ("extra column", lambda: rows().assign(customer="C1"), {}, InputValidationError, ("'customer'", "unknown column")),
    (
        "renamed column",
        lambda: rows().rename(columns={"emp.var.rate": "emp_var_rate"}),
        {},
        InputValidationError,
        ("'emp.var.rate'", "'emp_var_rate'"),
    ),
    ("text in a number column", lambda: edit(rows(), 2, "age", "old"), {}, InputValidationError,
     ("row 2", "'age'", "'old'", "whole number")),
    ("fraction in a whole-number column", lambda: edit(rows(), 1, "campaign", 2.5), {}, InputValidationError,
     ("row 1", "'campaign'", "2.5")),
    ("a fraction written as text", lambda: edit(rows(), 1, "campaign", "2.5"), {}, InputValidationError,
     ("row 1", "'campaign'", "'2.5'", "whole number")),
    ("a thousands separator", lambda: edit(rows(), 2, "age", "1,260"), {}, InputValidationError,
     ("row 2", "'age'", "'1,260'", "without thousands separators")),
    ("a decimal comma", lambda: edit(rows(), 3, "euribor3m", "4,857"), {}, InputValidationError,
     ("row 3", "'euribor3m'", "'4,857'", "decimal comma")),
    ("text beyond the double range", lambda: edit(rows(), 0, "nr.employed", "1e400"), {}, InputValidationError,
     ("row 0", "'nr.employed'", "'1e400'", "double range")),
    ("NaN in a DataFrame", lambda: edit(rows(), 3, "duration", math.nan), {}, InputValidationError,
     ("row 3", "'duration'", "empty")),
    ("None in a record", lambda: [*records(2), {**records(1)[0], "job": None}], {}, InputValidationError,
     ("row 2", "'job'", "empty")),
    ("infinity in a double column", lambda: edit(rows(), 0, "euribor3m", math.inf), {}, InputValidationError,
     ("row 0", "'euribor3m'", "finite")),
    ("boolean in a number column", lambda: edit(rows(), 4, "previous", True), {}, InputValidationError,
     ("row 4", "'previous'", "True")),
    ("boolean in a text column", lambda: edit(rows(), 5, "job", True), {}, InputValidationError,
     ("row 5", "'job'", "True", "text")),
    ("whole number beyond int64", lambda: edit(rows(), 0, "pdays", 2**70), {}, InputValidationError,
     ("row 0", "'pdays'", "int64")),
    ("text JSON can't carry", lambda: edit(rows(), 1, "marital", "\ud800"), {}, InputValidationError,
     ("row 1", "'marital'", "Unicode")),
    ("not rows at all", lambda: "age,job", {}, TypeError, ("DataFrame", "str")),
    ("a row that isn't a mapping", lambda: [*records(2), ["not", "a", "row"]], {}, InputValidationError,
     ("row 2", "mapping")),
    ("duplicate DataFrame columns", lambda: pd.concat([rows(), rows()[["age"]]], axis=1), {}, InputValidationError,
     ("'age'", "duplicate")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "make", "kwargs", "error", "fragments"), PYTHON_CASES, ids=[c[0] for c in PYTHON_CASES]
)
def test_python_input(
    make_client: ClientFactory,
    endpoint: Any,
    case: str,
    make: Any,
    kwargs: dict[str, Any],
    error: type[Exception],
    fragments: tuple[str, ...],
) -> None:
    with make_client(endpoint.scoring_uri, key=PRIMARY) as client, pytest.raises(error) as caught:
        client.predict(make(), **kwargs)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"
    assert PRIMARY not in message


def test_unseen_category_is_scored_not_rejected(make_client: ClientFactory, endpoint: Any) -> None:
    """Documented behaviour, not an error: a level the model never saw scores as missing."""
    frame = edit(rows(), 0, "job", "astronaut")
    with make_client(endpoint.scoring_uri, key=PRIMARY) as client:
        labels = client.predict(frame)
    assert len(labels) == 6 and set(labels) <= {"yes", "no"}


# ------------------------------------------------------------------------------------------- swagger & answers


class Static:
    """A real loopback server answering fixed (status, content type, body) per path."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes]]) -> None:
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                status, content_type, body = routes_.get(self.path.split("?")[0], (404, "text/plain", b"no"))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def static() -> Iterator[Callable[[dict[str, tuple[int, str, bytes]]], Static]]:
    servers: list[Static] = []

    def start(routes: dict[str, tuple[int, str, bytes]]) -> Static:
        servers.append(Static(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_swagger_for_another_model(make_client: ClientFactory, static: Any) -> None:
    other = {"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {"/score": {"post": {
        "parameters": [{"name": "Inputs", "in": "body", "schema": {"type": "object", "properties": {"data": {
            "type": "array", "items": {"type": "object", "properties": {
                "temperature": {"type": "number", "format": "double"}}}}}}}],
        "responses": {"200": {"description": "ok"}}}}}}  # fmt: skip
    server = static({"/swagger.json": (200, "application/json", orjson.dumps(other))})
    with make_client(f"{server.url}/score") as client, pytest.raises(InputValidationError) as caught:
        client.predict(rows())
    assert "'temperature'" in str(caught.value) and "'age'" in str(caught.value)


def test_an_unreachable_swagger(make_client: ClientFactory) -> None:
    with make_client(f"http://127.0.0.1:{free_port()}/score") as client, pytest.raises(ContractError) as caught:
        client.predict(rows())
    assert "can't fetch the swagger" in str(caught.value) and "swagger.json" in str(caught.value)


def test_a_swagger_with_no_score_route(make_client: ClientFactory, static: Any) -> None:
    document = {"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {"/predict": {}}}
    server = static({"/swagger.json": (200, "application/json", orjson.dumps(document))})
    with make_client(f"{server.url}/score") as client, pytest.raises(ContractError) as caught:
        client.contract  # noqa: B018
    assert "/score" in str(caught.value)


def test_a_swagger_url_that_answers_an_html_page(make_client: ClientFactory, static: Any) -> None:
    server = static({"/swagger.json": (200, "text/html", b"<html><body>Sign in</body></html>")})
    with make_client(f"{server.url}/score") as client, pytest.raises(ContractError) as caught:
        client.contract  # noqa: B018
    assert "swagger" in str(caught.value) and "JSON" in str(caught.value)


def test_an_html_error_page_from_a_proxy_is_one_short_line(make_client: ClientFactory, endpoint: Any) -> None:
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with (
        FaultProxy(base, rate=1.0, faults=("502-html",)) as proxy,
        make_client(proxy.scoring_uri, key=PRIMARY, retry_policy=NO_RETRY) as client,
        pytest.raises(APIStatusError) as caught,
    ):
        client.predict(rows())
    message = str(caught.value)
    assert caught.value.status_code == 502 and "HTTP 502" in message and "502 Bad Gateway" in message
    assert "\n" not in message and len(message) < 400


def test_a_200_that_is_not_scores(make_client: ClientFactory, static: Any, bank_swagger: dict[str, Any]) -> None:
    server = static({"/score": (200, "text/html", b"<html>maintenance</html>")})
    client = make_client(f"{server.url}/score", swagger=bank_swagger, retry_policy=NO_RETRY)
    with client, pytest.raises(ResponseDecodeError) as caught:
        client.predict(rows())
    assert "not JSON" in str(caught.value) and "maintenance" in str(caught.value)
