"""The whole-range memo behind an unchanged recalculation: it answers only what the per-row cache would.

Against the embedded endpoint over real HTTP. Each test would fail if the memo answered a range
that differs in one cell, outlived a row's `Cache minutes`, crossed endpoints, keys or functions,
kept an endpoint failure, or grew without bound.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bankscore import ScoringClient
from bankscore.bankmarketing.schema import COLUMN_NAMES
from bankscore.excel import ExcelScorer, RangeError, RangeResult, RowCache
from bankscore.excel.settings import Scorers, Settings
from bankscore.server.model import Model
from tests.excel.test_excel import excel_grid, rows
from tests.support.common import PRIMARY

col = COLUMN_NAMES.index


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def requests(scorer: ExcelScorer) -> list[int]:
    """Counts the scorer's calls to the client (the real one still answers them): one entry per call, its rows."""
    seen: list[int] = []
    real = scorer.client.score_table

    def counted(table: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(table.n_rows)
        return real(table, *args, **kwargs)

    scorer.client.score_table = counted  # type: ignore[method-assign]
    return seen


def copy(grid: list[list[Any]]) -> list[list[Any]]:
    """A fresh, equal range, as Excel hands over on every recalculation."""
    return [list(r) for r in grid]


def test_an_unchanged_range_needs_no_request_and_one_changed_cell_rescores_only_its_row(
    endpoint: Any, model: Model
) -> None:
    frame = rows(40)
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client)
        sent = requests(scorer)
        first = scorer.score(excel_grid(frame))
        again = scorer.score(copy(excel_grid(frame)))
        assert (again.scored, again.cached, again.failed) == (0, 40, 0) and sent == [40]
        assert again.values == first.values == model.predict(frame).tolist()
        changed = frame.copy()
        changed.loc[changed.index[7], "duration"] = 3000
        result = scorer.score(excel_grid(changed))
        assert (result.scored, result.cached) == (1, 39) and sent == [40, 1]
        assert result.values == model.predict(changed).tolist()


def test_true_is_not_one_to_the_memo(endpoint: Any) -> None:
    """TRUE == 1.0 in Python, but not in a whole-number column: the row gets its own error text."""
    grid = excel_grid(rows(5))
    grid[2][col("campaign")] = 1.0
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client)
        assert not str(scorer.score(grid).values[1]).startswith("error")
        edited = copy(grid)
        edited[2][col("campaign")] = True
        result = scorer.score(edited)
    assert result.values[1] == "error: campaign: True is not a whole number" and result.failed == 1


def test_a_range_answer_expires_with_its_oldest_row(start_endpoint: Any, model: Model) -> None:
    endpoint = start_endpoint()
    clock = Clock()
    frame, extra = rows(30), rows(1, seed=99)
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client, RowCache(max_age=60, clock=clock))
        scorer.score(excel_grid(frame))  # 30 rows cached at t = 1000
        clock.now += 50
        grown = excel_grid(pd.concat([frame, extra]))
        assert (scorer.score(grown).scored, scorer.score(copy(grown)).cached) == (1, 31)  # new row at t = 1050
        clock.now += 11  # the 30 old rows have expired, the new one hasn't
        sent = requests(scorer)
        result = scorer.score(copy(grown))
        assert (result.scored, result.cached) == (30, 1) and sent == [30]
        assert result.values == model.predict(pd.concat([frame, extra])).tolist()
        clock.now += 61
        endpoint.stop()
        expired = scorer.score(copy(grown))
    assert expired.failed == 31 and all(str(v).startswith("error: ") for v in expired.values)


def test_cache_minutes_zero_means_every_call_asks_the_endpoint(endpoint: Any) -> None:
    grid = excel_grid(rows(6))
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client, RowCache(max_age=0))
        sent = requests(scorer)
        scorer.score(grid)
        result = scorer.score(copy(grid))
    assert (result.scored, result.cached) == (6, 0) and sent == [6, 6] and scorer.cache.ranges == 0


def test_predict_proba_and_explain_answers_are_kept_apart(endpoint: Any, model: Model) -> None:
    frame = rows(8)
    grid = excel_grid(frame)
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client)
        labels = scorer.score(grid, "predict").values
        proba = scorer.score(copy(grid), "proba")
        explain = scorer.score(copy(grid), "explain")
        assert proba.scored == 8 and explain.scored == 8
        assert labels == model.predict(frame).tolist()
        assert all(isinstance(v, float) for v in proba.values) and all(isinstance(v, tuple) for v in explain.values)
        assert scorer.score(copy(grid), "proba").values == proba.values
        assert scorer.score(copy(grid), "explain").values == explain.values
        assert scorer.score(copy(grid), "predict").values == labels


def test_another_endpoint_sharing_the_cache_object_gets_none_of_its_answers(start_endpoint: Any) -> None:
    up, down = start_endpoint(), start_endpoint()
    down.stop()
    grid = excel_grid(rows(5))
    cache = RowCache()
    with ScoringClient(up.scoring_uri, key=PRIMARY) as one:
        ExcelScorer(one, cache).score(grid)
    with ScoringClient(down.scoring_uri, key=PRIMARY, max_retries=0) as other:
        other._contract = one.contract  # type: ignore[attr-defined]  # the same model, so only the URL differs
        result = ExcelScorer(other, cache).score(copy(grid))
    assert result.failed == 5 and all(str(v).startswith("error: ") for v in result.values)


def test_another_key_gets_none_of_the_answers(endpoint: Any, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.key", tmp_path / "bad.key"
    good.write_text(PRIMARY)
    bad.write_text("not-the-key")
    grid = excel_grid(rows(5))
    scorers = Scorers()
    try:
        with_good = scorers.get(Settings(endpoint=endpoint.scoring_uri, key_file=str(good)), env={})
        assert with_good.score(grid).scored == 5
        with_bad = scorers.get(Settings(endpoint=endpoint.scoring_uri, key_file=str(bad)), env={})
        assert with_bad is not with_good
        try:
            refused = with_bad.score(copy(grid)).values
        except Exception as exc:  # refused before any row is scored: also none of the other key's answers
            refused = [f"error: {exc}"] * 5
        assert all(str(v).startswith("error: ") for v in refused)
        assert with_good.score(copy(grid)).cached == 5
    finally:
        scorers.close()


def test_a_new_key_in_the_environment_gets_a_scorer_and_cache_of_its_own(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BANKSCORE_KEY_FILE", raising=False)
    monkeypatch.setenv("BANKSCORE_KEY", PRIMARY)
    grid = excel_grid(rows(5))
    scorers = Scorers()
    try:
        settings = Settings(endpoint=endpoint.scoring_uri)
        with_good = scorers.get(settings)
        assert with_good.score(grid).scored == 5
        monkeypatch.setenv("BANKSCORE_KEY", "not-the-key")
        with_bad = scorers.get(settings)
        assert with_bad is not with_good
        try:
            refused = with_bad.score(copy(grid)).values
        except Exception as exc:  # refused before any row is scored: also none of the other key's answers
            refused = [f"error: {exc}"] * 5
        assert all(str(v).startswith("error: ") for v in refused)
        assert "not-the-key" not in repr(with_bad.client)
    finally:
        scorers.close()


def test_endpoint_failures_are_retried_not_memoised(start_endpoint: Any) -> None:
    endpoint = start_endpoint()
    frame = rows(10)
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY, max_retries=0) as client:
        scorer = ExcelScorer(client)
        scorer.score(excel_grid(frame))
        endpoint.stop()
        grown = excel_grid(pd.concat([frame, rows(1, seed=99)]))
        sent = requests(scorer)
        for _ in range(2):
            result = scorer.score(copy(grown))
            assert (result.cached, result.failed) == (10, 1) and str(result.values[10]).startswith("error: ")
    assert sent == [1, 1], "the failed row was asked for again, not answered from a memo"


def test_cell_error_texts_stay_per_row_through_the_memo(endpoint: Any, model: Model) -> None:
    frame = rows(6)
    grid = excel_grid(frame)
    grid[2][col("age")] = None
    grid[4][col("duration")] = "long"
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client)
        first = scorer.score(grid)
        again = scorer.score(copy(grid))
        assert again.values == first.values and (again.failed, again.cached) == (2, 4)
        assert again.values[1] == "error: age is empty"
        assert again.values[3] == "error: duration: 'long' is not a whole number"
        fixed = copy(grid)
        fixed[4][col("duration")] = 120.0
        result = scorer.score(fixed)
    assert (result.scored, result.cached, result.failed) == (1, 4, 1) and result.values[1] == "error: age is empty"


def test_the_memo_is_bounded_and_cleared_with_the_cache(start_endpoint: Any) -> None:
    endpoint = start_endpoint()
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client, RowCache(max_rows=100))
        grids = [excel_grid(rows(2, seed=s)) for s in range(40)]
        for grid in grids:
            scorer.score(grid)
        assert scorer.cache.ranges == scorer.cache.max_ranges == 32
        scorer.score(excel_grid(rows(150, seed=7)))
        assert scorer.cache.ranges == 32 and len(scorer.cache) == 100  # a range beyond the row bound isn't kept
        for seed in range(3):
            scorer.score(excel_grid(rows(40, seed=100 + seed)))
        assert scorer.cache.ranges == 2, "no more rows in all than the row cache holds: the oldest go, 2 x 40 stay"
        scorer.cache.clear()
        assert scorer.cache.ranges == 0
        endpoint.stop()
        result = scorer.score(copy(grids[-1]))
    assert result.failed == 2


# Cell values, Python-equal ones among them (1.0, 1, TRUE; 0.0, -0.0, FALSE) that the contract's coercion tells apart.
CELLS = st.sampled_from(
    [None, "", "  ", 1.0, 1, True, False, 0.0, -0.0, 2.5, float("nan"), 10**30, "2", " 3 ", "x", "admin.", "yes"]
)
DATES = st.sampled_from([dt.datetime(2020, 1, 1), dt.date(2020, 1, 1)])
TWINS = st.sampled_from([(1.0, True), (True, 1.0), (1, True), (0.0, False), (False, -0.0), (1.0, 1), (3.0, "3")])
EDITS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 19), TWINS | st.tuples(CELLS | DATES, CELLS)), min_size=1, max_size=3
)


def outcome(scorer: ExcelScorer, grid: list[list[Any]], what: Any) -> Any:
    try:
        result: RangeResult = scorer.score(copy(grid), what)
    except RangeError as exc:
        return ("range error", str(exc))
    return (result.values, result.scored, result.cached, result.failed, result.ignored)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(edits=EDITS, what=st.sampled_from(["predict", "proba"]))
def test_the_memo_answers_exactly_as_the_per_row_cache(endpoint: Any, edits: Any, what: Any) -> None:
    """Edit cells one at a time (headers too), recalculating twice after each: with and without the memo, the same."""
    grid = excel_grid(rows(4, seed=3))
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        memo, plain = ExcelScorer(client), ExcelScorer(client, RowCache())
        plain.cache.max_ranges = 0
        for row, column, values in [(1, 0, (grid[1][0], grid[1][0])), *edits]:
            for value in values:  # one value, then another (often one Python holds equal to it)
                grid[row][column] = value
                for _ in range(2):
                    assert outcome(memo, grid, what) == outcome(plain, grid, what)
        assert memo.cache.ranges > 0 and plain.cache.ranges == 0


def test_the_digest_tells_apart_what_coercion_does_in_any_chunk() -> None:
    from bankscore.excel.core import _digest

    grid = copy(excel_grid(rows(5)))
    for chunk in (1, 2, 10_000):
        assert _digest(grid, chunk) == _digest(copy(grid), chunk)
        for row, value in ((5, True), (3, 1), (1, -0.0), (0, "campaign ")):
            edited = copy(grid)
            edited[row][col("campaign")] = value
            assert _digest(edited, chunk) != _digest(grid, chunk), (chunk, row, value)
        assert _digest(grid[:-1], chunk) != _digest(grid, chunk)
    assert _digest([[object()]]) is not None and _digest([[lambda: 1]]) is None  # unpicklable: the per-row path
