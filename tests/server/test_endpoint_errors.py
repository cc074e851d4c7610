"""Client mistakes get a 4xx JSON {"message"} naming row and column; never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from tests.support.common import auth


def row(**changes: Any) -> dict[str, Any]:
    out = dict(SAMPLE_ROWS[0])
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is ...:
            del out[key]
        else:
            out[key] = value
    return out


def post(endpoint: Any, body: Any = None, *, content: bytes | None = None, **headers: str) -> httpx.Response:
    all_headers = {**auth(), "Content-Type": "application/json", **headers}
    if content is None:
        import orjson

        content = orjson.dumps(body)
    return httpx.post(endpoint.scoring_uri, content=content, headers=all_headers)


def inputs(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"Inputs": {"data": list(rows)}}


CASES: list[tuple[str, Any, int, list[str]]] = [
    ("malformed json", b'{"Inputs": {"data": [', 400, ["not valid JSON"]),
    ("empty body", b"", 400, ["empty"]),
    ("json array body", [1, 2], 400, ["JSON object"]),
    ("gen A envelope sent to gen B", {"data": [row()]}, 400, ['"Inputs"', "found: data"]),
    ("Inputs not an object", {"Inputs": [row()]}, 400, ['"Inputs" must be an object']),
    ("unknown top-level key", {**inputs(row()), "Extra": 1}, 400, ["Extra"]),
    (
        "unknown method",
        {**inputs(row()), "GlobalParameters": {"method": "predict_log"}},
        400,
        ["predict_log"],
    ),
    ("data not a list", {"Inputs": {"data": {"age": 1}}}, 400, ["must be a list"]),
    ("empty list", inputs(), 400, ["empty", "at least one row"]),
    ("row not an object", {"Inputs": {"data": [row(), [1, 2]]}}, 400, ["Inputs.data[1]"]),
    ("missing column", inputs(row(), row(age=...)), 400, ["Inputs.data[1]", "missing column 'age'"]),
    (
        "extra column",
        inputs(row(), row(), row(customer_id=5)),
        400,
        ["Inputs.data[2]", "unknown column 'customer_id'"],
    ),
    ("string in int column", inputs(row(age="forty")), 400, ["Inputs.data[0].age", '"forty"', "int64"]),
    ("fraction in int column", inputs(row(), row(campaign=1.5)), 400, ["Inputs.data[1].campaign", "1.5"]),
    ("bool in int column", inputs(row(pdays=True)), 400, ["Inputs.data[0].pdays", "true"]),
    (
        "null in int column",
        inputs(row(), row(), row(duration=None)),
        400,
        ["Inputs.data[2].duration", "null"],
    ),
    ("null in double column", inputs(row(euribor3m=None)), 400, ["Inputs.data[0].euribor3m", "null"]),
    ("string in double column", inputs(row(nr__employed="5099,1")), 400, ["nr.employed", '"5099,1"']),
    ("object in string column", inputs(row(job={"code": 3})), 400, ["Inputs.data[0].job", "a string"]),
    ("list in int column", inputs(row(age=[57])), 400, ["Inputs.data[0].age", "[57]"]),
    ("bool in double column", inputs(row(euribor3m=False)), 400, ["Inputs.data[0].euribor3m", "false"]),
    (
        "NaN literal",
        b'{"Inputs": {"data": [{"emp.var.rate": NaN}]}}',
        400,
        ["NaN at line 1 column 39", "fill in the missing", "allow_nan=False"],
    ),
    ("-Infinity literal", b'{"Inputs": {"data": [{"euribor3m": -Infinity}]}}', 400, ["-Infinity at line 1"]),
    ("odd bytes as UTF-16", b"\xff\xfe{\x00\x00\xd8", 400, ["not valid UTF-16 text"]),
    ("null in string column", inputs(row(marital=None)), 400, ["Inputs.data[0].marital", "null"]),
]


@pytest.mark.parametrize(("name", "body", "status", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_client_mistakes_are_answered_4xx_with_a_precise_message(
    endpoint: Any, name: str, body: Any, status: int, fragments: list[str]
) -> None:
    response = post(endpoint, content=body) if isinstance(body, bytes) else post(endpoint, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["message"]
    for fragment in fragments:
        assert fragment in message


def test_every_bad_cell_is_listed_with_row_column_value_expected(endpoint: Any) -> None:
    rows = [row(age="x") if i % 2 else row() for i in range(50)]
    body = post(endpoint, inputs(*rows)).json()
    assert body["error_count"] == 25
    assert len(body["errors"]) == 20, "the list is capped, the count is not"
    assert body["errors"][0] == {"row": 1, "column": "age", "value": "x", "expected": "int64"}
    assert "and 24 more problems" in body["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(endpoint: Any, content_type: str) -> None:
    response = httpx.post(
        endpoint.scoring_uri,
        content=b'{"Inputs": {"data": []}}',
        headers={**auth(), "Content-Type": content_type},
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]


def test_content_type_with_charset_is_fine(endpoint: Any) -> None:
    import orjson

    response = post(
        endpoint, content=orjson.dumps(inputs(row())), **{"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200


def test_body_over_the_limit_is_413_by_declared_and_streamed_length(start_endpoint: Any) -> None:
    small = start_endpoint(max_body_bytes=2_000)
    big = inputs(*[row() for _ in range(20)])
    response = post(small, big)
    assert response.status_code == 413
    assert "MB" in response.json()["message"]

    def chunks() -> Any:  # no Content-Length: the cap must hold while streaming
        import orjson

        data = orjson.dumps(big)
        for i in range(0, len(data), 500):
            yield data[i : i + 500]

    streamed = httpx.post(small.scoring_uri, content=chunks(), headers={**auth(), "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert post(small, inputs(row())).status_code == 200


def test_unknown_route_and_wrong_method(endpoint: Any) -> None:
    response = httpx.get(endpoint.base_url + "/predict")
    assert response.status_code == 404
    assert "/score" in response.json()["message"]
    response = httpx.get(endpoint.scoring_uri)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_swagger_unknown_version_is_404_json(endpoint: Any) -> None:
    response = httpx.get(endpoint.base_url + "/swagger.json", params={"version": "7"})
    assert response.status_code == 404
    assert response.json()["message"] == "Swagger version [7] is not valid. Supported versions: [2, 3, 3.1]."
