"""Synthetic Bank Marketing rows that look like the real data without containing any of it.

Offline demos, tests, load tests and the embedded endpoint need realistic rows and a realistic label, but
the UCI file must not ship with the project. Every figure drawn from (in `figures`) is an aggregate of
the real training file (frequency tables, quantiles, a small logistic model), reproducible with
``scripts/derive_synthetic_figures.py``. Rows are drawn along a short causal chain so that the real
dependencies survive:

* a macro-economic *period* (month + the five correlated macro columns) with its real frequency; the
  period also sets the share of telephone contacts and of previously contacted clients;
* job -> age -> marital status, job -> education -> default, housing and loan jointly;
* duration and campaign from their heavy-tailed real distributions;
* the label from a logistic model fitted on the real rows, with the intercept calibrated to the real
  yes rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .figures import (
    AGE_PROBS,
    AGE_QUANTILES_BY_JOB,
    CAMPAIGN_HEAD,
    CAMPAIGN_HEAD_COUNTS,
    CAMPAIGN_TAIL,
    DAY_OF_WEEK_COUNTS,
    DEFAULT_COUNTS_BY_EDUCATION,
    DURATION_PROBS,
    DURATION_QUANTILES,
    EDUCATION_COUNTS_BY_JOB,
    EURIBOR_PROBS,
    HOUSING_LOAN_COUNTS,
    JOB_COUNTS,
    LOGIT_INTERCEPT,
    LOGIT_LEVELS,
    LOGIT_TERMS,
    MARITAL_COUNTS_BY_AGE,
    MIN_ROWS_FOR_ALL_LEVELS,
    PDAYS_COUNTS,
    PDAYS_SET_BY_POUTCOME,
    PERIODS,
    PREVIOUS_COUNTS_BY_POUTCOME,
    RARE_LEVEL_COLUMNS,
)
from .schema import CATEGORY_LEVELS, CLASSES, COLUMN_NAMES, COLUMN_TYPES, LABEL

__all__ = ["generate", "linear_predictor"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def logit_terms(frame: Mapping[str, ArrayLike] | pd.DataFrame) -> dict[str, FloatArray]:
    """The numeric inputs of the logistic model, keyed as in LOGIT_TERMS."""
    nr_employed = np.asarray(frame["nr.employed"], dtype=np.float64)
    return {
        "log1p(duration)": np.log1p(np.asarray(frame["duration"], dtype=np.float64)),
        "log(campaign)": np.log(np.asarray(frame["campaign"], dtype=np.float64)),
        "pdays != 999": (np.asarray(frame["pdays"]) != 999).astype(np.float64),
        "(nr.employed - 5000) / 100": (nr_employed - 5000.0) / 100.0,
    }


def _eta(
    codes: Mapping[str, IntArray],
    terms: Mapping[str, FloatArray],
    intercept: float,
    level_coefs: Mapping[str, Mapping[str, float]],
    term_coefs: Mapping[str, float],
) -> FloatArray:
    eta = np.full(len(next(iter(terms.values()))), intercept, dtype=np.float64)
    for column, coefs in level_coefs.items():
        by_code = np.array([coefs.get(level, 0.0) for level in CATEGORY_LEVELS[column]] + [0.0])
        eta += by_code[codes[column]]  # code -1 (unseen level) picks the trailing 0.0
    for name, coef in term_coefs.items():
        eta += coef * terms[name]
    return eta


def linear_predictor(
    frame: pd.DataFrame,
    intercept: float = LOGIT_INTERCEPT,
    levels: Mapping[str, Mapping[str, float]] = LOGIT_LEVELS,
    terms: Mapping[str, float] = LOGIT_TERMS,
) -> FloatArray:
    """Log-odds of y == "yes" under the generator's label model, for any frame with the schema's columns.

    On synthetic rows this is the true model, so it gives the best AUC any classifier can reach.
    """
    codes = {
        column: np.asarray(pd.Categorical(frame[column], categories=CATEGORY_LEVELS[column]).codes, np.intp)
        for column in levels
    }
    return _eta(codes, logit_terms(frame), intercept, levels, terms)


class _Tables(NamedTuple):
    period_p: FloatArray
    period_month: IntArray
    period_macro: dict[str, FloatArray]
    period_euribor: FloatArray
    period_telephone: FloatArray
    period_previous: FloatArray
    period_success: FloatArray
    day_p: FloatArray
    job_p: FloatArray
    age_by_job: FloatArray
    marital_bands: IntArray
    marital_by_band: FloatArray
    education_by_job: FloatArray
    default_by_education: FloatArray
    housing_loan: tuple[IntArray, IntArray, FloatArray]
    previous_by_poutcome: FloatArray  # rows: failure, success
    pdays_set: FloatArray  # by poutcome code
    pdays_values: IntArray
    pdays_p: FloatArray
    campaign_p: FloatArray
    log_duration: FloatArray


def _normalised(counts: ArrayLike) -> FloatArray:
    a = np.asarray(counts, dtype=np.float64)
    out: FloatArray = a / a.sum(axis=-1, keepdims=True)
    return out


def _code(column: str, level: str) -> int:
    return CATEGORY_LEVELS[column].index(level)


@cache
def _tables() -> _Tables:
    """Turn the readable tables above into arrays, once."""
    month, evr, cpi, cci, nr, rows, tel, prev, succ, eur = zip(*PERIODS, strict=True)
    rows_a = np.asarray(rows, dtype=np.float64)
    head, (tail_rows, exponent, top) = np.asarray(CAMPAIGN_HEAD_COUNTS, dtype=np.float64), CAMPAIGN_TAIL
    tail = np.arange(CAMPAIGN_HEAD + 1, top + 1, dtype=np.float64) ** -exponent
    campaign = np.concatenate([head, tail_rows * tail / tail.sum()])
    housing_loan = list(HOUSING_LOAN_COUNTS.items())
    pdays_set = np.zeros(len(CATEGORY_LEVELS["poutcome"]), dtype=np.float64)
    for poutcome, (with_pdays, rows_of_poutcome) in PDAYS_SET_BY_POUTCOME.items():
        pdays_set[_code("poutcome", poutcome)] = with_pdays / rows_of_poutcome
    return _Tables(
        period_p=rows_a / rows_a.sum(),
        period_month=np.array([_code("month", m) for m in month], dtype=np.intp),
        period_macro={
            "emp.var.rate": np.asarray(evr, np.float64),
            "cons.price.idx": np.asarray(cpi, np.float64),
            "cons.conf.idx": np.asarray(cci, np.float64),
            "nr.employed": np.asarray(nr, np.float64),
        },
        period_euribor=np.asarray(eur, dtype=np.float64),
        period_telephone=np.asarray(tel, dtype=np.float64) / rows_a,
        period_previous=np.asarray(prev, dtype=np.float64) / rows_a,
        period_success=np.asarray(succ, dtype=np.float64) / np.maximum(np.asarray(prev, np.float64), 1.0),
        day_p=_normalised(DAY_OF_WEEK_COUNTS),
        job_p=_normalised(JOB_COUNTS),
        age_by_job=np.array([AGE_QUANTILES_BY_JOB[j] for j in CATEGORY_LEVELS["job"]], dtype=np.float64),
        marital_bands=np.array([upper for upper, _ in MARITAL_COUNTS_BY_AGE[:-1]], dtype=np.intp),
        marital_by_band=_normalised([c for _, c in MARITAL_COUNTS_BY_AGE]),
        education_by_job=_normalised([EDUCATION_COUNTS_BY_JOB[j] for j in CATEGORY_LEVELS["job"]]),
        default_by_education=_normalised([DEFAULT_COUNTS_BY_EDUCATION[e] for e in CATEGORY_LEVELS["education"]]),
        housing_loan=(
            np.array([_code("housing", h) for (h, _), _ in housing_loan], dtype=np.intp),
            np.array([_code("loan", lo) for (_, lo), _ in housing_loan], dtype=np.intp),
            _normalised([n for _, n in housing_loan]),
        ),
        previous_by_poutcome=_normalised(
            [PREVIOUS_COUNTS_BY_POUTCOME["failure"], PREVIOUS_COUNTS_BY_POUTCOME["success"]]
        ),
        pdays_set=pdays_set,
        pdays_values=np.array(list(PDAYS_COUNTS), dtype=np.intp),
        pdays_p=_normalised(list(PDAYS_COUNTS.values())),
        campaign_p=campaign / campaign.sum(),
        log_duration=np.log1p(np.asarray(DURATION_QUANTILES, dtype=np.float64)),
    )


def _conditional(rng: np.random.Generator, parent: IntArray, probs: FloatArray) -> IntArray:
    """One categorical draw per row from the row ``probs[parent[i]]``; loops over parents, not rows."""
    cumulative = np.cumsum(probs, axis=1)
    cumulative[:, -1] = 1.0
    u = rng.random(parent.size)
    out = np.empty(parent.size, dtype=np.intp)
    for g in range(probs.shape[0]):
        rows = parent == g
        out[rows] = np.searchsorted(cumulative[g], u[rows], side="right")
    return out


def _quantile_draw(
    rng: np.random.Generator, group: IntArray, probs: tuple[float, ...], table: FloatArray
) -> FloatArray:
    """Inverse-CDF draw, linear between the tabulated quantiles of each group."""
    u = rng.random(group.size)
    out = np.empty(group.size, dtype=np.float64)
    for g in range(table.shape[0]):
        rows = group == g
        out[rows] = np.interp(u[rows], probs, table[g])
    return out


def generate(n_rows: int = 32_950, *, seed: int = 0, label: bool = True) -> pd.DataFrame:
    """Draw ``n_rows`` synthetic Bank Marketing rows (schema column order, "y" last when ``label``).

    Deterministic in ``seed``; the feature columns do not depend on ``label``.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    t = _tables()
    rng = np.random.default_rng(seed)
    n = n_rows
    codes: dict[str, IntArray] = {}

    # The period: month and the five macro columns move together.
    period = rng.choice(t.period_p.size, size=n, p=t.period_p)
    codes["month"] = t.period_month[period]
    numeric: dict[str, NDArray[np.float64] | NDArray[np.int64]] = {
        name: values[period] for name, values in t.period_macro.items()
    }
    numeric["euribor3m"] = np.round(_quantile_draw(rng, period, EURIBOR_PROBS, t.period_euribor), 3)
    codes["contact"] = (rng.random(n) < t.period_telephone[period]).astype(np.intp)
    codes["day_of_week"] = rng.choice(t.day_p.size, size=n, p=t.day_p)

    # Contact history: previous > 0 exactly when poutcome is not "nonexistent".
    contacted_before = rng.random(n) < t.period_previous[period]
    success = contacted_before & (rng.random(n) < t.period_success[period])
    poutcome = np.where(
        success,
        _code("poutcome", "success"),
        np.where(contacted_before, _code("poutcome", "failure"), _code("poutcome", "nonexistent")),
    ).astype(np.intp)
    codes["poutcome"] = poutcome
    previous = _conditional(rng, success.astype(np.intp), t.previous_by_poutcome) + 1
    numeric["previous"] = np.where(contacted_before, previous, 0).astype(np.int64)
    pdays_set = rng.random(n) < t.pdays_set[poutcome]
    pdays = t.pdays_values[rng.choice(t.pdays_values.size, size=n, p=t.pdays_p)]
    numeric["pdays"] = np.where(pdays_set, pdays, 999).astype(np.int64)

    # The client: job -> age -> marital, job -> education -> default.
    codes["job"] = rng.choice(t.job_p.size, size=n, p=t.job_p)
    age = np.rint(_quantile_draw(rng, codes["job"], AGE_PROBS, t.age_by_job)).astype(np.int64)
    numeric["age"] = age
    age_band = np.searchsorted(t.marital_bands, age, side="left")
    codes["marital"] = _conditional(rng, age_band, t.marital_by_band)
    codes["education"] = _conditional(rng, codes["job"], t.education_by_job)
    codes["default"] = _conditional(rng, codes["education"], t.default_by_education)
    housing_codes, loan_codes, housing_loan_p = t.housing_loan
    pair = rng.choice(housing_loan_p.size, size=n, p=housing_loan_p)
    codes["housing"], codes["loan"] = housing_codes[pair], loan_codes[pair]

    # The call.
    numeric["campaign"] = (rng.choice(t.campaign_p.size, size=n, p=t.campaign_p) + 1).astype(np.int64)
    log_duration = np.interp(rng.random(n), DURATION_PROBS, t.log_duration)
    numeric["duration"] = np.rint(np.expm1(log_duration)).astype(np.int64)

    if n >= MIN_ROWS_FOR_ALL_LEVELS:
        for column in RARE_LEVEL_COLUMNS:
            present = np.bincount(codes[column], minlength=len(CATEGORY_LEVELS[column]))
            for level in np.flatnonzero(present == 0):
                codes[column][rng.integers(n)] = level

    data: dict[str, pd.Series] = {}
    for name in COLUMN_NAMES:
        if COLUMN_TYPES[name] == "string":
            levels = np.array(CATEGORY_LEVELS[name], dtype=object)
            data[name] = pd.Series(levels[codes[name]], dtype=object)
        elif COLUMN_TYPES[name] == "int64":
            data[name] = pd.Series(numeric[name], dtype=np.int64)
        else:
            data[name] = pd.Series(numeric[name], dtype=np.float64)
    if label:
        eta = _eta(codes, logit_terms(numeric), LOGIT_INTERCEPT, LOGIT_LEVELS, LOGIT_TERMS)
        yes = rng.random(n) < 1.0 / (1.0 + np.exp(-eta))
        data[LABEL] = pd.Series(np.array(CLASSES, dtype=object)[yes.astype(np.intp)], dtype=object)
    return pd.DataFrame(data, copy=False)
