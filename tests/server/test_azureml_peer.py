"""Microsoft's azureml-inference-server-http, serving our model, behaves as our contract notes say.

These pin the facts our client and embedded endpoint are built against (status codes, bodies,
headers, swagger) on the real server, so a drift in either shows up here first.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from bankscore.server.model import Model
from tests.support.azureml_peer.peer import FIXTURES, SERVER_VERSION, AzureMLPeer

# Every test with a peer server on one worker: the session-scoped peers start once, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("peer")]

ROWS: list[dict[str, Any]] = [dict(row) for row in SAMPLE_ROWS]
RUN_FAILED = {"message": "An unexpected error occurred in scoring script. Check the logs for more info."}


def _without(column: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != column} for row in ROWS]


def _renamed(column: str) -> list[dict[str, Any]]:
    return [{(f"{k}_x" if k == column else k): v for k, v in row.items()} for row in ROWS]


# `model_dir` and `model` are conftest's session model, and the peers (gen_a, gen_b, gen_a_prime) are
# conftest's session fixtures: the peers serve exactly what we compare to.


def _frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=list(COLUMN_NAMES))


# ------------------------------------------------------------------------------------ gen B


def test_gen_b_predict_matches_local_model(gen_b: AzureMLPeer, model: Model) -> None:
    response = requests.post(gen_b.scoring_uri, json={"Inputs": {"data": ROWS}}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"Results"}
    assert all(label in model.classes for label in body["Results"])
    assert body["Results"] == model.predict(_frame()).tolist()


def test_gen_b_predict_proba(gen_b: AzureMLPeer, model: Model) -> None:
    payload: dict[str, Any] = {"Inputs": {"data": ROWS}, "GlobalParameters": {"method": "predict_proba"}}
    response = requests.post(gen_b.scoring_uri, json=payload, timeout=30)
    assert response.status_code == 200
    results = response.json()["Results"]
    assert np.asarray(results).shape == (len(ROWS), len(model.classes))
    np.testing.assert_allclose(results, model.predict_proba(_frame()), rtol=1e-12)
    np.testing.assert_allclose(np.sum(results, axis=1), 1.0)


def test_gen_b_success_headers(gen_b: AzureMLPeer) -> None:
    response = requests.post(gen_b.scoring_uri, json={"Inputs": {"data": ROWS}}, timeout=30)
    headers = response.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["x-ms-run-function-failed"] == "False"
    assert float(headers["x-ms-run-fn-exec-ms"]) > 0
    assert headers["x-ms-server-version"] == f"azmlinfsrv/{SERVER_VERSION}"
    assert headers["Connection"] == "close"  # gunicorn sync workers: no keep-alive
    # Without request ids the server mints a uuid4 and reports it under both names.
    assert uuid.UUID(headers["x-request-id"]).version == 4
    assert headers["x-ms-request-id"] == headers["x-request-id"]
    assert "x-ms-client-request-id" not in headers


@pytest.mark.parametrize(
    ("payload", "status", "body"),
    [
        pytest.param({"Inputs": {"data": _without("duration")}}, 500, RUN_FAILED, id="missing-column"),
        pytest.param({"Inputs": {"data": _renamed("duration")}}, 500, RUN_FAILED, id="renamed-column"),
        pytest.param({"Inputs": {"data": [dict(r, age="abc") for r in ROWS]}}, 500, RUN_FAILED, id="bad-type"),
        pytest.param({"Inputs": {"data": []}}, 500, RUN_FAILED, id="no-rows"),
        pytest.param(
            {"Inputs": {"data": ROWS}, "GlobalParameters": {"method": "nope"}},
            500,
            RUN_FAILED,
            id="bad-method",
        ),
        pytest.param(
            {"data": ROWS},
            400,
            {"message": "A value is not provided for the 'Inputs' parameter."},
            id="gen-a-body",
        ),
    ],
)
def test_gen_b_errors(gen_b: AzureMLPeer, payload: dict[str, Any], status: int, body: Any) -> None:
    response = requests.post(gen_b.scoring_uri, json=payload, timeout=30)
    assert response.status_code == status
    assert response.json() == body
    assert response.headers["x-ms-run-function-failed"] == str(status == 500)
    assert "x-ms-run-fn-exec-ms" not in response.headers


# ------------------------------------------------------------------------------------ gen A


def test_gen_a_body_is_double_encoded(gen_a: AzureMLPeer, model: Model) -> None:
    response = requests.post(gen_a.scoring_uri, json={"data": ROWS}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    outer = response.json()
    assert isinstance(outer, str)
    inner = json.loads(outer)
    assert set(inner) == {"result"}
    assert all(label in model.classes for label in inner["result"])
    assert inner["result"] == model.predict(_frame()).tolist()


def test_gen_a_ignores_method(gen_a: AzureMLPeer, model: Model) -> None:
    response = requests.post(gen_a.scoring_uri, json={"data": ROWS, "method": "predict_proba"}, timeout=30)
    assert json.loads(response.json()) == {"result": model.predict(_frame()).tolist()}


def test_gen_a_model_error_is_http_200(gen_a: AzureMLPeer) -> None:
    # 20 columns pass the schema's shape check; the model then misses "duration" inside run()'s try.
    response = requests.post(gen_a.scoring_uri, json={"data": _renamed("duration")}, timeout=30)
    assert response.status_code == 200
    assert response.headers["x-ms-run-function-failed"] == "False"
    inner = json.loads(response.json())
    assert set(inner) == {"error"}
    assert "duration" in inner["error"]


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(_without("duration"), id="missing-column"),
        pytest.param([dict(r, age="abc") for r in ROWS], id="bad-type"),
        pytest.param([], id="no-rows"),
    ],
)
def test_gen_a_schema_error_is_http_500(gen_a: AzureMLPeer, rows: list[dict[str, Any]]) -> None:
    # inference-schema converts `data` before run() starts, so its errors escape run()'s try.
    response = requests.post(gen_a.scoring_uri, json={"data": rows}, timeout=30)
    assert response.status_code == 500
    assert response.json() == RUN_FAILED
    assert response.headers["x-ms-run-function-failed"] == "True"


def test_gen_a_prime_method(gen_a_prime: AzureMLPeer, model: Model) -> None:
    payload: dict[str, Any] = {"data": ROWS, "method": "predict_proba"}
    inner = json.loads(requests.post(gen_a_prime.scoring_uri, json=payload, timeout=30).json())
    np.testing.assert_allclose(inner["result"], model.predict_proba(_frame()), rtol=1e-12)
    bad = json.loads(requests.post(gen_a_prime.scoring_uri, json={**payload, "method": "x"}, timeout=30).json())
    assert bad == {"error": "Invalid predict method argument received (x)"}


# ------------------------------------------------------------------------- server behaviour


def test_health(gen_b: AzureMLPeer) -> None:
    response = requests.get(f"{gen_b.base_url}/", timeout=10)
    assert response.status_code == 200
    assert response.text == "Healthy"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_request_id_headers(gen_b: AzureMLPeer) -> None:
    url, payload = gen_b.scoring_uri, {"Inputs": {"data": ROWS}}

    echoed = requests.post(url, json=payload, headers={"x-ms-client-request-id": "c" * 100}, timeout=30)
    assert echoed.status_code == 200
    assert echoed.headers["x-ms-client-request-id"] == "c" * 100
    assert echoed.headers["x-ms-request-id"] == "c" * 100  # legacy name carries the client id
    assert uuid.UUID(echoed.headers["x-request-id"])

    given = requests.post(url, json=payload, headers={"x-request-id": "req-1"}, timeout=30)
    assert given.headers["x-request-id"] == "req-1"
    assert given.headers["x-ms-request-id"] == "req-1"

    legacy = requests.post(url, json=payload, headers={"x-ms-request-id": "legacy-1"}, timeout=30)
    assert legacy.headers["x-ms-client-request-id"] == "legacy-1"

    too_long = requests.post(url, json=payload, headers={"x-ms-client-request-id": "c" * 101}, timeout=30)
    assert too_long.status_code == 431
    assert too_long.json() == {"message": "x-ms-request-id and x-ms-client-request-id must not exceed 100 characters"}
    assert "x-ms-client-request-id" not in too_long.headers
    assert "x-ms-request-id" not in too_long.headers

    too_long = requests.post(url, json=payload, headers={"x-request-id": "r" * 101}, timeout=30)
    assert too_long.status_code == 431
    assert too_long.json() == {"message": "x-request-id must not exceed 100 characters"}
    assert "x-request-id" not in too_long.headers


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (
            b'{"Inputs": ',
            "application/json",
            400,
            "POST body could not be decoded as JSON: Expecting value: line 1 column 12 (char 11)",
        ),
        (b"", "application/json", 400, "POST body is empty. Expecting a JSON dictionary."),
        (b"[1, 2]", "application/json", 400, "POST body should be a JSON dictionary."),
        (b'{"Inputs": {"data": []}}', "text/plain", 415, "Expects Content-Type to be application/json"),
        (b'{"Inputs": {"data": []}}', "", 415, "Expects Content-Type to be application/json"),
    ],
)
def test_bad_requests(gen_b: AzureMLPeer, data: bytes, content_type: str, status: int, message: str) -> None:
    response = requests.post(gen_b.scoring_uri, data=data, headers={"Content-Type": content_type}, timeout=30)
    assert response.status_code == status
    assert response.json() == {"message": message}
    assert response.headers["x-ms-run-function-failed"] == "False"


def test_methods_and_routes(gen_b: AzureMLPeer) -> None:
    put = requests.put(gen_b.scoring_uri, json={}, timeout=10)
    assert put.status_code == 405
    assert put.json() == {"message": "The method is not allowed for the requested URL."}
    options = requests.options(gen_b.scoring_uri, timeout=10)
    assert (options.status_code, options.text) == (200, "")
    # GET /score reads the inputs from the query string.
    assert requests.get(gen_b.scoring_uri, timeout=10).status_code == 400
    assert requests.get(f"{gen_b.base_url}/nope", timeout=10).status_code == 404


def test_swagger_versions(gen_b: AzureMLPeer) -> None:
    default = requests.get(gen_b.swagger_uri, timeout=10).json()
    assert default["swagger"] == "2.0"
    assert requests.get(gen_b.swagger_uri, params={"version": "2"}, timeout=10).json() == default
    v3 = requests.get(gen_b.swagger_uri, params={"version": "3"}, timeout=10).json()
    assert v3["openapi"] == "3.0.3"
    assert v3["components"]["schemas"]["ServiceInput"] == default["definitions"]["ServiceInput"]
    v31 = requests.get(gen_b.swagger_uri, params={"version": "3.1"}, timeout=10).json()
    assert v31["openapi"] == "3.1.0"
    unknown = requests.get(gen_b.swagger_uri, params={"version": "4"}, timeout=10)
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Swagger version [4] is not valid. Supported versions: [2, 3, 3.1]."}


@pytest.mark.parametrize(("generation", "fixture"), [("B", "swagger_gen_b.json"), ("A", "swagger_gen_a.json")])
def test_swagger_fixtures_are_current(request: pytest.FixtureRequest, generation: str, fixture: str) -> None:
    """The saved fixtures are what the server serves; regenerate with `peer.py fixtures`."""
    peer: AzureMLPeer = request.getfixturevalue("gen_b" if generation == "B" else "gen_a")
    served = requests.get(peer.swagger_uri, timeout=10).json()
    assert served == json.loads((FIXTURES / fixture).read_text())
