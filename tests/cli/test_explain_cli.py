"""Explanations end to end against the embedded endpoint: the client, `bankscore score --explain`, Excel, Dask
and `bankscore importance` all give the endpoint's exact numbers, readably."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bankscore import AsyncScoringClient, ContractError, InputValidationError, ScoringClient
from bankscore.bankmarketing.schema import COLUMN_NAMES
from bankscore.bankmarketing.synthetic import generate
from bankscore.cli import app
from bankscore.explanations import BASE_COLUMN
from bankscore.files import JobInterrupted, JournalMismatch
from bankscore.files.scoring import score_file
from tests.support.common import PRIMARY

ROWS = generate(300, seed=21, label=False)
cli = CliRunner()
KEY_ENV = {"BANKSCORE_KEY": PRIMARY}


def _logit(p: pd.Series) -> pd.Series:
    return np.log(p / (1 - p))


def test_client_explain_is_additive_matches_predict_proba_and_ranks_reasons(endpoint: Any) -> None:
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY, batch_rows=100) as client:
        explained = client.explain(ROWS, top=3)
        proba = client.predict_proba(ROWS)
        labels = client.predict(ROWS)
    assert explained.index.equals(ROWS.index)
    assert explained["prediction"].tolist() == labels.tolist()
    np.testing.assert_allclose(explained["proba_yes"], proba["yes"], atol=1e-9)
    total = explained[BASE_COLUMN] + explained[list(COLUMN_NAMES)].sum(axis=1)
    np.testing.assert_allclose(total, _logit(proba["yes"]), atol=1e-6)
    first = explained.iloc[0]
    ranked = sorted(COLUMN_NAMES, key=lambda c: -abs(first[c]))
    assert first["reason_1"].startswith(f"{ranked[0]} ")
    assert first["reason_1"].endswith(f"({first[ranked[0]]:+.2f})")
    assert first["reason_2"].startswith(f"{ranked[1]} ")


def test_the_async_client_explains_alike(endpoint: Any) -> None:
    async def main() -> pd.DataFrame:
        async with AsyncScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
            return await client.explain(ROWS.head(40), top=2)

    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        expected = client.explain(ROWS.head(40), top=2)
    pd.testing.assert_frame_equal(asyncio.run(main()), expected)


def test_bad_rows_and_a_service_that_cannot_explain(endpoint: Any, data_endpoint: Any) -> None:
    bad = ROWS.head(3).copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[bad.index[1], "age"] = "forty"
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client, pytest.raises(InputValidationError) as caught:
        client.explain(bad)
    assert caught.value.problems[0].column == "age" and caught.value.problems[0].row == bad.index[1]
    with ScoringClient(data_endpoint.scoring_uri, key=PRIMARY) as client, pytest.raises(ContractError) as refused:
        client.explain(ROWS.head(2))
    message = str(refused.value)
    assert "can't explain" in message and "declares predict, predict_proba only" in message
    assert "must be a JSON object" in message  # the service's own words, kept


def test_score_explain_writes_reasons_and_contributions_and_resumes(endpoint: Any, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    ROWS.to_csv(source, index=False)
    target = tmp_path / "out.csv"
    done = cli.invoke(
        app,
        ["score", str(source), "-o", str(target), "--endpoint", endpoint.scoring_uri, "--explain", "2",
         "--contributions", "--chunk-rows", "100"],
        env=KEY_ENV, catch_exceptions=False,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    written = pd.read_csv(target)
    expected_columns = [*ROWS.columns, "prediction", "proba_yes", "reason_1", "reason_2", BASE_COLUMN]
    assert list(written.columns[: len(expected_columns)]) == expected_columns
    assert list(written.columns[len(expected_columns) :]) == [f"contribution_{c}" for c in COLUMN_NAMES]
    contributions = written[[f"contribution_{c}" for c in COLUMN_NAMES]].sum(axis=1)
    np.testing.assert_allclose(written[BASE_COLUMN] + contributions, _logit(written["proba_yes"]), atol=1e-6)
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        assert written["reason_1"].tolist() == client.explain(ROWS, top=1)["reason_1"].tolist()

        # Stopped in the second chunk (the first is written), then the same call again: it resumes and writes
        # the same bytes.
        resumed_target = tmp_path / "resumed.csv"
        seen: list[int] = []

        def stop_after_first_chunk(rows: int, _total: int | None) -> None:
            if rows >= 200:
                raise KeyboardInterrupt

        with pytest.raises(JobInterrupted):
            score_file(client, source, resumed_target, explain=2, contributions=True, chunk_rows=100,
                       progress=stop_after_first_chunk)  # fmt: skip
        with pytest.raises(JournalMismatch, match="explain"):
            score_file(client, source, resumed_target, explain=3, contributions=True, chunk_rows=100)
        score_file(client, source, resumed_target, explain=2, contributions=True, chunk_rows=100,
                   on_resume=lambda found: seen.append(found.rows))  # fmt: skip
    assert seen and seen[0] >= 100
    assert resumed_target.read_bytes() == target.read_bytes()


def test_score_explain_usage_mistakes(endpoint: Any, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    ROWS.head(5).to_csv(source, index=False)
    both = cli.invoke(app, ["score", str(source), "--endpoint", endpoint.scoring_uri, "--explain", "2", "--proba"],
                      env=KEY_ENV)  # fmt: skip
    assert both.exit_code == 2 and "drop --proba" in both.output
    alone = cli.invoke(app, ["score", str(source), "--endpoint", endpoint.scoring_uri, "--contributions"], env=KEY_ENV)
    assert alone.exit_code == 2 and "--explain" in alone.output


def test_excel_explain_spills_reasons_and_answers_again_from_the_cache(endpoint: Any) -> None:
    from bankscore.excel.core import ExcelScorer

    frame = ROWS.head(25)
    grid = [list(frame.columns), *(list(r) for r in frame.itertuples(index=False))]
    grid[4][COLUMN_NAMES.index("duration")] = "long"
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client)
        block = scorer.score(grid, "explain").reasons(3)
        again = scorer.score(grid, "explain")
        expected = client.explain(frame.drop(frame.index[3]), top=3)
    assert block[0] == ["reason_1", "reason_2", "reason_3"]
    assert block[4][0].startswith("error: duration") and block[4][1:] == ["", ""]
    good = [row for i, row in enumerate(block[1:]) if i != 3]
    assert good == expected[["reason_1", "reason_2", "reason_3"]].values.tolist()
    assert again.cached == 24 and again.scored == 0


def test_dask_explain_matches_the_client(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dask.dataframe as dd

    from bankscore.integrations.dask import explain

    monkeypatch.setenv("BANKSCORE_KEY", PRIMARY)
    frame = ROWS.head(60)
    got = explain(dd.from_pandas(frame, npartitions=3), top=2, endpoint=endpoint.scoring_uri).compute(
        scheduler="threads"
    )
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        expected = client.explain(frame, top=2)
    pd.testing.assert_frame_equal(got, expected)


def test_importance_prints_mean_contributions_beside_the_trainers_gain(endpoint: Any, model_dir: Path) -> None:
    done = cli.invoke(
        app, ["importance", "--endpoint", endpoint.scoring_uri, "--rows", "200", "--model", str(model_dir)],
        env=KEY_ENV, catch_exceptions=False,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "mean |contribution|" in done.output and "trainer (gain) share" in done.output
    listed = [line for line in done.output.splitlines() if any(f" {c} " in line for c in COLUMN_NAMES)]
    assert len(listed) == 20
    shares = [float(line.split("│")[4].strip().rstrip("%")) for line in listed]
    assert math.isclose(sum(shares), 100, abs_tol=1.5) and shares == sorted(shares, reverse=True)
