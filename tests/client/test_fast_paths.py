"""The single-row fast paths give exactly what the general path gives: the same cells, answers and errors.

A frame of a few rows is read from its column arrays (no Series per column), a one-row call is one batch
without a sample encode, sent without the thread machinery of many batches, and its label becomes a Series
without dtype inference. Both are held to the general path on the same generated inputs: every column dtype
(ints, floats with NaN, objects mixing text numbers, Decimals, numpy scalars, None, pd.NA, NaT and bools,
pandas' nullable dtypes, categories), valid and invalid cells, DataFrames and dicts, and both clients against
the embedded endpoint over real HTTP.
"""

from __future__ import annotations

import contextlib
import math
import uuid
import warnings
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bankscore import AsyncScoringClient, Column, Contract, InputValidationError, ScoringClient, validation
from bankscore import _base_client as base_module
from bankscore import _client as client_module
from bankscore._throttle import Answer, read_answer
from bankscore.bankmarketing.schema import COLUMNS
from bankscore.bankmarketing.synthetic import generate
from bankscore.decoding import decode
from bankscore.encoding import Batch, encode, encode_batch, plan_batches
from bankscore.retry import RetryPolicy
from bankscore.validation import to_table
from tests.support.common import PRIMARY

if TYPE_CHECKING:
    from tests.client.conftest import Reference
    from tests.support.twins import ClientFactory

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OVER_HTTP = settings(PROPERTY, max_examples=25)
FRAMES = settings(PROPERTY, max_examples=80)  # a frame per example costs ~70 ms: the shortcut's own checks, fewer draws

KINDS = ("int64", "double", "string", "boolean")

# ------------------------------------------------------------------------------------ cells and columns

cells = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["57", " -1.8 ", "5.7e1", "1,260", "", " ", "yes", "NaN", "1e400", "12.0", "true"]),
    st.text(max_size=6),
    st.booleans(),
    st.sampled_from([None, pd.NA, pd.NaT, math.nan, np.nan, Decimal("NaN"), np.datetime64("NaT")]),
    st.sampled_from([Decimal("2.5"), Decimal("45"), Decimal("1e19"), Decimal("Infinity"), Decimal("-0")]),
    st.sampled_from([np.int64(7), np.int32(-3), np.float64(0.5), np.float32(2.0), np.True_, np.float64("nan")]),
    st.sampled_from([[1], {"a": 1}, b"12"]),
)


def column_of(n: int) -> st.SearchStrategy[pd.Series[Any]]:
    """One column of n cells in one of the dtypes a caller's frame has."""
    ints = st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)
    floats = st.lists(st.one_of(st.floats(), st.just(math.nan)), min_size=n, max_size=n)
    small = st.lists(st.one_of(st.integers(-1000, 1000), st.none()), min_size=n, max_size=n)
    words = st.lists(st.one_of(st.sampled_from(["no", "yes", "3", " 4.5 "]), st.none()), min_size=n, max_size=n)
    return st.one_of(
        ints.map(lambda v: pd.Series(v, dtype="int64")),
        floats.map(lambda v: pd.Series(v, dtype="float64")),
        st.lists(st.floats(width=32), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="float32")),
        st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="bool")),
        st.lists(cells, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object)),
        small.map(lambda v: pd.Series(v, dtype="Int64")),
        small.map(lambda v: pd.Series([None if x is None else x / 4 for x in v], dtype="Float64")),
        st.lists(st.one_of(st.booleans(), st.none()), min_size=n, max_size=n).map(
            lambda v: pd.Series(v, dtype="boolean")
        ),
        words.map(lambda v: pd.Series(v, dtype="string")),
        words.map(lambda v: pd.Series(v, dtype="category")),
        words.map(lambda v: pd.Series(v)),  # pandas' default for text ("str" from pandas 3 on)
        st.lists(st.integers(0, 10**9), min_size=n, max_size=n).map(lambda v: pd.Series(pd.to_datetime(v, unit="s"))),
    )


@st.composite
def frames(draw: st.DrawFn, contract: Contract) -> pd.DataFrame:
    """A short frame with some of the contract's columns (and maybe an extra one), under an index of any kind."""
    n = draw(st.integers(0, 4))
    names = [c.name for c in contract.columns if draw(st.integers(0, 5))]  # now and then a column is missing
    if draw(st.booleans()):
        names.append("extra column")
    data = {name: draw(column_of(n)) for name in names}
    index = draw(
        st.sampled_from([pd.RangeIndex(n), pd.Index(list(range(10, 10 + n))), pd.Index([f"r{i}" for i in range(n)])])
    )
    frame = pd.DataFrame({name: series.set_axis(index) for name, series in data.items()}, index=index)
    return frame if names else pd.DataFrame(index=index)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    names = draw(st.lists(st.sampled_from(["age", "job", "emp.var.rate", "y", "ok", "n"]), min_size=1, unique=True))
    columns = tuple(Column(name, draw(st.sampled_from(KINDS)), draw(st.booleans())) for name in names)
    return Contract(envelope="inputs", columns=columns, supports_proba=True, declared_output="")


# ------------------------------------------------------------------------------------ helpers


def shown(value: Any) -> str:
    """A cell as type and repr, so 1 and 1.0 and True differ, and NaN equals NaN."""
    return f"{type(value).__module__}.{type(value).__qualname__}:{value!r}"


def outcome(rows: Any, contract: Contract, extra_columns: Any = "error") -> Any:
    """What to_table makes of the rows: the cells, labels and ignored columns, or the error's type and words."""
    try:
        table = to_table(rows, contract, extra_columns=extra_columns)
    except (InputValidationError, TypeError) as exc:
        return type(exc), str(exc)
    columns = {name: [shown(v) for v in values] for name, values in table.columns.items()}
    return columns, table.n_rows, [shown(label) for label in table.index], table.ignored


def general(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on every frame takes the Series path, every call the many-batch path, every label inference."""
    monkeypatch.setattr(validation, "SMALL_FRAME_ROWS", -1)
    monkeypatch.setattr(validation, "_LAST_LABELS", None)
    monkeypatch.setattr(validation, "_remember_labels", lambda memo: None)
    monkeypatch.setattr(validation, "_one_record", lambda records, contract: None)
    monkeypatch.setattr(validation, "_one_row_as_it_is", lambda table, contract: False)
    monkeypatch.setattr(base_module, "_one_label_array", lambda label: None)
    monkeypatch.setattr(base_module, "_scores", lambda response, batch, decode_answer: None)

    def one_sync(self: Any, table: Any, batch: Batch, *args: Any) -> Any:
        return self._score_batches(table, [batch], *args)

    async def one_async(self: Any, table: Any, batch: Batch, *args: Any) -> Any:
        return await self._score_batches(table, [batch], *args)

    monkeypatch.setattr(ScoringClient, "_score_one", one_sync)
    monkeypatch.setattr(AsyncScoringClient, "_score_one", one_async)


# ------------------------------------------------------------------------------------ offline: validation


@PROPERTY
@given(data=st.data(), extra_columns=st.sampled_from(["error", "ignore"]))
def test_a_short_frame_reads_as_the_series_path_reads_it(
    data: st.DataObject, extra_columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = data.draw(contracts())
    frame = data.draw(frames(contract))
    fast = outcome(frame, contract, extra_columns)
    with monkeypatch.context() as patch:
        general(patch)
        slow = outcome(frame, contract, extra_columns)
    assert fast == slow


PLAIN_CELL = {
    "int64": st.integers(-(2**63), 2**63 - 1),
    "double": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1)),
    "string": st.text(max_size=3),
    "boolean": st.booleans(),
}


def checked(table: validation.Table, contract: Contract) -> Any:
    """What `validate` makes of a table: its cells afterwards, or the error's type and words."""
    try:
        validation.validate(table, contract)
    except InputValidationError as exc:
        return type(exc), str(exc)
    return {name: [shown(v) for v in values] for name, values in table.columns.items()}


@PROPERTY
@given(data=st.data())
def test_one_row_is_checked_as_every_row_is(data: st.DataObject, monkeypatch: pytest.MonkeyPatch) -> None:
    contract = data.draw(contracts())
    edges = st.sampled_from([None, 0, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0.25, 3.0, math.inf, "3", True])
    # mostly cells the column takes as they are, so that a single odd one decides
    row = {c.name: data.draw(st.one_of(PLAIN_CELL[c.type], PLAIN_CELL[c.type], edges, cells)) for c in contract.columns}

    def table() -> validation.Table:
        return validation.Table({name: [value] for name, value in row.items()}, 1, pd.RangeIndex(1))

    fast = checked(table(), contract)
    with monkeypatch.context() as patch:
        general(patch)
        slow = checked(table(), contract)
    assert fast == slow


ODD_CELLS = [
    None, 0, -7, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 0.25, 3.0, -0.0, math.inf, -math.inf, math.nan, "", "3",
    " 4.5 ", "yes", True, False, Decimal("2"), np.int64(3), np.float64(0.5), np.True_, pd.NA, [1],
]  # fmt: skip


@pytest.mark.parametrize("kind", [*KINDS, "any"])
@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize("value", ODD_CELLS, ids=repr)
def test_one_cell_is_checked_as_every_cell_is(
    kind: Any, required: bool, value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = Contract(
        envelope="inputs", columns=(Column("a", "string"), Column("n", kind, required)), supports_proba=True,
        declared_output="",
    )  # fmt: skip
    fast = checked(validation.Table({"a": ["x"], "n": [value]}, 1, pd.RangeIndex(1)), contract)
    with monkeypatch.context() as patch:
        general(patch)
        slow = checked(validation.Table({"a": ["x"], "n": [value]}, 1, pd.RangeIndex(1)), contract)
    assert fast == slow


@PROPERTY
@given(data=st.data(), extra_columns=st.sampled_from(["error", "ignore"]))
def test_one_record_reads_as_records_read(
    data: st.DataObject, extra_columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = data.draw(contracts())
    record = {c.name: data.draw(cells) for c in contract.columns if data.draw(st.integers(0, 8))}
    if data.draw(st.integers(0, 5)) == 0:
        record["extra column"] = 1
    fast = outcome([record], contract, extra_columns)
    with monkeypatch.context() as patch:
        general(patch)
        slow = outcome([record], contract, extra_columns)
    assert fast == slow


@FRAMES
@given(data=st.data(), extra_columns=st.sampled_from(["error", "ignore"]))
def test_the_labels_of_a_frame_read_again_read_as_they_did(
    data: st.DataObject, extra_columns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same columns (a view of them, as `iloc` gives) read from the memo as they read the first time."""
    contract = data.draw(contracts())
    frame = data.draw(frames(contract))
    first = outcome(frame, contract, extra_columns)
    again = [outcome(frame.iloc[list(range(len(frame)))], contract, extra_columns), outcome(frame, contract)]
    with monkeypatch.context() as patch:
        general(patch)
        slow = [outcome(frame.iloc[list(range(len(frame)))], contract, extra_columns), outcome(frame, contract)]
    assert again == slow
    assert first == slow[0]


@PROPERTY
@given(data=st.data())
def test_the_column_lists_are_the_series_lists_before_any_check(data: st.DataObject) -> None:
    contract = data.draw(contracts())
    frame = data.draw(frames(contract))
    names = [str(c) for c in frame.columns]
    expected = contract.column_names
    fast = validation._small_frame_columns(frame, frame._iter_column_arrays(), expected, names)
    slow = validation._frame_columns(frame, expected, names)
    assert {k: [shown(v) for v in vs] for k, vs in fast.items()} == {
        k: [shown(v) for v in vs] for k, vs in slow.items()
    }


@PROPERTY
@given(data=st.data())
def test_records_lacking_a_column_are_each_named_whether_or_not_others_have_it(data: st.DataObject) -> None:
    contract = data.draw(contracts())
    n = data.draw(st.integers(1, 4))
    records = [
        {c.name: _valid(c.type) if c.type != "string" else "a" for c in contract.columns if data.draw(st.booleans())}
        for _ in range(n)
    ]
    seen = {name for r in records for name in r}
    missing = [
        (i, c.name)
        for c in contract.columns
        if c.required and c.name in seen
        for i, r in enumerate(records)
        if c.name not in r
    ]
    absent = [c.name for c in contract.columns if c.required and c.name not in seen]
    try:
        to_table(records, contract)
    except InputValidationError as exc:
        found = [(p.row, p.column) for p in exc.problems]
        assert [f for f in found if f[0] != "*"] == missing
        assert [f[1] for f in found if f[0] == "*"] == absent
    else:
        assert missing == absent == []


@FRAMES
@given(data=st.data(), consolidated=st.booleans())
def test_the_arrays_read_by_block_are_the_column_walks(data: st.DataObject, consolidated: bool) -> None:
    contract = data.draw(contracts())
    frame = data.draw(frames(contract))
    if consolidated:
        frame = frame.copy()  # one block per dtype
    by_block = validation._column_arrays(frame)
    walked = list(frame._iter_column_arrays())
    assert by_block is not None and len(by_block) == len(walked)
    for mine, theirs in zip(by_block, walked, strict=True):
        assert type(mine) is type(theirs) and mine.dtype == theirs.dtype and mine.shape == theirs.shape
        assert [shown(v) for v in mine.tolist()] == [shown(v) for v in theirs.tolist()]


def test_the_fast_path_is_taken_for_short_frames_only(monkeypatch: pytest.MonkeyPatch) -> None:
    contract = Contract(envelope="inputs", columns=(Column("n", "int64"),), supports_proba=True, declared_output="")
    taken: list[int] = []
    real = validation._small_frame_columns

    def spy(frame: pd.DataFrame, *args: Any) -> Any:
        taken.append(len(frame))
        return real(frame, *args)

    monkeypatch.setattr(validation, "_small_frame_columns", spy)
    for n in (1, validation.SMALL_FRAME_ROWS, validation.SMALL_FRAME_ROWS + 1):
        to_table(pd.DataFrame({"n": range(n)}), contract)
    assert taken == [1, validation.SMALL_FRAME_ROWS]


@PROPERTY
@given(
    data=st.data(),
    batch_rows=st.integers(1, 3),
    max_batch_bytes=st.sampled_from([1024, 2048, 4 * 1024 * 1024]),
    method=st.sampled_from(["predict", "predict_proba"]),
)
def test_one_row_is_planned_as_one_batch_as_a_sample_would_plan_it(
    data: st.DataObject, batch_rows: int, max_batch_bytes: int, method: Any
) -> None:
    contract = data.draw(contracts())
    # long text makes a body larger than a small byte budget: a one-row batch is sent whole all the same
    row = {
        c.name: "x" * data.draw(st.integers(0, 3000)) if c.type == "string" else _valid(c.type)
        for c in contract.columns
    }
    table = to_table([row], contract)
    options = client_module.ClientOptions(
        endpoint="http://127.0.0.1:1/score", batch_rows=batch_rows, max_batch_bytes=max_batch_bytes
    )
    planned = client_module._plan(table, contract, options)
    sampled = list(plan_batches(table, contract, batch_rows=batch_rows, max_batch_bytes=max_batch_bytes))
    assert planned == sampled == [Batch(0, 1)]
    bodies = encode_batch(table, contract, planned[0], method, max_batch_bytes)
    assert bodies == encode_batch(table, contract, sampled[0], method, max_batch_bytes)


def _valid(kind: str) -> Any:
    return {"int64": 3, "double": 0.5, "boolean": True}[kind]


# ------------------------------------------------------------------------------------ over HTTP, both clients

INTS = [c.name for c in COLUMNS if c.type == "int64"]
DOUBLES = [c.name for c in COLUMNS if c.type == "double"]
TEXTS = [c.name for c in COLUMNS if c.type == "string"]
PLAIN = generate(24, seed=17, label=False)


def dressed(frame: pd.DataFrame, form: str) -> pd.DataFrame:
    """The same rows as callers hand them over: numbers as text, Decimals, numpy scalars, nullable dtypes."""
    if form == "plain":
        return frame
    if form == "text":
        return frame.astype(dict.fromkeys(INTS + DOUBLES, str))
    if form == "nullable":
        return frame.convert_dtypes()
    out = frame.astype(dict.fromkeys(INTS + DOUBLES, object))
    for name in INTS + DOUBLES:
        make = (lambda v: Decimal(repr(v))) if form == "decimal" else (np.int64 if name in INTS else np.float64)
        out[name] = [make(v) for v in frame[name].tolist()]
    return out


BROKEN = [None, math.nan, pd.NA, "twelve", "1,260", Decimal("2.5"), np.float64("inf"), True, 12.5]


def attempt(call: Any) -> Any:
    try:
        return "answer", described(call())
    except InputValidationError as exc:
        return type(exc), str(exc)


def described(series: pd.Series[Any]) -> Any:
    """All a caller can tell of a result Series: its cells, dtype, array, index, name and flags."""
    return (
        [shown(v) for v in series.tolist()],
        repr(series.dtype),
        type(series.array).__name__,
        type(series._values).__name__,
        [type(block).__name__ for block in series._mgr.blocks],
        series._values.flags.writeable if isinstance(series._values, np.ndarray) else None,
        type(series.index).__name__,
        repr(series.index.dtype),
        [shown(label) for label in series.index],
        series.name,
        series.attrs,
        series.flags.allows_duplicate_labels,
    )


@pytest.fixture
def client(endpoint: Any, make_client: ClientFactory) -> Any:
    with make_client(endpoint.scoring_uri, key=PRIMARY) as c:
        yield c


@OVER_HTTP
@given(
    i=st.integers(0, len(PLAIN) - 1),
    form=st.sampled_from(["plain", "text", "nullable", "decimal", "numpy"]),
    broken=st.one_of(st.none(), st.tuples(st.sampled_from([c.name for c in COLUMNS]), st.sampled_from(BROKEN))),
)
def test_a_single_row_call_answers_and_fails_as_the_general_path_does(
    client: Any,
    endpoint: Any,
    reference: Reference,
    monkeypatch: pytest.MonkeyPatch,
    i: int,
    form: str,
    broken: tuple[str, Any] | None,
) -> None:
    frame = dressed(PLAIN, form).iloc[[i]].copy()
    if broken is not None:
        name, value = broken
        frame[name] = frame[name].astype(object)
        frame.loc[frame.index[0], name] = value
    records = frame.to_dict("records")
    fast = [attempt(lambda: client.predict(frame)), attempt(lambda: client.predict(records))]
    with monkeypatch.context() as patch:
        general(patch)
        patch.setattr(client_module, "_plan", _planned_from_a_sample)
        slow = [attempt(lambda: client.predict(frame)), attempt(lambda: client.predict(records))]
    assert fast == slow
    if broken is None:
        expected = [shown(v) for v in reference.predict(endpoint, PLAIN.iloc[[i]])]
        assert [fast[0][0], fast[0][1][0]] == ["answer", expected]
    else:
        assert fast[0][0] is InputValidationError or fast[0][0] == "answer"  # some cells are fine where they land


def _planned_from_a_sample(table: Any, contract: Contract, options: Any) -> list[Batch]:
    return list(plan_batches(table, contract, batch_rows=options.batch_rows, max_batch_bytes=options.max_batch_bytes))


def test_a_single_row_keeps_its_label_and_a_wrong_cell_is_named_by_it(client: Any) -> None:
    frame = PLAIN.iloc[[5]]
    assert client.predict(frame).index.tolist() == [5]
    bad = frame.astype({"age": object})
    bad.loc[5, "age"] = "twelve"
    with pytest.raises(InputValidationError) as caught:
        client.predict(bad)
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [(5, "age", "twelve")]


# ------------------------------------------------------------------------------------ offline: the answer's path

labels = st.one_of(
    st.text(max_size=5),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.sampled_from([-0.0, 0.0, "", "0", np.int64(3), np.float64(0.5), np.str_("yes"), [0.2, 0.8], {"a": 1}]),
)
indexes = st.sampled_from([pd.RangeIndex(1), pd.RangeIndex(5, 6), pd.Index([7]), pd.Index(["r0"]), pd.Index([2.5])])
OPTIONS = [(), (("mode.string_storage", "python"),), (("future.infer_string", False),)]


@PROPERTY
@given(
    results=st.one_of(st.lists(labels, min_size=1, max_size=1), st.lists(labels, min_size=0, max_size=3)),
    index=indexes,
    options=st.sampled_from(OPTIONS),
)
def test_a_label_becomes_the_series_pandas_infers_for_it(results: list[Any], index: pd.Index, options: Any) -> None:
    if len(results) != len(index):
        index = pd.RangeIndex(len(results))
    table = validation.Table({}, len(results), index)
    with warnings.catch_warnings(), contextlib.ExitStack() as stack:
        warnings.simplefilter("ignore")  # setting future.infer_string is deprecated in pandas 3: still honoured
        for name, value in options:
            stack.enter_context(pd.option_context(name, value))
        for _ in range(2):  # built once, then from the array kept for that label
            fast = base_module.to_series(table, list(results))
            slow = pd.Series(list(results), index=index, name="prediction")
            assert described(fast) == described(slow)
            pd.testing.assert_series_equal(fast, slow, check_exact=True)
            assert fast.index is slow.index is index
            if len(results) == 1 and type(results[0]) in (str, int, bool):
                fast.iloc[0] = results[0]  # a result is the caller's own: writing to it changes no later one
        assert described(base_module.to_series(table, list(results))) == described(slow)


def test_a_changed_result_leaves_the_next_one_alone() -> None:
    table = validation.Table({}, 1, pd.RangeIndex(1))
    first = base_module.to_series(table, ["no"])
    first.iloc[0] = "changed"
    first.index.name = "renamed"
    assert base_module.to_series(validation.Table({}, 1, pd.RangeIndex(1)), ["no"]).tolist() == ["no"]
    assert base_module.to_series(validation.Table({}, 1, pd.RangeIndex(1)), ["no"]).index.name is None


@PROPERTY
@given(noise=st.binary(min_size=16, max_size=16))
def test_a_request_id_is_the_uuid4_of_the_same_random_bytes(noise: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(base_module.os, "urandom", lambda n: noise)
        made = base_module.new_client_request_id()
    assert made == str(uuid.UUID(bytes=noise, version=4))


bodies = st.one_of(
    st.sampled_from(
        [
            b'{"Results": ["no"]}',
            b'{"Results": ["no", "yes"]}',
            b'["yes"]',
            b'"{\\"result\\": [1]}"',
            b'{"error": "boom"}',
            b'{"Results": ["no"',
            b"<html>proxy</html>",
            b"",
            b'{"other": 1}',
            b'{"Results": {"data": [0.5]}}',
            b'{"Results": 3}',
        ]
    ),
    st.binary(max_size=20),
)


@PROPERTY
@given(
    status=st.sampled_from([200, 200, 200, 400, 401, 413, 424, 429, 500, 503]),
    body=bodies,
    rows=st.integers(1, 2),
    headers=st.dictionaries(
        st.sampled_from(
            ["x-ms-request-id", "x-request-id", "retry-after", "content-length", "x-ms-run-function-failed"]
        ),
        st.sampled_from(["1", "abc", "true", "True", "0", "99"]),
        max_size=3,
    ),
)
def test_an_answer_reads_as_interpret_reads_it(status: int, body: bytes, rows: int, headers: dict[str, str]) -> None:
    response = httpx.Response(status, content=body, headers=headers)
    batch = Batch(0, rows)
    policy = RetryPolicy()
    general_reading = base_module.interpret(response, batch, "id", policy, ("secret",), decode)
    shortcut = base_module._scores(response, batch, decode)
    if shortcut is None:
        assert not (status == 200 and general_reading.results is not None)
    else:
        assert general_reading.results is not None
        assert vars(shortcut) == vars(general_reading)


@PROPERTY
@given(
    status=st.one_of(st.none(), st.sampled_from([200, 429, 503, 500])),
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "x-ms-run-function-failed"]),
        st.sampled_from(["1", "2.5", "true", "False", "Wed, 21 Oct 2015 07:28:00 GMT"]),
        max_size=3,
    ),
)
def test_a_200_carries_no_load_signal_whatever_its_headers(status: int | None, headers: dict[str, str]) -> None:
    answer = read_answer(status, headers, 30.0)
    if status == 200:
        assert answer == Answer(200, congested=False, retry_after=None)
    else:
        assert answer.status == status


@PROPERTY
@given(
    data=st.data(),
    n=st.integers(1, 6),
    max_batch_bytes=st.sampled_from([1024, 2048, 4 * 1024 * 1024]),
    method=st.sampled_from(["predict", "predict_proba"]),
)
def test_a_batch_of_the_whole_table_encodes_as_its_copy_does(
    data: st.DataObject, n: int, max_batch_bytes: int, method: Any
) -> None:
    contract = data.draw(contracts())
    rows = [
        {
            c.name: "x" * data.draw(st.integers(0, 900)) if c.type == "string" else _valid(c.type)
            for c in contract.columns
        }
        for _ in range(n)
    ]
    table = to_table(rows, contract)
    start = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(start + 1, n))
    for batch in (Batch(0, n), Batch(start, stop)):
        parts = encode_batch(table, contract, batch, method, max_batch_bytes)
        assert [p.start for p, _ in parts] == [batch.start, *(p.stop for p, _ in parts[:-1])]
        assert parts[-1][0].stop == batch.stop
        for part, body in parts:  # each body is its rows' copy encoded, within the budget unless one row
            assert body == encode(table.slice(part.start, part.stop), contract, method)
            assert len(body) <= max_batch_bytes or part.size == 1
