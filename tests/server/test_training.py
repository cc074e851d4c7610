"""`bankscore train`: AutoML-like leaderboard, a complete model directory, clear errors for bad tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bankscore.bankmarketing.schema import CATEGORY_LEVELS, COLUMN_NAMES
from bankscore.bankmarketing.synthetic import generate
from bankscore.cli import app
from bankscore.server import runner
from bankscore.server.errors import ModelLoadError, TrainingDataError
from bankscore.server.model import load_model
from bankscore.server.training import read_training_csv, train
from tests.support.common import REAL_DATA

cli = CliRunner()


def test_cli_trains_synthetic_and_writes_a_complete_model_directory(tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = cli.invoke(app, ["train", "--rows", "4000", "--folds", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("LightGBM", "LogisticRegression", "VotingEnsemble", "AUC_weighted", "fit s/fold"):
        assert name in result.output
    assert {p.name for p in out.iterdir()} >= {"model.json", "schema.json", "metrics.json", "report.html"}
    assert f"Training report: {(out / 'report.html').resolve()}" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    names = [c["name"] for c in metrics["candidates"]]
    assert len(names) == 4 and metrics["winner"] in names
    aucs = [c["AUC_weighted"] for c in metrics["candidates"]]
    assert aucs == sorted(aucs, reverse=True) and metrics["candidates"][0]["name"] == metrics["winner"]
    for candidate in metrics["candidates"]:
        assert len(candidate["folds"]) == 3
        assert 0.5 < candidate["AUC_weighted"] <= 1 and 0.5 < candidate["accuracy"] <= 1
        assert candidate["fit_seconds"] > 0
    importance = metrics["feature_importance"]
    assert set(importance) == set(COLUMN_NAMES) and sum(importance.values()) == pytest.approx(1, abs=1e-4)
    schema = json.loads((out / "schema.json").read_text())
    assert [c["name"] for c in schema["columns"]] == list(COLUMN_NAMES)
    assert schema["levels"]["job"] == sorted(CATEGORY_LEVELS["job"])
    model = load_model(out)
    assert model.classes == ("no", "yes") and model.name == metrics["winner"]


def test_training_is_deterministic_and_model_roundtrips(tmp_path: Path) -> None:
    frame = generate(3_000, seed=5)
    a = train(frame, folds=3, candidates=["LightGBM", "LogisticRegression"])
    b = train(frame, folds=3, candidates=["LightGBM", "LogisticRegression"])
    assert [c.auc_weighted for c in a.leaderboard] == [c.auc_weighted for c in b.leaderboard]
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert load_model(tmp_path / "a").version == load_model(tmp_path / "b").version
    rows = generate(500, seed=9, label=False)
    np.testing.assert_array_equal(a.model.predict_proba(rows), load_model(tmp_path / "a").predict_proba(rows))


@pytest.mark.parametrize("candidate", ["LightGBM", "LogisticRegression", "VotingEnsemble", "LightGBM (extra trees)"])
def test_each_candidate_learns_and_survives_a_roundtrip(tmp_path: Path, candidate: str) -> None:
    frame = generate(3_000, seed=2)
    result = train(frame, folds=2, candidates=[candidate])
    assert result.model.name == candidate
    assert result.winner.auc_weighted > 0.75, "far better than chance on learnable data"
    result.save(tmp_path / "m")
    rows = generate(300, seed=4, label=False)
    np.testing.assert_allclose(load_model(tmp_path / "m").predict_proba(rows), result.model.predict_proba(rows))


def test_saving_over_an_existing_model_replaces_it_whole(tmp_path: Path) -> None:
    out = tmp_path / "m"
    train(generate(2_000, seed=1), folds=2, candidates=["LogisticRegression"]).save(out)
    train(generate(2_000, seed=1), folds=2, candidates=["LightGBM"]).save(out)
    assert load_model(out).name == "LightGBM"
    assert not list(out.glob("*.0.lightgbm.txt")), "no leftovers from the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["m"], "no temporary directories left behind"


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


def _bad_tables() -> list[tuple[str, object, list[str]]]:
    good = generate(200, seed=3)
    wrong_type = good.astype({"age": object}).copy()
    wrong_type.loc[7, "age"] = "forty"
    fraction = good.astype({"campaign": float}).copy()
    fraction.loc[3, "campaign"] = 1.5
    empty_cell = good.copy()
    empty_cell.loc[12, "euribor3m"] = np.nan
    one_class = good.assign(y="no")
    return [
        ("missing label", good.drop(columns="y"), ["label column 'y' is missing"]),
        ("missing column", good.drop(columns=["age", "pdays"]), ["missing column(s) age, pdays"]),
        ("unknown column", good.assign(customer_id=1), ["unknown column(s) customer_id"]),
        ("wrong type", wrong_type, ["row 8", "'age'", "'forty'", "whole number"]),
        ("fraction in int", fraction, ["row 4", "'campaign'", "1.5"]),
        ("empty cell", empty_cell, ["row 13", "'euribor3m'", "empty value"]),
        ("one class", one_class, ["exactly two classes"]),
        ("header only", good.iloc[:0], ["no rows"]),
        ("empty file", "", ["is empty"]),
        ("not utf-8", b"age,job\n\xff\xfe,1\n", ["not UTF-8"]),
    ]


@pytest.mark.parametrize(("name", "table", "fragments"), _bad_tables(), ids=[c[0] for c in _bad_tables()])
def test_bad_training_tables_fail_clearly_and_write_nothing(
    tmp_path: Path, name: str, table: object, fragments: list[str]
) -> None:
    path = tmp_path / "train.csv"
    if isinstance(table, pd.DataFrame):
        table.to_csv(path, index=False)
    elif isinstance(table, bytes):
        path.write_bytes(table)
    else:
        path.write_text(str(table))
    with pytest.raises(TrainingDataError) as caught:
        read_training_csv(path)
    for fragment in fragments:
        assert fragment in str(caught.value)
    out = tmp_path / "model"
    result = cli.invoke(app, ["train", "--data", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_missing_training_file_is_a_usage_error(tmp_path: Path) -> None:
    result = cli.invoke(app, ["train", "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_label_option_reads_another_label_name(tmp_path: Path) -> None:
    path = _write(tmp_path, generate(600, seed=3).rename(columns={"y": "subscribed"}))
    frame = read_training_csv(path, label="subscribed")
    assert list(frame.columns) == [*COLUMN_NAMES, "y"]


def test_load_model_errors_are_clear(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="bankscore train"):
        load_model(tmp_path)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.json").write_text("{not json")
    (damaged / "schema.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="damaged"):
        load_model(damaged)


def test_default_model_is_trained_once_then_served_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runner.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "SYNTHETIC_ROWS", 500)  # what is cached matters here, not its quality
    said: list[str] = []
    first = runner.default_model_dir(announce=said.append)
    assert len(said) == 1 and str(first) in said[0]
    stamp = (first / "model.json").stat().st_mtime_ns
    second = runner.default_model_dir(announce=said.append)
    assert second == first and len(said) == 1
    assert (first / "model.json").stat().st_mtime_ns == stamp
    assert load_model(first).classes == ("no", "yes")


@pytest.mark.skipif(not REAL_DATA.is_file(), reason=f"real data not found at {REAL_DATA}")
def test_quality_on_the_real_bank_marketing_file() -> None:
    """The bar Azure AutoML's VotingEnsemble set on this data: accuracy ≈ 0.917, AUC ≈ 0.947.

    The two candidates that contend for first place on this file, cross-validated as `bankscore train` does (5
    folds, seed 0: a candidate's folds and scores don't depend on which others run). The other two trail them
    here (AUC_weighted 0.946 and 0.935, against 0.949) and took most of the time: logistic regression is the
    slowest to fit on 33,000 rows.
    """
    result = train(read_training_csv(REAL_DATA), folds=5, seed=0, candidates=["LightGBM", "VotingEnsemble"])
    winner = result.winner
    assert winner.accuracy >= 0.915
    assert winner.auc_weighted >= 0.945
    assert result.rows == 32_950


def test_candidates_option_takes_a_comma_list_or_repeats_and_names_unknown_ones(tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = ["train", "--rows", "400", "--folds", "2", "--out", str(out)]
    result = cli.invoke(app, [*args, "--candidates", "LogisticRegression, LightGBM"])
    assert result.exit_code == 0, result.output
    names = {c["name"] for c in json.loads((out / "metrics.json").read_text())["candidates"]}
    assert names == {"LogisticRegression", "LightGBM"}
    result = cli.invoke(app, [*args, "--candidates", "LogisticRegression", "--candidates", "LightGBM (extra trees)"])
    assert result.exit_code == 0, result.output
    names = {c["name"] for c in json.loads((out / "metrics.json").read_text())["candidates"]}
    assert names == {"LogisticRegression", "LightGBM (extra trees)"}
    result = cli.invoke(app, [*args, "--candidates", "LogisticRegression,XGBoost"])
    assert result.exit_code == 2 and "unknown candidate(s) ['XGBoost']" in result.output
