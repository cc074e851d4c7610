"""Property tests for the offline half of the data path: validate → encode → batch, and decode.

Every property is checked on generated contracts and rows, so column names, cell values and
batch sizes that no hand-written example covers (negative zero, subnormals, emoji, quotes,
backslashes, index labels of any kind) go through the same code the client runs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bankscore import Column, Contract, InputValidationError, Problem
from bankscore.decoding import DecodeFailure, decode
from bankscore.encoding import encode, encode_batch, plan_batches
from bankscore.validation import to_table

# Deterministic and bounded: the autouse fixtures in conftest only set environment variables, so
# sharing them between generated examples is harmless.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),  # no example database, no slow "explain" pass
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(PROPERTY, max_examples=60)

ENVELOPES = ("inputs", "data", "mlflow")
KINDS = ("int64", "double", "string", "boolean")
INT53 = 2**53

# ------------------------------------------------------------------------------------ strategies

EDGE_FLOATS = (
    0.0,
    -0.0,
    5e-324,  # smallest subnormal
    -5e-324,
    2.2250738585072014e-308,  # smallest normal
    1.7976931348623157e308,  # largest finite
    -1.7976931348623157e308,
    1e-300,
    1e300,
    0.1,
    1 / 3,
    2.0**53 + 2,
    -46.2,
)
EDGE_TEXT = (
    "",
    '"',
    "\\",
    '\\"',
    "'",
    "\n\t\r",
    "\x00",
    "\u2028\u2029",
    "😀",
    "🏦💶👩‍👩‍👧",
    "é",
    "e\u0301",
    "日本語",
    "</script>",
    '{"data": []}',
    "null",
)

ints = st.integers(-INT53, INT53)
doubles = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(EDGE_FLOATS),
    st.floats(min_value=-1e-300, max_value=1e-300, allow_nan=False),
)
texts = st.one_of(
    st.text(max_size=24),
    st.sampled_from(EDGE_TEXT),
    st.lists(st.sampled_from(EDGE_TEXT), max_size=4).map("".join),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int64": ints,
    "double": doubles,
    "string": texts,
    "boolean": st.booleans(),
}
# Cells a column of each type must reject. The int64 list includes bools (bool is an int subclass),
# floats with a fraction and text that isn't a whole number; the double list includes both infinities
# and text that isn't a finite number. (Text that is a number is valid: see the numeric-text properties.)
NOT_WHOLE_TEXT = ("twelve", "12.5", "1,260", "", " ", "true", "NaN", "1e400", "0x1f")
NOT_NUMBER_TEXT = ("one", "1,5", "", "inf", "NaN", "1e400")
NOT_PLAIN = (Decimal("2.5"), np.float64(0.5), np.True_)  # Decimals and numpy scalars are judged by value too
NOT_WHOLE = (None, True, False, 1.5, -0.25, 1e15 + 0.5, math.inf, math.nan, [1], {"a": 1}, b"12")
INVALID: dict[str, tuple[Any, ...]] = {
    "int64": (*NOT_WHOLE_TEXT, *NOT_PLAIN, *NOT_WHOLE),
    "double": (*NOT_NUMBER_TEXT, None, True, False, math.inf, -math.inf, [1.0], b"1", Decimal("Infinity"), np.True_),
    "string": (None, True, np.True_, b"bytes", ["a"], {"a": "b"}, math.inf, Decimal("Infinity")),
    "boolean": (1, 0, "true", None, 1.0, "False", np.int64(1)),
}

column_names = st.text(min_size=1, max_size=12)


@st.composite
def contracts(draw: st.DrawFn, envelope: str | None = None, kinds: tuple[str, ...] = KINDS) -> Contract:
    names = draw(st.lists(column_names, min_size=1, max_size=6, unique=True))
    columns = tuple(Column(name, draw(st.sampled_from(kinds))) for name in names)
    return Contract(
        envelope=envelope or draw(st.sampled_from(ENVELOPES)),
        columns=columns,
        supports_proba=draw(st.booleans()),
        declared_output="",
    )


def rows_for(contract: Contract, *, min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries({c.name: VALUES[c.type] for c in contract.columns})
    return st.lists(row, min_size=min_size, max_size=max_size)


# ------------------------------------------------------------------------------------ helpers


def sent_rows(body: bytes, contract: Contract, method: str = "predict") -> list[dict[str, Any]]:
    """The rows inside whichever envelope the body uses, checking the envelope's own fields on the way."""
    document = orjson.loads(body)
    names = list(contract.column_names)
    if contract.envelope == "inputs":
        assert set(document) == {"Inputs", "GlobalParameters"}
        assert document["GlobalParameters"] == {"method": method}
        rows = document["Inputs"]["data"]
    elif contract.envelope == "data":
        assert set(document) == ({"data"} if method == "predict" else {"data", "method"})
        rows = document["data"]
    else:
        inner = document["input_data"]
        assert inner["columns"] == names
        assert inner["index"] == list(range(len(inner["data"])))
        assert all(len(values) == len(names) for values in inner["data"])
        rows = [dict(zip(names, values, strict=True)) for values in inner["data"]]
    for row in rows:
        assert list(row) == names, "columns must travel in contract order"
    return rows


def same_value(sent: Any, given: Any) -> bool:
    """Equal and of the same JSON type; floats bit for bit (so -0.0 is not 0.0)."""
    if isinstance(given, bool) or given is None or isinstance(given, str):
        return type(sent) is type(given) and sent == given
    if isinstance(given, int):
        return type(sent) is int and sent == given
    if isinstance(given, float):
        return type(sent) is float and struct.pack("<d", sent) == struct.pack("<d", given)
    return bool(sent == given)


def assert_rows_equal(sent: list[dict[str, Any]], given: list[dict[str, Any]]) -> None:
    assert len(sent) == len(given)
    for i, (out, row) in enumerate(zip(sent, given, strict=True)):
        for name, value in row.items():
            assert same_value(out[name], value), f"row {i}, column {name!r}: sent {out[name]!r}, given {value!r}"


# ------------------------------------------------------------------------------------ valid rows


@PROPERTY
@given(data=st.data(), envelope=st.sampled_from(ENVELOPES))
def test_valid_records_travel_exactly_in_every_envelope(data: st.DataObject, envelope: str) -> None:
    contract = data.draw(contracts(envelope))
    rows = data.draw(rows_for(contract))
    given_rows = [dict(r) for r in rows]  # to_table must not be able to change what we compare against
    table = to_table(rows, contract)
    assert table.n_rows == len(rows)
    assert list(table.index) == list(range(len(rows)))
    for method in ("predict", "predict_proba"):
        if method == "predict_proba" and contract.envelope == "mlflow":
            continue
        assert_rows_equal(sent_rows(encode(table, contract, method), contract, method), given_rows)


@PROPERTY
@given(data=st.data())
def test_whole_floats_in_int_columns_go_as_ints(data: st.DataObject) -> None:
    contract = data.draw(contracts(kinds=("int64",)))
    rows = data.draw(rows_for(contract, min_size=1))
    as_floats = [{k: float(v) for k, v in r.items()} for r in rows]  # Excel sends 45.0 for 45
    table = to_table(as_floats, contract)
    assert_rows_equal(sent_rows(encode(table, contract, "predict"), contract), rows)


# ------------------------------------------------------------------------------------ DataFrames

# pyarrow-backed dtypes exist only where pyarrow is installed (the full environment, `bankscore[files]`). The
# core install, where the client tests also run, can't make such a frame: there they drop out of the draws
# and their cases are skipped.
ARROW = importlib.util.find_spec("pyarrow") is not None
NEEDS_ARROW = pytest.mark.skipif(not ARROW, reason="pyarrow-backed dtypes need pyarrow, which the core install lacks")


def _arrow(*dtypes: str) -> tuple[str, ...]:
    return dtypes if ARROW else ()


# Classic numpy dtypes first (what read_csv gives), then pandas' nullable and pyarrow-backed ones
# (what read_parquet, convert_dtypes() and dtype_backend="pyarrow" give).
DTYPES: dict[str, tuple[Any, ...]] = {
    "int64": (np.int64, "Int64", *_arrow("int64[pyarrow]")),
    "double": (np.float64, "Float64", *_arrow("double[pyarrow]")),
    "string": (object, "string", *_arrow("string[pyarrow]")),
    "boolean": (bool, "boolean", *_arrow("bool[pyarrow]")),
}


def index_labels(n: int) -> st.SearchStrategy[pd.Index]:
    """Unique labels of the kinds people use: text ids, shuffled or sparse integers."""
    text = st.lists(st.text(max_size=8), min_size=n, max_size=n, unique=True).map(lambda xs: pd.Index(xs, dtype=object))
    numbers = st.lists(st.integers(-(10**12), 10**12), min_size=n, max_size=n, unique=True).map(
        lambda xs: pd.Index(xs, dtype="int64")
    )
    return st.one_of(text, numbers)


@st.composite
def frames(draw: st.DrawFn, contract: Contract, min_size: int = 0) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """A frame with numpy dtypes per column type and a random index, and the rows it was built from."""
    rows = draw(rows_for(contract, min_size=min_size))  # a frame may be empty: its columns still exist
    columns = {
        c.name: pd.Series([r[c.name] for r in rows], dtype=draw(st.sampled_from(DTYPES[c.type])))
        for c in contract.columns
    }
    frame = pd.DataFrame(columns)
    frame.index = draw(index_labels(len(rows)))
    return frame, rows


@PROPERTY
@given(data=st.data(), envelope=st.sampled_from(ENVELOPES))
def test_valid_dataframes_travel_exactly(data: st.DataObject, envelope: str) -> None:
    contract = data.draw(contracts(envelope))
    frame, rows = data.draw(frames(contract))
    table = to_table(frame, contract)
    assert table.index.equals(frame.index)
    assert_rows_equal(sent_rows(encode(table, contract, "predict"), contract), rows)


@PROPERTY
@given(data=st.data())
def test_missing_cells_in_required_dataframe_columns_are_problems_at_their_index_labels(data: st.DataObject) -> None:
    contract = data.draw(contracts(kinds=("int64", "double", "string")))
    frame, _ = data.draw(frames(contract, min_size=1))
    cells = st.tuples(st.integers(0, len(frame) - 1), st.sampled_from(contract.column_names))
    holes = data.draw(st.sets(cells, min_size=1, max_size=8))
    missing = data.draw(st.sampled_from([np.nan, None, pd.NA]))
    for i, name in holes:
        column = frame[name].astype(object) if contract.types[name] == "string" else frame[name].astype("float64")
        column.iloc[i] = np.nan if contract.types[name] != "string" else missing
        frame[name] = column
    with pytest.raises(InputValidationError) as caught:
        to_table(frame, contract)
    error = caught.value
    expected = {(frame.index[i], name) for i, name in holes}
    assert {(p.row, p.column) for p in error.problems} == expected
    assert error.total == len(holes)
    assert all(p.value is None for p in error.problems), "a hole is reported as empty, not as NaN"


@FEW
@given(data=st.data(), envelope=st.sampled_from(ENVELOPES))
def test_optional_columns_send_null_for_holes_and_keep_the_column_type(data: st.DataObject, envelope: str) -> None:
    """A pandas int column with a hole becomes float64; the whole numbers must still go as ints."""
    names = data.draw(st.lists(column_names, min_size=1, max_size=4, unique=True))
    kinds = [data.draw(st.sampled_from(("int64", "double", "string"))) for _ in names]
    contract = Contract(
        envelope=envelope,
        columns=tuple(Column(n, k, required=False) for n, k in zip(names, kinds, strict=True)),
        supports_proba=True,
        declared_output="",
    )
    rows = data.draw(rows_for(contract, min_size=1))
    holes = data.draw(st.sets(st.tuples(st.integers(0, len(rows) - 1), st.sampled_from(names)), min_size=1))
    expected = [{k: (None if (i, k) in holes else v) for k, v in r.items()} for i, r in enumerate(rows)]
    frame = pd.DataFrame({k: [row[k] for row in expected] for k in names})
    table = to_table(frame, contract)
    assert_rows_equal(sent_rows(encode(table, contract, "predict"), contract), expected)


NULLABLE = [
    ("Int64", "int64", 7),
    pytest.param("int64[pyarrow]", "int64", 7, marks=NEEDS_ARROW),
    ("Float64", "double", 1.5),
    pytest.param("double[pyarrow]", "double", 1.5, marks=NEEDS_ARROW),
    ("string", "string", "a"),
    pytest.param("string[pyarrow]", "string", "a", marks=NEEDS_ARROW),
    ("boolean", "boolean", True),
]


@pytest.mark.parametrize(("dtype", "kind", "value"), NULLABLE)
def test_a_hole_in_a_nullable_dtype_column_is_an_empty_cell_when_required(dtype: str, kind: str, value: Any) -> None:
    contract = Contract(envelope="data", columns=(Column("a", kind),), supports_proba=True, declared_output="")
    frame = pd.DataFrame({"a": pd.Series([value, None], dtype=dtype)}).set_axis(["r0", "r1"])
    with pytest.raises(InputValidationError) as caught:
        to_table(frame, contract)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [("r1", "a", None)]
    assert "the cell is empty" in str(caught.value)


@pytest.mark.parametrize(("dtype", "kind", "value"), NULLABLE)
def test_a_hole_in_a_nullable_dtype_column_goes_as_null_when_optional(dtype: str, kind: str, value: Any) -> None:
    contract = Contract(
        envelope="data", columns=(Column("a", kind, required=False),), supports_proba=True, declared_output=""
    )
    frame = pd.DataFrame({"a": pd.Series([value, None], dtype=dtype)})
    table = to_table(frame, contract)
    assert orjson.loads(encode(table, contract, "predict")) == {"data": [{"a": value}, {"a": None}]}


# ------------------------------------------------------------------------------------ numbers of other types


@st.composite
def number_forms(draw: st.DrawFn, kind: str, value: Any) -> Any:
    """`value` as people hand it over: text (as a CSV read as text, or the studio's samples, give it), with spaces,
    in scientific notation, a Decimal, a numpy scalar, or (whole numbers) a float as Excel gives it."""
    if kind == "int64":
        forms: list[Any] = [value, str(value), f"  {value}\t", f"{Decimal(value):E}", f"{value}.0", Decimal(value)]
        forms += [Decimal(f"{value}.000"), np.int64(value), np.str_(value)]
        if abs(value) <= INT53:
            forms += [float(value), np.float64(value), f"{float(value)!r}"]
        if value >= 0:
            forms.append(f"+{value}")
    elif kind == "double":
        text = repr(value)
        forms = [value, text, f" {text} ", f"{Decimal(text):E}", Decimal(text), np.float64(value), np.str_(text)]
    else:
        forms = [value, np.str_(value)] if "\x00" not in value else [value]  # numpy's str_ drops trailing NULs
    return draw(st.sampled_from(forms))


def dressed(data: st.DataObject, contract: Contract, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: data.draw(number_forms(contract.types[name], v)) for name, v in row.items()} for row in rows]


@PROPERTY
@given(data=st.data(), envelope=st.sampled_from(ENVELOPES))
def test_numbers_of_other_types_travel_as_the_plain_numbers_they_mean(data: st.DataObject, envelope: str) -> None:
    """Text, Decimal and numpy forms of a value are sent as the JSON number itself, bit for bit, cell by cell
    in mixed columns as in columns that are all text."""
    contract = data.draw(contracts(envelope, kinds=("int64", "double", "string")))
    rows = data.draw(rows_for(contract))
    table = to_table(dressed(data, contract, rows), contract)
    assert_rows_equal(sent_rows(encode(table, contract, "predict"), contract), rows)


# Text columns of a DataFrame: object (read_csv(dtype=str), hand-built), pandas' default str dtype (read_csv of a
# column with one non-number in pandas 3), the nullable "string" dtype, and pyarrow-backed text where installed.
TEXT_DTYPES: tuple[Any, ...] = (object, "str", "string", *_arrow("string[pyarrow]"))


@PROPERTY
@given(data=st.data())
def test_dataframe_columns_of_numbers_as_text_travel_as_numbers(data: st.DataObject) -> None:
    contract = data.draw(contracts(kinds=("int64", "double", "string")))
    rows = data.draw(rows_for(contract))
    texts_ = [{k: str(data.draw(number_forms(contract.types[k], v))) for k, v in r.items()} for r in rows]
    frame = pd.DataFrame(
        {
            c.name: pd.Series([r[c.name] for r in texts_], dtype=data.draw(st.sampled_from(TEXT_DTYPES)))
            for c in contract.columns
            if c.type != "string"
        }
        | {c.name: pd.Series([r[c.name] for r in rows], dtype=object) for c in contract.columns if c.type == "string"}
    )[list(contract.column_names)]
    table = to_table(frame, contract)
    assert_rows_equal(sent_rows(encode(table, contract, "predict"), contract), rows)


@PROPERTY
@given(value=st.integers(-(2**63), 2**63 - 1), form=st.sampled_from((str, Decimal, np.int64, "{:E}".format)))
def test_whole_numbers_as_text_or_decimal_are_never_rounded(value: int, form: Any) -> None:
    """No float in between: 9007199254740993 as text is sent as 9007199254740993, not ...992."""
    contract = Contract(envelope="data", columns=(Column("n", "int64"),), supports_proba=True, declared_output="")
    cell = form(Decimal(value)) if form is not np.int64 and form is not str else form(value)
    table = to_table([{"n": cell}], contract)
    assert orjson.loads(encode(table, contract, "predict")) == {"data": [{"n": value}]}


# ------------------------------------------------------------------------------------ invalid cells


@st.composite
def poisoned(draw: st.DrawFn) -> tuple[Contract, list[dict[str, Any]], dict[tuple[int, str], Any]]:
    contract = draw(contracts())
    rows = draw(rows_for(contract, min_size=1, max_size=30))
    cells = st.tuples(st.integers(0, len(rows) - 1), st.sampled_from(contract.column_names))
    positions = draw(st.sets(cells, min_size=1, max_size=25))
    injected: dict[tuple[int, str], Any] = {}
    for i, name in sorted(positions):
        value = draw(st.sampled_from(INVALID[contract.types[name]]))
        rows[i][name] = value
        injected[(i, name)] = value
    return contract, rows, injected


@PROPERTY
@given(case=poisoned())
def test_every_injected_bad_cell_and_nothing_else_is_reported(
    case: tuple[Contract, list[dict[str, Any]], dict[tuple[int, str], Any]],
) -> None:
    contract, rows, injected = case
    with pytest.raises(InputValidationError) as caught:
        to_table(rows, contract)
    error = caught.value
    assert {(p.row, p.column) for p in error.problems} == set(injected)
    assert len(error.problems) == len(injected)
    assert error.total == len(injected)
    for p in error.problems:
        assert isinstance(p, Problem)
        sent = injected[(p.row, p.column)]
        # NaN means "missing" in records as in DataFrames: it is reported as an empty cell.
        assert p.value is sent or (isinstance(sent, float) and sent != sent and p.value is None)
    assert f"{len(injected)} problem" in str(error)


@PROPERTY
@given(case=poisoned(), cap=st.integers(1, 10))
def test_the_problem_list_is_capped_but_the_total_is_not(
    case: tuple[Contract, list[dict[str, Any]], dict[tuple[int, str], Any]], cap: int
) -> None:
    contract, rows, injected = case
    with pytest.raises(InputValidationError) as caught:
        to_table(rows, contract, max_problems=cap)
    error = caught.value
    assert len(error.problems) == min(cap, len(injected))
    assert {(p.row, p.column) for p in error.problems} <= set(injected)
    assert error.total == len(injected)


def test_nan_in_a_required_double_column_of_records_is_a_problem_not_a_null() -> None:
    """A DataFrame's NaN is reported as an empty cell; the same NaN in a list of dicts must be too.

    Otherwise it passes validation and orjson sends it as `null` for a column the contract requires.
    """
    contract = Contract(
        envelope="data", columns=(Column("x", "double"), Column("n", "int64")), supports_proba=True, declared_output=""
    )
    rows = [{"x": 1.5, "n": 1}, {"x": float("nan"), "n": 2}]
    with pytest.raises(InputValidationError) as caught:
        to_table(rows, contract)
    assert [(p.row, p.column) for p in caught.value.problems] == [(1, "x")]


def test_nan_in_an_optional_double_column_of_records_goes_as_null() -> None:
    contract = Contract(
        envelope="data", columns=(Column("x", "double", required=False),), supports_proba=True, declared_output=""
    )
    table = to_table([{"x": float("nan")}, {"x": None}, {"x": 2.5}], contract)
    assert orjson.loads(encode(table, contract, "predict")) == {"data": [{"x": None}, {"x": None}, {"x": 2.5}]}


@pytest.mark.parametrize("hole", [pd.NA, pd.NaT, np.float32("nan"), Decimal("NaN")], ids=repr)
def test_any_missing_marker_among_floats_in_records_goes_as_null(hole: Any) -> None:
    """`pd.NA != pd.NA` is NA, whose truth value raises: a record holding it next to floats once crashed."""
    contract = Contract(
        envelope="data", columns=(Column("x", "double", required=False),), supports_proba=True, declared_output=""
    )
    table = to_table([{"x": 1.5}, {"x": hole}], contract)
    assert orjson.loads(encode(table, contract, "predict")) == {"data": [{"x": 1.5}, {"x": None}]}


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, 1e20])
def test_values_outside_int64_are_rejected_before_encoding(value: float) -> None:
    """An int64 column can't carry these; validation must say so instead of encode blowing up (or overflowing)."""
    contract = Contract(envelope="data", columns=(Column("n", "int64"),), supports_proba=True, declared_output="")
    with pytest.raises(InputValidationError) as caught:
        to_table([{"n": 1}, {"n": value}], contract)
    assert [(p.row, p.column) for p in caught.value.problems] == [(1, "n")]


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63)])
def test_int64_bounds_themselves_are_accepted_and_sent(value: int) -> None:
    contract = Contract(envelope="data", columns=(Column("n", "int64"),), supports_proba=True, declared_output="")
    table = to_table([{"n": value}], contract)
    assert orjson.loads(encode(table, contract, "predict")) == {"data": [{"n": value}]}


# ------------------------------------------------------------------------------------ batching


@PROPERTY
@given(
    data=st.data(),
    n=st.integers(1, 150),
    batch_rows=st.integers(1, 120),
    max_batch_bytes=st.integers(1024, 12_000),
)
def test_batches_cover_every_row_once_in_order_and_fit_the_byte_budget(
    data: st.DataObject, n: int, batch_rows: int, max_batch_bytes: int
) -> None:
    contract = data.draw(contracts(kinds=("int64", "double", "string")))
    # Long and short strings in one table make the sample-based size estimate wrong on purpose.
    long_text = st.one_of(texts, st.integers(0, 900).map("é".__mul__), st.integers(0, 300).map("😀".__mul__))
    row = st.fixed_dictionaries(
        {c.name: (long_text if c.type == "string" else VALUES[c.type]) for c in contract.columns}
    )
    rows = data.draw(st.lists(row, min_size=n, max_size=n))
    table = to_table(rows, contract)

    planned = list(plan_batches(table, contract, batch_rows=batch_rows, max_batch_bytes=max_batch_bytes))
    assert all(1 <= b.size <= batch_rows for b in planned)
    parts = [p for b in planned for p in encode_batch(table, contract, b, "predict", max_batch_bytes)]

    covered = [i for part, _ in parts for i in range(part.start, part.stop)]
    assert covered == list(range(n))
    for part, body in parts:
        assert part.size >= 1
        assert len(body) <= max_batch_bytes or part.size == 1, (part, len(body))
        assert_rows_equal(sent_rows(body, contract), rows[part.start : part.stop])


# ------------------------------------------------------------------------------------ decoding

finite = st.floats(allow_nan=False, allow_infinity=False)
results_items = st.one_of(
    st.sampled_from(["no", "yes"]),
    texts,
    st.integers(-(2**63), 2**63 - 1),
    finite,
    st.booleans(),
    st.none(),
    st.lists(finite, min_size=2, max_size=3),
)
result_lists = st.lists(results_items, max_size=30)


def bodies(results: list[Any]) -> dict[str, bytes]:
    return {
        "plain Results": orjson.dumps({"Results": results}),
        "double-encoded result": json.dumps(json.dumps({"result": results})).encode(),
        "double-encoded, non-ASCII kept": json.dumps(json.dumps({"result": results}, ensure_ascii=False)).encode(),
        "bare array": orjson.dumps(results),
        "double-encoded bare array": json.dumps(json.dumps(results)).encode(),
        "predictions": orjson.dumps({"predictions": results}),
    }


def same_results(decoded: list[Any], results: list[Any]) -> bool:
    # Byte-equal re-encoding compares types and floats exactly (including -0.0).
    return orjson.dumps(decoded) == orjson.dumps(results)


@PROPERTY
@given(results=result_lists)
def test_every_body_shape_decodes_to_the_same_results(results: list[Any]) -> None:
    for shape, body in bodies(results).items():
        decoded = decode(body, len(results))
        assert same_results(decoded, results), shape


@PROPERTY
@given(results=result_lists, wrong=st.integers(-3, 3).filter(bool))
def test_a_wrong_result_count_is_a_decode_failure(results: list[Any], wrong: int) -> None:
    expected_rows = len(results) + wrong
    if expected_rows < 0:
        expected_rows = len(results) + 1
    for shape, body in bodies(results).items():
        with pytest.raises(DecodeFailure) as caught:
            decode(body, expected_rows)
        assert not caught.value.model_error, shape
        assert f"sent {expected_rows} rows but got {len(results)}" in str(caught.value), shape


@PROPERTY
@given(message=texts, expected_rows=st.integers(0, 5))
def test_an_error_object_is_a_model_error_plain_or_double_encoded(message: str, expected_rows: int) -> None:
    for body in (
        orjson.dumps({"error": message}),
        json.dumps(json.dumps({"error": message})).encode(),
    ):
        with pytest.raises(DecodeFailure) as caught:
            decode(body, expected_rows)
        assert caught.value.model_error
        assert message in str(caught.value)


@PROPERTY
@given(results=result_lists.filter(bool), cut=st.integers(1, 10_000))
def test_a_truncated_body_is_a_decode_failure_not_a_crash(results: list[Any], cut: int) -> None:
    body = orjson.dumps({"Results": results})
    truncated = body[: len(body) - 1 - cut % (len(body) - 1)]
    with pytest.raises(DecodeFailure) as caught:
        decode(truncated, len(results))
    assert not caught.value.model_error
    assert "not JSON" in str(caught.value)


def test_floats_survive_decode_bit_for_bit() -> None:
    values = [-0.0, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3]
    decoded = decode(orjson.dumps({"Results": values}), len(values))
    assert [struct.pack("<d", v) for v in decoded] == [struct.pack("<d", v) for v in values]
    assert math.copysign(1.0, decoded[0]) == -1.0
