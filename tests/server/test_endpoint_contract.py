"""Both Azure contracts, spoken over real HTTP, answer what the model says in-process."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from bankscore.bankmarketing.schema import CATEGORY_LEVELS, COLUMN_NAMES, SAMPLE_ROWS
from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import Model
from tests.support.common import auth


def records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    frame = generate(n, seed=seed, label=False)
    return frame.to_dict(orient="records")  # type: ignore[return-value]


def score_b(url: str, rows: list[dict[str, Any]], method: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"Inputs": {"data": rows}}
    if method:
        body["GlobalParameters"] = {"method": method}
    return httpx.post(url, json=body, headers=auth())


def test_inputs_contract_predict_matches_model_in_process(endpoint: Any, model: Model) -> None:
    rows = records(300)
    response = score_b(endpoint.scoring_uri, rows, "predict")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    results = response.json()["Results"]
    expected = model.predict(pd.DataFrame(rows)).tolist()
    assert results == expected
    assert set(results) <= set(model.classes)
    assert len(set(results)) == 2, "300 realistic rows should get both answers"


def test_inputs_contract_defaults_to_predict_without_global_parameters(endpoint: Any, model: Model) -> None:
    rows = records(20, seed=3)
    plain = score_b(endpoint.scoring_uri, rows).json()["Results"]
    assert plain == model.predict(pd.DataFrame(rows)).tolist()


def test_inputs_contract_predict_proba_rows_sum_to_one_in_class_order(endpoint: Any, model: Model) -> None:
    rows = records(50)
    results = score_b(endpoint.scoring_uri, rows, "predict_proba").json()["Results"]
    proba = np.asarray(results)
    assert proba.shape == (50, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, model.predict_proba(pd.DataFrame(rows)), rtol=1e-12)
    labels = score_b(endpoint.scoring_uri, rows, "predict").json()["Results"]
    assert labels == [model.classes[int(p[1] >= 0.5)] for p in results]


def test_data_contract_answers_a_double_encoded_string(data_endpoint: Any, model: Model) -> None:
    rows = [dict(r) for r in SAMPLE_ROWS]
    response = httpx.post(data_endpoint.scoring_uri, json={"data": rows}, headers=auth())
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, str), "gen A bodies are a JSON string holding JSON"
    inner = json.loads(body)
    assert inner == {"result": model.predict(pd.DataFrame(rows)).tolist()}


def test_data_contract_accepts_gen_a_prime_method(data_endpoint: Any, model: Model) -> None:
    rows = records(10)
    response = httpx.post(data_endpoint.scoring_uri, json={"data": rows, "method": "predict_proba"}, headers=auth())
    inner = json.loads(response.json())
    np.testing.assert_allclose(inner["result"], model.predict_proba(pd.DataFrame(rows)), rtol=1e-12)


def test_data_contract_reports_bad_rows_in_band_with_http_200(data_endpoint: Any) -> None:
    row = dict(SAMPLE_ROWS[0])
    del row["age"]
    response = httpx.post(data_endpoint.scoring_uri, json={"data": [row]}, headers=auth())
    assert response.status_code == 200
    inner = json.loads(response.json())
    assert set(inner) == {"error"}
    assert "age" in inner["error"] and "data[0]" in inner["error"]


def test_data_contract_rejects_the_gen_b_envelope_with_a_hint(data_endpoint: Any) -> None:
    response = httpx.post(data_endpoint.scoring_uri, json={"Inputs": {"data": [dict(SAMPLE_ROWS[0])]}}, headers=auth())
    assert response.status_code == 400
    assert '"data"' in response.json()["message"]


def test_unseen_category_levels_are_scored(endpoint: Any, model: Model) -> None:
    row = dict(SAMPLE_ROWS[0], job="astronaut", month="jan")
    assert "astronaut" not in CATEGORY_LEVELS["job"]
    response = score_b(endpoint.scoring_uri, [row], "predict_proba")
    assert response.status_code == 200
    assert response.json()["Results"][0] == pytest.approx(model.predict_proba(pd.DataFrame([row]))[0].tolist())


def test_integral_floats_are_accepted_in_int_columns(endpoint: Any) -> None:
    row = dict(SAMPLE_ROWS[0], age=45.0, duration=300.0)
    ints = dict(SAMPLE_ROWS[0], age=45, duration=300)
    a = score_b(endpoint.scoring_uri, [row], "predict_proba").json()["Results"]
    b = score_b(endpoint.scoring_uri, [ints], "predict_proba").json()["Results"]
    assert a == b


def test_columns_may_arrive_in_any_order(endpoint: Any) -> None:
    row = dict(SAMPLE_ROWS[1])
    shuffled = {k: row[k] for k in reversed(COLUMN_NAMES)}
    a = score_b(endpoint.scoring_uri, [row], "predict_proba").json()["Results"]
    b = score_b(endpoint.scoring_uri, [shuffled], "predict_proba").json()["Results"]
    assert a == b


def test_large_request_is_scored_in_order(endpoint: Any, model: Model) -> None:
    rows = records(5_000, seed=11)  # over the thread-offload threshold
    results = score_b(endpoint.scoring_uri, rows, "predict").json()["Results"]
    assert results == model.predict(pd.DataFrame(rows)).tolist()


def test_health_route_says_healthy(endpoint: Any) -> None:
    response = httpx.get(endpoint.base_url + "/")
    assert response.status_code == 200
    assert response.text == "Healthy"


def test_keep_alive_serves_several_requests_on_one_connection(endpoint: Any) -> None:
    body = json.dumps({"Inputs": {"data": [dict(SAMPLE_ROWS[0])]}}).encode()
    request = (
        f"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {auth()['Authorization'][7:]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as sock:
        answers = []
        for _ in range(3):
            sock.sendall(request)
            answers.append(_read_http_response(sock))
    assert [a[0] for a in answers] == [200, 200, 200]
    assert all(b'"Results"' in a[1] for a in answers)


def _read_http_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection: no keep-alive"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return status, rest[:length]
