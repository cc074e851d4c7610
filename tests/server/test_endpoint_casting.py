"""Values as real clients send them: numbers as JSON strings (the studio's Consume samples), odd encodings.

The endpoint reads a cell the way Microsoft's server does (tests/conformance/test_client_habits.py pins the
same cases against it; scripts/value_casting_table.py prints the table): a numeric string as its number, a
number in a category column as its text. Where that server would score something else than what was sent or
fail with a 500, the cell is refused naming its row, column and value: 400 for the `inputs` envelope, the
in-band `{"error"}` of gen A for `data`. Everything here goes over loopback HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from bankscore.bankmarketing.schema import COLUMN_TYPES, SAMPLE_ROWS
from bankscore.bankmarketing.synthetic import generate
from bankscore.server.payload import ARROW_MIN_BYTES
from tests.support.common import auth

JSON = {"Content-Type": "application/json"}


def rows_with(column: str, value: Any, at: int = 1) -> list[dict[str, Any]]:
    rows = [dict(r) for r in SAMPLE_ROWS]
    rows[at][column] = value
    return rows


def body(rows: list[dict[str, Any]], envelope: str) -> bytes:
    if envelope == "inputs":
        return orjson.dumps({"Inputs": {"data": rows}, "GlobalParameters": {"method": "predict_proba"}})
    return orjson.dumps({"data": rows})


def score(endpoint: Any, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(endpoint.scoring_uri, content=content, headers={**auth(), **(headers or JSON)}, timeout=30)


def answer(endpoint: Any, rows: list[dict[str, Any]], envelope: str) -> Any:
    """Results (probabilities for inputs, labels for data), asserting the 200."""
    response = score(endpoint, body(rows, envelope))
    assert response.status_code == 200, response.text
    if envelope == "inputs":
        return response.json()["Results"]
    inner = json.loads(response.json())
    assert "result" in inner, inner
    return inner["result"]


ACCEPTED: list[tuple[str, Any, Any]] = [
    ("age", "57", 57),
    ("age", " 57 ", 57),
    ("age", "+57", 57),
    ("age", "1_000", 1000),
    ("age", "\u0665\u0667", 57),  # Arabic-Indic digits: int() reads them, and so does the peer
    ("age", 57.0, 57),
    ("duration", "0", 0),
    ("pdays", "-1", -1),
    ("emp.var.rate", "-1.8", -1.8),
    ("emp.var.rate", " -1.8 ", -1.8),
    ("emp.var.rate", "1e3", 1000.0),
    ("emp.var.rate", "1_000", 1000.0),
    ("emp.var.rate", "3", 3),
    ("nr.employed", "5099.1", 5099.1),
    ("job", 5, "5"),
    ("job", 5.0, "5.0"),
    ("job", True, "True"),
]


@pytest.mark.parametrize("envelope", ["inputs", "data"])
@pytest.mark.parametrize(("column", "sent", "meant"), ACCEPTED, ids=[f"{c}={s!r}" for c, s, _ in ACCEPTED])
def test_a_value_read_as_the_peer_reads_it_scores_as_what_it_means(
    start_endpoint: Any, envelope: str, column: str, sent: Any, meant: Any
) -> None:
    endpoint = start_endpoint(envelope=envelope)
    as_sent = answer(endpoint, rows_with(column, sent), envelope)
    assert as_sent == answer(endpoint, rows_with(column, meant), envelope)
    if envelope == "inputs" and meant != SAMPLE_ROWS[1][column]:
        assert as_sent != answer(endpoint, rows_with(column, SAMPLE_ROWS[1][column]), envelope), "the cell counts"


REFUSED: list[tuple[str, Any, str]] = [
    ("age", "57.0", 'a string must hold a whole number in digits, such as "57"'),
    ("age", "5.7e1", "a string must hold a whole number"),
    ("age", "1e3", "a string must hold a whole number"),
    ("age", "", "a string must hold a whole number"),
    ("age", "abc", "a string must hold a whole number"),
    ("age", "true", "a string must hold a whole number"),
    ("age", "NaN", "a string must hold a whole number"),
    ("age", "99999999999999999999", "outside the int64 range"),
    ("age", 57.5, "not a whole number; round it before sending"),
    ("age", True, "got true (a boolean)"),
    ("age", None, "null where a whole number (int64) is required; fill it in"),
    ("campaign", [1], "got [1] (a list)"),
    ("emp.var.rate", "", 'a string must hold a number, such as "-1.8"'),
    ("emp.var.rate", "abc", "a string must hold a number"),
    ("emp.var.rate", "-1,8", "a string must hold a number"),
    ("emp.var.rate", "NaN", "a missing value; fill it in"),
    ("emp.var.rate", "nan", "a missing value; fill it in"),
    ("emp.var.rate", "inf", "not a finite number"),
    ("emp.var.rate", "-Infinity", "not a finite number"),
    ("emp.var.rate", "1e400", "not a finite number"),
    ("emp.var.rate", True, "got true (a boolean)"),
    ("emp.var.rate", None, "null where a number (double) is required"),
    ("job", None, "null where a string is required"),
    ("job", {"name": "admin."}, "got {"),
]


@pytest.mark.parametrize("envelope", ["inputs", "data"])
@pytest.mark.parametrize(("column", "sent", "why"), REFUSED, ids=[f"{c}={s!r}" for c, s, _ in REFUSED])
def test_a_value_the_peer_would_misread_or_500_on_is_refused_naming_row_and_column(
    start_endpoint: Any, envelope: str, column: str, sent: Any, why: str
) -> None:
    endpoint = start_endpoint(envelope=envelope)
    response = score(endpoint, body(rows_with(column, sent, at=1), envelope))
    where = "Inputs.data[1]" if envelope == "inputs" else "data[1]"
    if envelope == "data":  # gen A answers a rejected row in-band, HTTP 200
        assert response.status_code == 200
        message = json.loads(response.json())["error"]
    else:
        assert response.status_code == 400, response.text
        payload = response.json()
        message = payload["message"]
        assert payload["errors"] == [{"row": 1, "column": column, "value": sent, "expected": COLUMN_TYPES[column]}]
        assert payload["error_count"] == 1
    assert message.startswith(f"{where}.{column}: "), message
    assert why in message


@pytest.mark.parametrize("envelope", ["inputs", "data"])
def test_the_studio_sample_every_value_a_string_scores_as_the_numbers(start_endpoint: Any, envelope: str) -> None:
    endpoint = start_endpoint(envelope=envelope)
    frame = generate(300, seed=12, label=False)
    numbers = frame.to_dict("records")
    strings = [{k: str(v) for k, v in row.items()} for row in numbers]
    assert len(body(strings, envelope)) > ARROW_MIN_BYTES, "large enough to be offered to the Arrow path first"
    assert answer(endpoint, strings, envelope) == answer(endpoint, numbers, envelope)
    assert answer(endpoint, strings[:2], envelope) == answer(endpoint, numbers[:2], envelope)


def test_every_unreadable_cell_is_listed_across_columns_of_strings(endpoint: Any) -> None:
    rows = [{k: str(v) for k, v in r.items()} for r in SAMPLE_ROWS * 15]
    for i in range(0, 30, 3):
        rows[i]["duration"] = f"{i}.5"
    response = score(endpoint, body(rows, "inputs"))
    assert response.status_code == 400
    payload = response.json()
    assert payload["error_count"] == 10
    assert [e["row"] for e in payload["errors"]] == list(range(0, 30, 3))
    assert payload["message"].startswith('Inputs.data[0].duration: expected a whole number (int64), got "0.5"')
    assert "(and 9 more problems)" in payload["message"]


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("utf-16-le", b""), ("utf-32", b""), ("utf-16-be", b"")],
)
def test_a_bom_or_utf16_or_utf32_body_is_read_as_python_json_reads_it(
    endpoint: Any, encoding: str, prefix: bytes
) -> None:
    text = json.dumps({"Inputs": {"data": rows_with("job", "t\u00e9cnico")}})
    plain = score(endpoint, text.encode())
    assert plain.status_code == 200
    encoded = score(endpoint, prefix + text.encode(encoding))
    assert encoded.status_code == 200, encoded.text
    assert encoded.json() == plain.json()


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/merge-patch+json", 200),
        ("Application/JSON; charset=UTF-8", 200),
        ("application/vnd.api+json; charset=utf-8", 200),
        ("text/plain;charset=UTF-8", 415),
        ("application/jsonp", 415),
        ("json", 415),
    ],
)
def test_content_types_are_judged_as_flask_judges_them(endpoint: Any, content_type: str, status: int) -> None:
    response = score(endpoint, body(rows_with("age", 40), "inputs"), {"Content-Type": content_type})
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["message"].startswith("Content-Type must be application/json")


def test_no_content_type_at_all_is_415(endpoint: Any) -> None:
    request = httpx.Request("POST", endpoint.scoring_uri, content=body(rows_with("age", 40), "inputs"), headers=auth())
    assert "content-type" not in request.headers
    with httpx.Client() as client:
        response = client.send(request)
    assert response.status_code == 415
    assert response.json() == {"message": "Content-Type must be application/json, not none"}
