"""The synthetic Bank Marketing generator must stay deterministic, schema-exact and realistic.

Realistic means: the real data's marginals and dependencies, and a label that a model can learn well but
not perfectly. The last two tests compare with the real file when it is available (never in the package).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from bankscore.bankmarketing import figures, synthetic
from bankscore.bankmarketing.schema import CATEGORY_LEVELS, CLASSES, COLUMN_NAMES, COLUMN_TYPES, LABEL
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import REAL_DATA

needs_real_data = pytest.mark.skipif(
    not REAL_DATA.is_file(), reason=f"no real Bank Marketing file at {REAL_DATA} (set BANKSCORE_REAL_DATA)"
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate(50_000, seed=0)


def yes(frame: pd.DataFrame) -> pd.Series:
    return frame[LABEL] == "yes"


def as_model_input(frame: pd.DataFrame) -> pd.DataFrame:
    x = frame[list(COLUMN_NAMES)].copy()
    for column, levels in CATEGORY_LEVELS.items():
        x[column] = pd.Categorical(x[column], categories=levels)
    return x


def train(frame: pd.DataFrame) -> HistGradientBoostingClassifier:
    model = HistGradientBoostingClassifier(max_iter=100, categorical_features="from_dtype", random_state=0)
    return model.fit(as_model_input(frame), yes(frame))


def auc(model: HistGradientBoostingClassifier, frame: pd.DataFrame) -> float:
    return float(roc_auc_score(yes(frame), model.predict_proba(as_model_input(frame))[:, 1]))


# --- determinism and shape -------------------------------------------------------------------------------


def test_same_seed_gives_the_same_frame() -> None:
    pd.testing.assert_frame_equal(generate(3_000, seed=7), generate(3_000, seed=7))


def test_different_seeds_give_different_frames() -> None:
    a, b = generate(3_000, seed=1), generate(3_000, seed=2)
    assert not a.equals(b)
    assert (a["duration"] != b["duration"]).mean() > 0.9


def test_label_flag_only_drops_the_label() -> None:
    with_label = generate(2_000, seed=3)
    pd.testing.assert_frame_equal(generate(2_000, seed=3, label=False), with_label.drop(columns=LABEL))


def test_columns_order_and_dtypes(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == [*COLUMN_NAMES, LABEL]
    expected = {"int64": "int64", "double": "float64", "string": "object"}
    for name in COLUMN_NAMES:
        assert str(frame[name].dtype) == expected[COLUMN_TYPES[name]], name
    assert frame[LABEL].dtype == object
    strings = [c for c in COLUMN_NAMES if COLUMN_TYPES[c] == "string"]
    assert all(type(v) is str for v in frame.iloc[0][strings])
    assert not frame.isna().any().any()


def test_row_counts_edge_cases() -> None:
    empty = generate(0)
    assert empty.shape == (0, len(COLUMN_NAMES) + 1)
    assert empty["age"].dtype == np.int64
    assert len(generate(1, seed=5)) == 1
    with pytest.raises(ValueError, match="n_rows"):
        generate(-1)


@pytest.mark.parametrize("seed", range(5))
def test_every_level_appears_in_5000_rows(seed: int) -> None:
    small = generate(5_000, seed=seed)
    for column, levels in CATEGORY_LEVELS.items():
        assert set(small[column]) == set(levels), column
    assert set(small[LABEL]) == set(CLASSES)


def test_value_ranges(frame: pd.DataFrame) -> None:
    assert frame["age"].between(17, 98).all()
    assert frame["duration"].between(0, 4918).all()
    assert frame["campaign"].between(1, 56).all()
    assert frame["previous"].between(0, 7).all()
    pdays = frame["pdays"]
    assert (pdays.between(0, 27) | (pdays == 999)).all()
    assert frame["euribor3m"].between(0.634, 5.045).all()
    assert frame["nr.employed"].between(4963.6, 5228.1).all()


def test_macro_columns_come_as_real_periods(frame: pd.DataFrame) -> None:
    periods = {row[:5] for row in figures.PERIODS}
    keys = ["month", "emp.var.rate", "cons.price.idx", "cons.conf.idx", "nr.employed"]
    drawn = set(frame[keys].itertuples(index=False, name=None))
    assert drawn <= periods
    assert len(drawn) >= 25  # the one 8-row period (Dec 2008) may be missed
    assert frame["euribor3m"].corr(frame["nr.employed"]) > 0.9
    assert frame["emp.var.rate"].corr(frame["euribor3m"]) > 0.9


def test_contact_history_is_consistent(frame: pd.DataFrame) -> None:
    contacted = frame["poutcome"] != "nonexistent"
    assert ((frame["previous"] > 0) == contacted).all()
    pdays_set = frame["pdays"] != 999
    assert not (pdays_set & ~contacted).any()
    assert pdays_set[frame["poutcome"] == "success"].mean() > 0.9
    assert pdays_set[frame["poutcome"] == "failure"].mean() < 0.1


def test_client_profile_dependencies(frame: pd.DataFrame) -> None:
    age_by_job = frame.groupby("job")["age"].median()
    assert age_by_job["student"] < 30 < 55 < age_by_job["retired"]
    single = frame["marital"] == "single"
    assert single[frame["age"] < 25].mean() > 0.7
    assert single[frame["age"] >= 60].mean() < 0.1
    education = frame.groupby("job")["education"].value_counts(normalize=True)
    assert education["management", "university.degree"] > 0.5
    assert education["blue-collar"][["basic.4y", "basic.6y", "basic.9y"]].sum() > 0.6
    unknown_default = frame["default"] == "unknown"
    by_education = unknown_default.groupby(frame["education"]).mean()
    assert by_education["basic.4y"] > 2 * by_education["university.degree"]
    assert ((frame["housing"] == "unknown") == (frame["loan"] == "unknown")).all()


def test_heavy_tails(frame: pd.DataFrame) -> None:
    duration, campaign = frame["duration"], frame["campaign"]
    assert 150 < duration.median() < 210
    assert duration.quantile(0.99) > 5 * duration.median()
    assert campaign.mode()[0] == 1
    assert campaign.max() >= 20


def test_yes_rate_is_realistic() -> None:
    for seed in (0, 1):
        assert 0.10 <= yes(generate(seed=seed)).mean() <= 0.125


def test_label_follows_the_real_drivers(frame: pd.DataFrame) -> None:
    y = yes(frame)
    long_call = frame["duration"] > frame["duration"].quantile(0.75)
    short_call = frame["duration"] < frame["duration"].quantile(0.25)
    assert y[long_call].mean() > 5 * y[short_call].mean()
    assert y[frame["nr.employed"] < 5100].mean() > 3 * y[frame["nr.employed"] >= 5100].mean()
    assert y[frame["poutcome"] == "success"].mean() > 3 * y[frame["poutcome"] == "nonexistent"].mean()
    assert y[frame["month"].isin(["mar", "sep", "oct", "dec"])].mean() > 2 * y.mean()


@pytest.fixture(scope="module")
def synthetic_model() -> HistGradientBoostingClassifier:
    return train(generate(20_000, seed=10))


def test_label_is_learnable_but_not_trivially(synthetic_model: HistGradientBoostingClassifier) -> None:
    assert 0.88 <= auc(synthetic_model, generate(20_000, seed=11)) <= 0.96
    true_log_odds = synthetic.linear_predictor(test := generate(20_000, seed=12))
    assert 0.88 <= roc_auc_score(yes(test), true_log_odds) <= 0.96


# --- against the real file (skipped where it is absent) ----------------------------------------------


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return pd.read_csv(REAL_DATA)


@needs_real_data
def test_marginals_match_the_real_data(real: pd.DataFrame) -> None:
    fake = generate(100_000, seed=4)
    for column in [*CATEGORY_LEVELS, LABEL]:
        diff = fake[column].value_counts(normalize=True) - real[column].value_counts(normalize=True)
        assert diff.abs().max() < 0.01, column
    for column in ("age", "duration", "campaign", "euribor3m", "nr.employed"):
        for q in (0.1, 0.5, 0.9):
            fake_q, real_q = fake[column].quantile(q), real[column].quantile(q)
            assert abs(fake_q - real_q) <= 0.05 * abs(real_q) + 1, (column, q)


@needs_real_data
def test_model_trained_on_synthetic_scores_the_real_data(
    synthetic_model: HistGradientBoostingClassifier, real: pd.DataFrame
) -> None:
    assert auc(synthetic_model, real) >= 0.80
