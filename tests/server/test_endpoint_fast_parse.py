"""The endpoint's Arrow parse of large bodies agrees with its Python parse, or steps aside.

Arrow parses large bodies outside the GIL; the Python path is the reference. For every valid
body both must encode the same matrix, and for every body Arrow would judge differently
(NaN literals, a BOM, duplicate keys, nulls, whole floats in int columns, numeric strings, ...) Arrow must
decline, so the answer over HTTP is exactly what the Python path gives.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import Model
from bankscore.server.payload import (
    ARROW_MIN_BYTES,
    SERVED_METHODS,
    BodyParser,
    ClientError,
    RowError,
    ScoreRequest,
    parse_body,
)
from tests.support.common import PRIMARY

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FILLER_ROWS = 200  # enough rows to put every body above ARROW_MIN_BYTES


def envelope(rows: list[dict[str, Any]], contract: str, method: str = "predict") -> Any:
    if contract == "inputs":
        return {"Inputs": {"data": rows}, "GlobalParameters": {"method": method}}
    if contract == "explain":  # AutoML v1's explainer deployment: the rows alone
        return rows
    return {"data": rows, "method": method}


def filler(n: int = FILLER_ROWS) -> list[dict[str, Any]]:
    return generate(n, seed=77, label=False).to_dict("records")


def python_matrix(body: bytes, contract: Any, model: Model) -> np.ndarray:
    request = parse_body(body, contract, model.schema)
    assert request.columns is not None
    return model.schema.encode_columns(request.columns, request.rows)


def cell(kind: str) -> st.SearchStrategy[Any]:
    if kind == "string":
        return st.one_of(st.sampled_from(["admin.", "no", "yes", "unknown", "mon", "nonexistent"]), st.text(max_size=8))
    if kind == "int64":
        return st.integers(min_value=-(2**63), max_value=2**63 - 1)
    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.sampled_from([0.1, -0.0, 5e-324, 1.7976931348623157e308, 94.465, 2**53 + 1]),
    )


@st.composite
def rows(draw: Any, model: Model) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=1, max_value=5))
    return [{name: draw(cell(model.schema.types[name])) for name in model.schema.columns} for _ in range(n)]


@pytest.mark.parametrize("contract", ["inputs", "data", "explain"])
def test_arrow_and_python_encode_valid_bodies_identically(model: Model, contract: Any) -> None:
    parser = BodyParser(contract, model.schema)
    methods = SERVED_METHODS[contract]

    @SETTINGS
    @given(extra=rows(model), method=st.sampled_from(methods), at=st.integers(0, FILLER_ROWS))
    def check(extra: list[dict[str, Any]], method: str, at: int) -> None:
        data = filler()
        data[at:at] = extra
        body = orjson.dumps(envelope(data, contract, method))
        assert len(body) >= ARROW_MIN_BYTES
        fast = parser._parse_arrow(body)
        assert fast is not None, "a valid body takes the Arrow path"
        assert fast.method == method and fast.rows == len(data)
        assert parse_body(body, contract, model.schema).method == method
        assert fast.matrix is not None
        np.testing.assert_array_equal(fast.matrix, python_matrix(body, contract, model))

    check()


@pytest.mark.parametrize("contract", ["inputs", "data", "explain"])
def test_arrow_reads_pretty_printed_bodies_the_same(model: Model, contract: Any) -> None:
    body = orjson.dumps(envelope(filler(), contract), option=orjson.OPT_INDENT_2)
    fast = BodyParser(contract, model.schema)._parse_arrow(body)
    assert fast is not None and fast.matrix is not None
    np.testing.assert_array_equal(fast.matrix, python_matrix(body, contract, model))


def _python_answer(body: bytes, contract: Any, model: Model) -> ScoreRequest | ClientError:
    try:
        return parse_body(body, contract, model.schema)
    except ClientError as error:
        return error


def _with(change: Any) -> Any:
    def build(contract: str) -> bytes:
        data = filler()
        return change(data, contract)

    return build


def _dumps(data: list[dict[str, Any]], contract: str, **top: Any) -> bytes:
    document = envelope(data, contract)
    document.update(top)
    return orjson.dumps(document)


def _set(row: int, column: str, value: Any) -> Any:
    def change(data: list[dict[str, Any]], contract: str) -> bytes:
        data[row][column] = value
        return _dumps(data, contract)

    return change


def _replace_text(old: bytes, new: bytes, count: int = 1) -> Any:
    def build(contract: str) -> bytes:
        body = _dumps(filler(), contract)
        assert old in body, f"{old!r} is not in the filler rows"
        return body.replace(old, new, count)

    return build


DECLINED = {
    "NaN literal": _replace_text(b'"emp.var.rate":1.1', b'"emp.var.rate":NaN'),
    "Infinity literal": _replace_text(b'"emp.var.rate":1.1', b'"emp.var.rate":Infinity'),
    "byte-order mark": lambda contract: b"\xef\xbb\xbf" + _dumps(filler(), contract),
    "duplicate key": _replace_text(b'"age":', b'"age":30,"age":', 1),
    "null cell": _with(_set(150, "age", None)),
    "missing column": _with(lambda data, contract: (data[40].pop("job"), _dumps(data, contract))[1]),
    "extra column": _with(_set(3, "customer_id", "C1")),
    "whole float in an int column": _with(_set(10, "age", 45.0)),
    "text in a number column": _with(_set(199, "duration", "long")),
    "number in a text column": _with(_set(0, "job", 7)),
    "numeric string in an int column": _with(_set(120, "age", " 57 ")),
    "numeric string in a double column": _with(_set(7, "euribor3m", "1.299")),
    "every value a string": _with(
        lambda data, contract: _dumps([{k: str(v) for k, v in r.items()} for r in data], contract)
    ),
    "UTF-16 body": lambda contract: _dumps(filler(), contract).decode().encode("utf-16"),
    "boolean in an int column": _with(_set(0, "campaign", True)),
    "int beyond int64": _replace_text(b'"pdays":999', b'"pdays":99999999999999999999'),
    "null method": _replace_text(b'"predict"', b"null"),
    "unknown method": _replace_text(b'"predict"', b'"predict_log_proba"'),
    "two documents": lambda contract: _dumps(filler(), contract) * 2,
    "invalid UTF-8": _replace_text(b'"admin."', b'"adm\xffn."'),
    "lone surrogate": _replace_text(b'"admin."', b'"\\ud800"'),
    "trailing comma": _replace_text(b"}]", b"},]"),
    "extra top-level key": lambda contract: _dumps(filler(), contract, extra=1),
    "empty row list": lambda contract: orjson.dumps(envelope([], contract)) + b" " * ARROW_MIN_BYTES,
}


@pytest.mark.parametrize("contract", ["inputs", "data"])
@pytest.mark.parametrize("case", sorted(DECLINED))
def test_arrow_declines_what_python_must_judge(model: Model, start_endpoint: Any, contract: Any, case: str) -> None:
    body = DECLINED[case](contract)
    assert len(body) >= ARROW_MIN_BYTES
    assert BodyParser(contract, model.schema)._parse_arrow(body) is None
    # Over HTTP the service answers exactly as its Python path does.
    endpoint = start_endpoint(envelope=contract)
    response = httpx.post(
        endpoint.scoring_uri,
        content=body,
        headers={"authorization": f"Bearer {PRIMARY}", "content-type": "application/json"},
        timeout=30,
    )
    expected = _python_answer(body, contract, model)
    if isinstance(expected, ClientError):
        if contract == "data" and isinstance(expected, RowError):
            assert response.status_code == 200  # gen A answers row errors in-band
            assert orjson.loads(orjson.loads(response.content)) == {"error": expected.message}
        else:
            assert response.status_code == expected.status
            assert response.json()["message"] == expected.message
        return
    request = expected
    assert response.status_code == 200, response.text
    assert request.columns is not None
    labels = model.labels_from_matrix(model.schema.encode_columns(request.columns, request.rows))
    answer = response.json() if contract == "inputs" else orjson.loads(response.json())
    assert answer == ({"Results": labels} if contract == "inputs" else {"result": labels})


def test_both_paths_take_explain_exactly_where_it_is_offered(model: Model) -> None:
    """Gen B asks for explain in GlobalParameters; gen A has no explain, and neither path takes it there."""
    inputs = orjson.dumps(envelope(filler(), "inputs", "explain"))
    fast = BodyParser("inputs", model.schema)._parse_arrow(inputs)
    assert fast is not None and fast.method == "explain"
    data = orjson.dumps(envelope(filler(), "data", "explain"))
    assert BodyParser("data", model.schema)._parse_arrow(data) is None
    with pytest.raises(ClientError) as refused:
        parse_body(data, "data", model.schema)
    assert refused.value.status == 400 and '"predict" or "predict_proba", not "explain"' in refused.value.message


BARE_ARRAY_DECLINED = {
    "an object": lambda: orjson.dumps({"data": filler()}),
    "an array and a second key": lambda: orjson.dumps(filler())[:-1] + b'], "data": [' + orjson.dumps(filler())[1:],
    "an array and a method": lambda: orjson.dumps(filler()) + b', "method": "predict"',
    "two arrays": lambda: orjson.dumps(filler()) + b"\n" + orjson.dumps(filler()),
    "a closing brace": lambda: orjson.dumps(filler()) + b"}",
    "null cell": lambda: orjson.dumps([*filler(), {**filler(1)[0], "age": None}]),
}


@pytest.mark.parametrize("case", sorted(BARE_ARRAY_DECLINED))
def test_arrow_reads_only_a_bare_array_for_the_explain_contract(model: Model, case: str) -> None:
    """Arrow reads the bare array wrapped in an object; nothing but one array may pass for it."""
    body = BARE_ARRAY_DECLINED[case]()
    assert BodyParser("explain", model.schema)._parse_arrow(body) is None
    with pytest.raises(ClientError):
        parse_body(body, "explain", model.schema)
