"""Re-derive, from the real Bank Marketing training file, every figure hard-coded in bankscore.bankmarketing.figures.

The real rows must never enter the project, yet the synthetic generator has to look like them; this
script is the audit trail in between. It prints each aggregate table as a Python literal (ready to paste
into bankscore/bankmarketing/figures.py) and reports whether the module still carries the same figures.

    uv run python scripts/derive_synthetic_figures.py [path/to/bankmarketing_train.csv] [--evaluate]

--evaluate also trains models on synthetic data and scores them on the real file (about 20 s).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bankscore.bankmarketing import figures, synthetic  # noqa: E402
from bankscore.bankmarketing.schema import CATEGORY_LEVELS, COLUMN_NAMES, LABEL  # noqa: E402

DEFAULT_CSV = REPO_ROOT.parent / "shared" / "data" / "bankmarketing_train.csv"
MACRO = ("emp.var.rate", "cons.price.idx", "cons.conf.idx", "nr.employed")
MONTH_ORDER = ("mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def counts(series: pd.Series, levels: tuple[str, ...]) -> tuple[int, ...]:
    vc = series.value_counts()
    return tuple(int(vc.get(level, 0)) for level in levels)


def periods(df: pd.DataFrame) -> tuple[tuple[Any, ...], ...]:
    rows: list[tuple[Any, ...]] = []
    for _, g in df.groupby(["month", *MACRO]):
        eur = tuple(round(float(q), 3) for q in np.quantile(g["euribor3m"], figures.EURIBOR_PROBS))
        rows.append(
            (
                str(g["month"].iloc[0]),
                *(float(g[m].iloc[0]) for m in MACRO),
                len(g),
                int((g["contact"] == "telephone").sum()),
                int((g["previous"] > 0).sum()),
                int((g["poutcome"] == "success").sum()),
                eur,
            )
        )
    # Employment fell through 2008-2010, so this is close to chronological.
    rows.sort(key=lambda r: (-r[4], MONTH_ORDER.index(r[0])))
    return tuple(rows)


def by_group(df: pd.DataFrame, group: str, column: str) -> dict[str, tuple[int, ...]]:
    return {
        level: counts(df.loc[df[group] == level, column], CATEGORY_LEVELS[column]) for level in CATEGORY_LEVELS[group]
    }


def pdays_counts(df: pd.DataFrame) -> dict[int, int]:
    values, n = np.unique(df.loc[df["pdays"] != 999, "pdays"], return_counts=True)
    return {int(v): int(k) for v, k in zip(values, n, strict=True)}


def marital_by_age(df: pd.DataFrame) -> tuple[tuple[int, tuple[int, ...]], ...]:
    out = []
    lower = 0
    for upper in (*figures.MARITAL_AGE_BANDS, 200):
        band = df[(df["age"] > lower) & (df["age"] <= upper)]
        out.append((upper, counts(band["marital"], CATEGORY_LEVELS["marital"])))
        lower = upper
    return tuple(out)


def age_by_job(df: pd.DataFrame) -> dict[str, tuple[float, ...]]:
    ages = {job: df.loc[df["job"] == job, "age"] for job in CATEGORY_LEVELS["job"]}
    return {job: tuple(round(float(q), 1) for q in np.quantile(age, figures.AGE_PROBS)) for job, age in ages.items()}


def campaign(df: pd.DataFrame) -> tuple[tuple[int, ...], tuple[int, float, int]]:
    head = figures.CAMPAIGN_HEAD
    c = df["campaign"].to_numpy()
    head_counts = tuple(int((c == k).sum()) for k in range(1, head + 1))
    tail = c[c > head]
    # Discrete power law P(k) ∝ k^-a on head+1..max, fitted by maximum likelihood on a grid.
    support = np.arange(head + 1, int(c.max()) + 1)
    grid = np.arange(0.5, 8.0, 0.01)
    loglik = [-a * np.log(tail).sum() - len(tail) * np.log((support**-a).sum()) for a in grid]
    return head_counts, (len(tail), round(float(grid[int(np.argmax(loglik))]), 2), int(c.max()))


def duration(df: pd.DataFrame) -> tuple[float, ...]:
    return tuple(round(float(q), 1) for q in np.quantile(df["duration"], figures.DURATION_PROBS))


def logistic(df: pd.DataFrame) -> tuple[float, dict[str, dict[str, float]], dict[str, float]]:
    """Fit on one-hot columns whose most frequent level is the (dropped) reference, so rare levels shrink
    towards the common one rather than towards an arbitrary mean."""
    parts: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    names: list[tuple[str, str]] = []
    for column, references in figures.LOGIT_REFERENCE.items():
        for level in CATEGORY_LEVELS[column]:
            if level != references:
                parts.append(np.asarray(df[column] == level, dtype=np.float64))
                names.append((column, level))
    terms = synthetic.logit_terms(df)
    parts.extend(terms.values())
    x = np.column_stack(parts)
    y = (df[LABEL] == "yes").to_numpy(int)
    model = LogisticRegression(C=1.0, max_iter=5000).fit(x, y)
    coef = model.coef_[0]
    levels: dict[str, dict[str, float]] = {c: {} for c in figures.LOGIT_REFERENCE}
    for (column, level), b in zip(names, coef[: len(names)], strict=True):
        levels[column][level] = round(float(b), 3)
    numeric = {name: round(float(b), 4) for name, b in zip(terms, coef[len(names) :], strict=True)}
    return round(float(model.intercept_[0]), 3), levels, numeric


def calibrated_intercept(levels: dict[str, dict[str, float]], terms: dict[str, float], rate: float) -> float:
    """The intercept that gives the real yes rate on synthetic rows (their joint law differs a little)."""
    eta = synthetic.linear_predictor(synthetic.generate(200_000, seed=12345, label=False), 0.0, levels, terms)
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(eta + mid)))) < rate else (lo, mid)
    return round((lo + hi) / 2, 3)


def inline(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{inline(k)}: {inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(inline, value)) + (",)" if len(value) == 1 else ")")
    return repr(value)


def wrapped(items: list[str], pad: str, width: int) -> str:
    """Comma-separated ``items`` filling lines of ``width`` characters indented by ``pad``."""
    lines, line = [], ""
    for item in items:
        if line and len(pad) + len(line) + len(item) + 1 > width:
            lines.append(line.rstrip())
            line = ""
        line += item + ", "
    lines.append(line.rstrip())
    return "\n" + "".join(f"{pad}{line}\n" for line in lines) + pad[:-4]


def literal(value: Any, indent: int = 0, used: int = 0, width: int = 106) -> str:
    """Python source for ``value``, one item a line only where a single line would be too long."""
    text = inline(value)
    if used + len(text) <= width or not isinstance(value, dict | tuple):
        return text
    pad = " " * (indent + 4)
    if isinstance(value, dict) and all(not isinstance(v, dict | tuple) for v in value.values()):
        return "{" + wrapped([f"{inline(k)}: {inline(v)}" for k, v in value.items()], pad, width) + "}"
    if isinstance(value, dict):
        items = [
            f"{inline(k)}: {literal(v, indent + 4, len(pad) + len(inline(k)) + 2, width)}" for k, v in value.items()
        ]
        return "{\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + "}"
    if all(not isinstance(v, dict | tuple) for v in value):
        return "(" + wrapped([inline(v) for v in value], pad, width) + ")"
    rows = [literal(v, indent + 4, len(pad), width) for v in value]
    return "(\n" + "".join(f"{pad}{row},\n" for row in rows) + " " * indent + ")"


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def evaluate(real: pd.DataFrame) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_score

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[list(COLUMN_NAMES)].copy()
        for column, levels in CATEGORY_LEVELS.items():
            x[column] = pd.Categorical(x[column], categories=levels).codes
        return x

    def hgb() -> HistGradientBoostingClassifier:
        cats = [COLUMN_NAMES.index(c) for c in CATEGORY_LEVELS]
        return HistGradientBoostingClassifier(max_iter=200, categorical_features=cats, random_state=0)

    syn = synthetic.generate(len(real), seed=0)
    y_syn = (syn[LABEL] == "yes").to_numpy(int)
    y_real = (real[LABEL] == "yes").to_numpy(int)
    eta = synthetic.linear_predictor(real)
    print(f"hard-coded logistic model, AUC on the real file: {roc_auc_score(y_real, eta):.4f}")
    print(f"synthetic yes rate: {y_syn.mean():.4f} (real {y_real.mean():.4f})")
    cv = cross_val_score(hgb(), encode(syn), y_syn, cv=5, scoring="roc_auc")
    print(f"HistGradientBoosting 5-fold CV AUC on synthetic: {cv.mean():.4f}")
    cv = cross_val_score(hgb(), encode(real), y_real, cv=5, scoring="roc_auc")
    print(f"HistGradientBoosting 5-fold CV AUC on real:      {cv.mean():.4f}")
    model = hgb().fit(encode(syn), y_syn)
    auc = roc_auc_score(y_real, model.predict_proba(encode(real))[:, 1])
    print(f"trained on synthetic, evaluated on real:        {auc:.4f}")
    model = hgb().fit(encode(real), y_real)
    auc = roc_auc_score(y_syn, model.predict_proba(encode(syn))[:, 1])
    print(f"trained on real, evaluated on synthetic:        {auc:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--evaluate", action="store_true", help="also train/evaluate models (slower)")
    args = parser.parse_args()
    df = pd.read_csv(args.csv)
    print(f"# {len(df)} rows from {args.csv}\n")

    intercept, levels, terms = logistic(df)
    rate = float((df[LABEL] == "yes").mean())
    derived: dict[str, Any] = {
        "PERIODS": periods(df),
        "DAY_OF_WEEK_COUNTS": counts(df["day_of_week"], CATEGORY_LEVELS["day_of_week"]),
        "JOB_COUNTS": counts(df["job"], CATEGORY_LEVELS["job"]),
        "AGE_QUANTILES_BY_JOB": age_by_job(df),
        "MARITAL_COUNTS_BY_AGE": marital_by_age(df),
        "EDUCATION_COUNTS_BY_JOB": by_group(df, "job", "education"),
        "DEFAULT_COUNTS_BY_EDUCATION": by_group(df, "education", "default"),
        "HOUSING_LOAN_COUNTS": {
            (h, lo): n
            for h in CATEGORY_LEVELS["housing"]
            for lo in CATEGORY_LEVELS["loan"]
            if (n := int(((df["housing"] == h) & (df["loan"] == lo)).sum()))
        },
        "PREVIOUS_COUNTS_BY_POUTCOME": {
            p: tuple(int(((df["poutcome"] == p) & (df["previous"] == k)).sum()) for k in range(1, 8))
            for p in ("failure", "success")
        },
        "PDAYS_SET_BY_POUTCOME": {
            p: (int(((df["poutcome"] == p) & (df["pdays"] != 999)).sum()), int((df["poutcome"] == p).sum()))
            for p in ("failure", "success")
        },
        "PDAYS_COUNTS": pdays_counts(df),
        "CAMPAIGN_HEAD_COUNTS": campaign(df)[0],
        "CAMPAIGN_TAIL": campaign(df)[1],
        "DURATION_QUANTILES": duration(df),
        "LOGIT_LEVELS": levels,
        "LOGIT_TERMS": terms,
        "YES_RATE": round(rate, 4),
    }
    for name, value in derived.items():
        print(f"{name} = {literal(value, 0, len(name) + 3)}\n")
    print(f"# intercept as fitted on the real rows: {intercept}")
    derived["LOGIT_INTERCEPT"] = calibrated_intercept(levels, terms, rate)
    print(f"LOGIT_INTERCEPT = {derived['LOGIT_INTERCEPT']}  # calibrated on synthetic rows\n")

    stale = [name for name, value in derived.items() if not same(value, getattr(figures, name, None))]
    if stale:
        print("bankscore/bankmarketing/figures.py differs from the real data for: " + ", ".join(stale))
        print("(LOGIT_INTERCEPT depends on the other tables: paste them first, then re-run.)")
    else:
        print("bankscore/bankmarketing/figures.py carries exactly these figures.")
    if args.evaluate:
        print()
        evaluate(df)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
