"""Numbers in other clothes: what Microsoft's server accepts, the client sends, as the numbers they mean.

The studio's samples send `"age": "57"`; a CSV read as text, an Excel range, Decimals, numpy scalars, pandas'
nullable and pyarrow-backed dtypes all hand the client numbers that aren't plain ints and floats. Each form
goes to the embedded endpoint over real HTTP from both clients: the answers must be the ones the endpoint
gives the plain frame (asked by hand, `reference`), and the body the client builds must be byte for byte the
plain frame's, so the numbers travel as JSON numbers. What can't be a number is refused before anything is
sent, naming the row, the column and the value.
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pytest

from bankscore import InputValidationError
from bankscore.bankmarketing.schema import COLUMNS
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY

if TYPE_CHECKING:
    from tests.client.conftest import Reference
    from tests.support.twins import ClientFactory

INTS = [c.name for c in COLUMNS if c.type == "int64"]
DOUBLES = [c.name for c in COLUMNS if c.type == "double"]
NUMBERS = INTS + DOUBLES

# pyarrow-backed dtypes need pyarrow, which the core install (where these tests also run) lacks.
ARROW = importlib.util.find_spec("pyarrow") is not None
NEEDS_ARROW = pytest.mark.skipif(not ARROW, reason="pyarrow-backed dtypes need pyarrow, which the core install lacks")


def plain(n: int = 48) -> pd.DataFrame:
    return generate(n, seed=12, label=False)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict("records")  # type: ignore[return-value]


def as_text(frame: pd.DataFrame, dtype: Any = object, pad: str = "") -> pd.DataFrame:
    """The number columns as the text Python writes for them (`repr` of a float is exact), in `dtype`."""
    out = frame.copy()
    for name in NUMBERS:
        out[name] = pd.Series([f"{pad}{v!r}{pad}" for v in frame[name].tolist()], index=frame.index, dtype=dtype)
    return out


def each_cell(frame: pd.DataFrame, dress: Callable[[str, Any], Any]) -> list[dict[str, Any]]:
    return [{k: dress(k, v) if k in NUMBERS else v for k, v in row.items()} for row in records(frame)]


def csv_read_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype=str)


def csv_with_padded_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells written ` 57 ` by hand or by another tool; read as objects they keep their spaces."""
    return pd.read_csv(io.StringIO(as_text(frame, pad=" ").to_csv(index=False)), dtype=object)


def studio_sample(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The "Consume" tab's rows: every value a JSON string."""
    rows: list[dict[str, Any]] = json.loads(json.dumps([{k: str(v) for k, v in r.items()} for r in records(frame)]))
    return rows


def excel_range(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What a sheet hands over: every number a float (45.0 for 45), some typed in as text."""
    return each_cell(frame, lambda k, v: float(v) if k in INTS else f"{v!r} ")


def mixed_column_forms(frame: pd.DataFrame) -> pd.DataFrame:
    """One object column holding every form at once, so the cell-by-cell path runs, not the all-text one."""
    dressers: list[Callable[[Any], Any]] = [lambda v: v, repr, Decimal, lambda v: np.float64(v), lambda v: f" {v!r}"]
    out = frame.astype(dict.fromkeys(NUMBERS, object))
    for name in NUMBERS:
        values = frame[name].tolist()
        out[name] = [dressers[i % len(dressers)](v if name in DOUBLES else int(v)) for i, v in enumerate(values)]
    return out


FORMS: list[Any] = [
    pytest.param(csv_read_as_text, id="CSV read with dtype=str"),
    pytest.param(csv_with_padded_cells, id="CSV cells with spaces, read as objects"),
    pytest.param(as_text, id="numbers as text in object columns"),
    pytest.param(lambda f: as_text(f, dtype="string"), id="numbers as text in pandas' string dtype"),
    pytest.param(
        lambda f: as_text(f, dtype="string[pyarrow]"), id="numbers as text in string[pyarrow]", marks=NEEDS_ARROW
    ),
    pytest.param(studio_sample, id="the studio sample's all-string rows"),
    pytest.param(excel_range, id="an Excel range: whole floats and text-numbers"),
    pytest.param(lambda f: each_cell(f, lambda k, v: Decimal(repr(v))), id="Decimals in dicts"),
    pytest.param(lambda f: each_cell(f, lambda k, v: np.int64(v) if k in INTS else np.float64(v)), id="numpy scalars"),
    pytest.param(lambda f: f.astype(dict.fromkeys(INTS, "float64")), id="whole floats in int columns"),
    pytest.param(lambda f: f.convert_dtypes(), id="pandas nullable dtypes"),
    pytest.param(lambda f: f.convert_dtypes(dtype_backend="pyarrow"), id="pyarrow-backed dtypes", marks=NEEDS_ARROW),
    pytest.param(mixed_column_forms, id="every form mixed in one column"),
]


@pytest.fixture
def client(endpoint: Any, make_client: ClientFactory) -> Any:
    with make_client(endpoint.scoring_uri, key=PRIMARY) as c:
        yield c


@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_sent_as_the_plain_numbers_and_scored_the_same(
    client: Any, endpoint: Any, reference: Reference, form: Callable[[pd.DataFrame], Any]
) -> None:
    frame = plain()
    rows = form(frame)
    body = client.prepare(rows).body
    assert body == client.prepare(frame).body, "the body must be the plain frame's, byte for byte"
    sent = orjson.loads(body)["Inputs"]["data"]
    assert all(type(row[name]) is int for row in sent for name in INTS)
    assert all(type(row[name]) is float for row in sent for name in DOUBLES)
    assert client.predict(rows).tolist() == reference.predict(endpoint, frame)


def test_row_models_read_text_numbers_and_nullable_holes_too(client: Any, endpoint: Any, reference: Reference) -> None:
    frame = plain(12)
    models = [client.row_model.model_validate(r) for r in studio_sample(frame)]
    assert client.prepare(models).body == client.prepare(frame).body
    assert client.predict(models).tolist() == reference.predict(endpoint, frame)
    first = {**records(frame)[0], "age": "5.7e1", "campaign": np.int64(2), "euribor3m": Decimal("1.299")}
    dumped = client.row_model.model_validate(first).model_dump(by_alias=True)
    assert (dumped["age"], dumped["campaign"], dumped["euribor3m"]) == (57, 2, 1.299)


def test_whole_numbers_as_text_are_never_rounded_through_a_float(client: Any) -> None:
    """2**53 + 1 has no float; read as text it must still travel as itself."""
    frame = as_text(plain(2))
    frame["pdays"] = ["9007199254740993", "-9223372036854775808"]
    frame["duration"] = ["5.7e1", "1E3"]
    sent = orjson.loads(client.prepare(frame).body)["Inputs"]["data"]
    assert [r["pdays"] for r in sent] == [2**53 + 1, -(2**63)]
    assert [r["duration"] for r in sent] == [57, 1000]


@pytest.mark.parametrize(
    ("value", "sent"),
    [(7, "7"), (np.int64(7), "7"), (7.0, "7"), (np.float64(2.5), "2.5"), (Decimal("7"), "7"), ("7", "7")],
    ids=repr,
)
def test_a_number_where_a_category_is_expected_is_sent_as_its_text(
    client: Any, endpoint: Any, reference: Reference, value: Any, sent: str
) -> None:
    """Microsoft's server answers 200 for `"job": 7` (an unseen level), so the client can't refuse it; it sends the
    text the contract asks for, which scores as that text does (a category coded 7, or 7.0 from a column pandas
    widened for a hole, is "7")."""
    rows = records(plain(3))
    rows[1]["job"] = value
    body = orjson.loads(client.prepare(rows).body)["Inputs"]["data"]
    assert body[1]["job"] == sent
    as_text_rows = [dict(r, job=sent) if i == 1 else r for i, r in enumerate(rows)]
    assert client.predict(rows).tolist() == reference.predict(endpoint, as_text_rows)


# ------------------------------------------------------------------------------------------- what can't be a number

# (column, value, words the expectation must hold). The value goes into a frame of text numbers, and into a list
# of dicts; either way only that cell may be reported.
BAD = [
    ("age", "abc", "a whole number"),
    ("age", "", "the cell is empty"),
    ("age", "   ", "the cell is empty"),
    ("age", "57.5", "a whole number"),
    ("age", "1,260", "without thousands separators"),
    ("age", "1.260", "without thousands separators"),
    ("age", "1e400", "int64 range"),
    ("age", "9223372036854775808", "int64 range"),
    ("age", "true", "a whole number"),
    ("age", "NaN", "a whole number"),
    ("age", True, "a whole number"),
    ("previous", np.True_, "a whole number"),
    ("campaign", Decimal("2.5"), "a whole number"),
    ("campaign", np.float64(2.5), "a whole number"),
    ("euribor3m", "1,299", "decimal comma"),
    ("euribor3m", "NaN", "a finite number"),
    ("euribor3m", "-inf", "a finite number"),
    ("euribor3m", "1e400", "double range"),
    ("euribor3m", "0x1p3", "a number"),
    ("euribor3m", Decimal("Infinity"), "a finite number"),
    ("nr.employed", "", "the cell is empty"),
    ("job", True, "text"),  # which level a boolean means is a guess (numbers are read as their text: below)
    ("job", np.True_, "text"),
    ("job", float("inf"), "text"),
]
BAD_IDS = [f"{column}={value!r}" for column, value, _ in BAD]


@pytest.mark.parametrize(("column", "value", "expected"), BAD, ids=BAD_IDS)
@pytest.mark.parametrize("shape", ["DataFrame", "dicts"])
def test_what_cannot_be_a_number_is_refused_naming_row_column_and_value(
    client: Any, shape: str, column: str, value: Any, expected: str
) -> None:
    frame = as_text(plain(6))
    if shape == "DataFrame":
        frame.index = pd.Index([f"cust-{i}" for i in range(len(frame))])
        frame = frame.astype({column: object})
        frame.at["cust-3", column] = value
        rows: Any = frame
        label: Any = "cust-3"
    else:
        rows = records(frame)
        rows[3][column] = value
        label = 3
    with pytest.raises(InputValidationError) as caught:
        client.predict(rows)
    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (label, column)
    assert problem.value is value
    assert expected in problem.expected
    message = str(caught.value)
    assert f"row {label}" in message and repr(column) in message and repr(value)[:30] in message


@pytest.mark.parametrize("hole", [pd.NA, None, np.nan, Decimal("NaN")], ids=repr)
def test_a_hole_in_a_required_column_is_an_empty_cell_whatever_its_kind(client: Any, hole: Any) -> None:
    rows = studio_sample(plain(4))
    rows[2]["pdays"] = hole
    with pytest.raises(InputValidationError) as caught:
        client.predict(rows)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(2, "pdays", None)]
    assert "the cell is empty" in str(caught.value)


def test_a_csv_column_with_one_text_cell_is_scored_but_for_that_cell(
    client: Any, endpoint: Any, reference: Reference, tmp_path: Path
) -> None:
    """One "unknown" makes pandas read the whole column as text; only that cell is the caller's mistake."""
    frame = plain(20)
    damaged = frame.astype({"duration": object})
    damaged.at[7, "duration"] = "unknown"
    path = tmp_path / "rows.csv"
    damaged.to_csv(path, index=False)
    read = pd.read_csv(path)
    assert not pd.api.types.is_numeric_dtype(read["duration"])
    with pytest.raises(InputValidationError) as caught:
        client.predict(read)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(7, "duration", "unknown")]
    kept = read.drop(index=7)
    assert client.predict(kept).tolist() == reference.predict(endpoint, frame.drop(index=7))
