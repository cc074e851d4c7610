"""A trained Bank Marketing model as the embedded endpoint serves it.

The model directory is plain files (JSON + LightGBM text), never pickles, so a model written by
one version can be inspected by a person and loaded without executing code. Scoring works on
column lists as well as DataFrames: the endpoint decodes JSON straight into columns and never
pays for building a DataFrame per request.
"""

# ruff: noqa: E402 (the extra is checked before its libraries are imported: a missing one is one clear line)
from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeAlias

from .._extras import check

check("server", "The embedded endpoint (and its trainer)")  # before the imports it checks for

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from .._types import ColumnType
from .errors import ExplanationUnavailable, ModelLoadError

if TYPE_CHECKING:
    import lightgbm as lgb  # loaded with the first LightGBM model: it imports scikit-learn, about 0.5 s

    from .treeshap import TreeShap

FORMAT: Final = "bankscore-model/1"
MODEL_FILE: Final = "model.json"
SCHEMA_FILE: Final = "schema.json"
METRICS_FILE: Final = "metrics.json"
REPORT_FILE: Final = "report.html"
DECISION_THRESHOLD: Final = 0.5
"""A row is predicted the positive class when P(positive) is at least this: the rule `predict` serves, and the
one the trainer's accuracy, F1 and the report's confusion matrix are computed at."""

FloatMatrix = npt.NDArray[np.float64]
Combine: TypeAlias = Literal["probability", "log_odds"]
"""How a VotingEnsemble joins its members: the mean of their probabilities (bankscore 0.2 and before, and
AutoML's soft vote) or of their raw scores, the log-odds (from 0.3 on: exactly additive, so explainable)."""
COMBINES: Final[tuple[Combine, ...]] = ("probability", "log_odds")


class _Codes(dict[str, float]):
    """Level → code; a level the model never saw is NaN (a C-speed map over values, no per-value default)."""

    def __missing__(self, key: str) -> float:
        return math.nan


@dataclass(frozen=True)
class InputSchema:
    """What the model was trained on: column order, JSON types and the category levels it saw."""

    columns: tuple[str, ...]
    types: Mapping[str, ColumnType]
    levels: Mapping[str, tuple[str, ...]]
    _codes: dict[str, _Codes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = {col: _Codes({level: float(i) for i, level in enumerate(lv)}) for col, lv in self.levels.items()}
        object.__setattr__(self, "_codes", codes)

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if self.types[c] == "string")

    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if self.types[c] == "string"]

    def encode_columns(self, columns: Mapping[str, Sequence[Any]], n_rows: int) -> FloatMatrix:
        """Column lists (already type-checked) → the float matrix every estimator reads.

        Categories become their level's index; a level the model never saw becomes NaN, which
        LightGBM routes as missing and the linear model scores as zero, so unseen levels score.
        """
        matrix = np.empty((n_rows, len(self.columns)), dtype=np.float64)
        for j, name in enumerate(self.columns):
            values = columns[name]
            if self.types[name] == "string":
                matrix[:, j] = np.fromiter(map(self._codes[name].__getitem__, values), np.float64, n_rows)
            else:
                matrix[:, j] = values
        return matrix

    def encode_frame(self, frame: pd.DataFrame) -> FloatMatrix:
        columns: dict[str, Any] = {}
        for name in self.columns:
            series = frame[name]
            if self.types[name] == "string":
                columns[name] = series.tolist()
            else:
                columns[name] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return self.encode_columns(columns, len(frame))

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [{"name": c, "type": self.types[c]} for c in self.columns],
            "levels": {c: list(v) for c, v in self.levels.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InputSchema:
        cols = data["columns"]
        return cls(
            columns=tuple(c["name"] for c in cols),
            types={c["name"]: c["type"] for c in cols},
            levels={c: tuple(v) for c, v in data["levels"].items()},
        )


class Estimator(Protocol):
    """Anything that maps the encoded matrix to P(positive class), and explains that in log-odds.

    `raw_score` is the log-odds of the positive class; `contributions` splits it per input column:
    (rows × columns, base value) with base + the row's sum = its raw score, exactly up to float rounding.
    """

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix: ...

    def raw_score(self, matrix: FloatMatrix) -> FloatMatrix: ...

    def contributions(self, matrix: FloatMatrix) -> tuple[FloatMatrix, float]: ...

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]: ...


def _sigmoid(logit: FloatMatrix) -> FloatMatrix:
    result: FloatMatrix = 1.0 / (1.0 + np.exp(-np.clip(logit, -700.0, 700.0)))
    return result


# LightGBM's TreeSHAP costs about 50 times a prediction, so where it is used, explanations of many rows use
# every core (prediction stays on one thread: there OpenMP's start-up costs more than it saves).
_CONTRIB_ROWS_PER_THREAD: Final = 200


@dataclass
class LightGBMEstimator:
    booster: lgb.Booster
    _shap: Any = field(default=None, init=False, repr=False, compare=False)  # TreeShap, False: too large
    _shap_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix:
        # One thread: requests are small and OpenMP start-up costs more than it saves here.
        out = self.booster.predict(matrix, num_threads=1)
        return np.asarray(out, dtype=np.float64)

    def raw_score(self, matrix: FloatMatrix) -> FloatMatrix:
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1), dtype=np.float64)

    def contributions(self, matrix: FloatMatrix) -> tuple[FloatMatrix, float]:
        """TreeSHAP, LightGBM's `pred_contrib`: exact Shapley values of the raw score; the base value is the
        trees' expected raw score over the training rows, the same for every row.

        Computed from per-leaf tables (treeshap.py, built on the first call), several times faster than
        LightGBM's own walk; a model whose tables would be too large falls back to `pred_contrib`.
        """
        shap = self._tables()
        if shap is not None:
            return shap.contributions(matrix), shap.base_value
        threads = max(1, min(os.cpu_count() or 1, matrix.shape[0] // _CONTRIB_ROWS_PER_THREAD))
        out = np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=threads), dtype=np.float64)
        return np.ascontiguousarray(out[:, :-1]), float(out[0, -1]) if len(out) else 0.0

    def _tables(self) -> TreeShap | None:
        if self._shap is None:
            with self._shap_lock:  # requests explained at once build the tables once
                if self._shap is None:
                    from .treeshap import build

                    self._shap = build(self.booster) or False
        return self._shap or None

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]:
        filename = f"{stem}.lightgbm.txt"
        self.booster.save_model(str(directory / filename))
        return {"kind": "lightgbm", "file": filename}


@dataclass
class LinearEstimator:
    """Logistic regression over standardised numbers and one-hot categories, scored in numpy.

    Its explanation is its own terms, centred so the base value is the mean log-odds of the training
    rows: a number's term coef·(x − mean)/scale is centred by the standardisation already, and a category's
    coefficient is taken less `categorical_mean`, the mean over the training rows of that column's term.
    Models saved before bankscore 0.3 lack those means: their categories' terms are the raw coefficients
    and the base value is the intercept.
    """

    intercept: float
    numeric: dict[int, tuple[float, float, float]]  # column index → (mean, scale, coefficient)
    categorical: dict[int, FloatMatrix]  # column index → coefficient per level, plus 0.0 for unseen
    categorical_mean: dict[int, float] = field(default_factory=dict)  # column index → mean term in training

    def _logit(self, matrix: FloatMatrix) -> FloatMatrix:
        logit = np.full(matrix.shape[0], self.intercept, dtype=np.float64)
        # Absurd inputs (a duration of 1e308) overflow to ±inf, and inf - inf to NaN: the sign of an
        # infinite logit still decides, and a NaN one (opposite infinities) scores as undecided, 0.5.
        with np.errstate(over="ignore", invalid="ignore"):
            for j, (mean, scale, coef) in self.numeric.items():
                logit += coef * (matrix[:, j] - mean) / scale
            for j, coefs in self.categorical.items():
                logit += coefs[self._level_index(matrix[:, j], coefs)]
        return logit

    @staticmethod
    def _level_index(codes: FloatMatrix, coefs: FloatMatrix) -> npt.NDArray[np.intp]:
        return np.where(np.isnan(codes), len(coefs) - 1, codes).astype(np.intp)

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix:
        logit = np.clip(np.nan_to_num(self._logit(matrix), nan=0.0), -700.0, 700.0)
        result: FloatMatrix = 1.0 / (1.0 + np.exp(-logit))
        return result

    def raw_score(self, matrix: FloatMatrix) -> FloatMatrix:
        """The logit positive_proba maps to its probability (NaN as 0, clipped to ±700 as there)."""
        result: FloatMatrix = np.clip(np.nan_to_num(self._logit(matrix), nan=0.0), -700.0, 700.0)
        return result

    @property
    def base_value(self) -> float:
        return self.intercept + sum(self.categorical_mean.get(j, 0.0) for j in self.categorical)

    def contributions(self, matrix: FloatMatrix) -> tuple[FloatMatrix, float]:
        out = np.zeros(matrix.shape, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            for j, (mean, scale, coef) in self.numeric.items():
                out[:, j] = coef * (matrix[:, j] - mean) / scale
            for j, coefs in self.categorical.items():
                out[:, j] = coefs[self._level_index(matrix[:, j], coefs)] - self.categorical_mean.get(j, 0.0)
        return out, self.base_value

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": "linear",
            "intercept": self.intercept,
            "numeric": {str(j): list(v) for j, v in self.numeric.items()},
            "categorical": {str(j): v[:-1].tolist() for j, v in self.categorical.items()},
        }
        if self.categorical_mean:
            data["categorical_mean"] = {str(j): v for j, v in self.categorical_mean.items()}
        return data


@dataclass
class VotingEstimator:
    """Soft vote over the members: the weighted mean of their log-odds (`combine="log_odds"`, trained from
    bankscore 0.3 on), or of their probabilities as AutoML's VotingEnsemble does (`"probability"`, older models).

    Only the log-odds mean is explained: a mean of log-odds is the same mean of the members' additive
    explanations, while a mean of probabilities has no exact additive form in log-odds.
    """

    members: list[Estimator]
    weights: list[float]
    combine: Combine = "log_odds"

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix:
        if self.combine == "log_odds":
            return _sigmoid(self.raw_score(matrix))
        total = np.zeros(matrix.shape[0], dtype=np.float64)
        for member, weight in zip(self.members, self.weights, strict=True):
            total += weight * member.positive_proba(matrix)
        result: FloatMatrix = total / sum(self.weights)
        return result

    def raw_score(self, matrix: FloatMatrix) -> FloatMatrix:
        if self.combine == "probability":
            p = self.positive_proba(matrix)
            with np.errstate(divide="ignore"):
                logit: FloatMatrix = np.log(p) - np.log1p(-p)
            return logit
        total = np.zeros(matrix.shape[0], dtype=np.float64)
        for member, weight in zip(self.members, self.weights, strict=True):
            total += weight * member.raw_score(matrix)
        result: FloatMatrix = total / sum(self.weights)
        return result

    def contributions(self, matrix: FloatMatrix) -> tuple[FloatMatrix, float]:
        if self.combine == "probability":
            raise ExplanationUnavailable(PROBABILITY_ENSEMBLE)
        total = np.zeros(matrix.shape, dtype=np.float64)
        base = 0.0
        for member, weight in zip(self.members, self.weights, strict=True):
            part, member_base = member.contributions(matrix)
            total += weight * part
            base += weight * member_base
        weights = sum(self.weights)
        result: FloatMatrix = total / weights
        return result, base / weights

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]:
        return {
            "kind": "voting",
            "combine": self.combine,
            "weights": self.weights,
            "members": [m.to_json(directory, f"{stem}.{i}") for i, m in enumerate(self.members)],
        }


PROBABILITY_ENSEMBLE: Final = (
    "this VotingEnsemble averages probabilities, which has no exact additive explanation; "
    "retrain it with bankscore 0.3 (its ensemble averages log-odds)"
)


def _estimator_from_json(data: Mapping[str, Any], directory: Path) -> Estimator:
    kind = data.get("kind")
    if kind == "lightgbm":
        path = directory / data["file"]
        if not path.is_file():
            raise ModelLoadError(f"model file {path} is missing")
        import lightgbm as lgb

        return LightGBMEstimator(lgb.Booster(model_file=str(path)))
    if kind == "linear":
        categorical = {int(j): np.asarray([*coefs, 0.0], dtype=np.float64) for j, coefs in data["categorical"].items()}
        numeric = {int(j): (float(v[0]), float(v[1]), float(v[2])) for j, v in data["numeric"].items()}
        means = {int(j): float(v) for j, v in data.get("categorical_mean", {}).items()}
        return LinearEstimator(float(data["intercept"]), numeric, categorical, means)
    if kind == "voting":
        # Saved before bankscore 0.3 (no "combine"): the mean of probabilities, predicted as it always was.
        combine = data.get("combine", "probability")
        if combine not in COMBINES:
            raise ModelLoadError(
                f"unknown ensemble combination {combine!r} in {directory / MODEL_FILE}; this bankscore reads "
                f"{' or '.join(map(repr, COMBINES))}"
            )
        members = [_estimator_from_json(m, directory) for m in data["members"]]
        return VotingEstimator(members, [float(w) for w in data["weights"]], combine)
    raise ModelLoadError(f"unknown estimator kind {kind!r} in {directory / MODEL_FILE}")


@dataclass(frozen=True)
class Explanation:
    """Why the model scores each row as it does, in log-odds of the positive class.

    For every row, `base_value + contributions[row].sum()` is the model's log-odds, and its sigmoid is
    `probabilities[row]` (up to float rounding); one contribution per input column, in `features` order.
    """

    features: tuple[str, ...]
    classes: tuple[str, str]
    base_value: float
    contributions: FloatMatrix  # rows × features, C-contiguous (orjson writes it as it is)
    probabilities: FloatMatrix  # P(positive class), as predict_proba's second column
    predictions: list[str]  # labels, as predict gives them

    @property
    def positive_class(self) -> str:
        return self.classes[1]


def base_value_meaning(estimator: Estimator) -> str:
    """What an estimator's base value is, in words, for the swagger that serves it."""
    if isinstance(estimator, LightGBMEstimator):
        return "the trees' expected log-odds over the training rows (TreeSHAP's expected value)"
    if isinstance(estimator, LinearEstimator):
        if estimator.categorical_mean or not estimator.categorical:
            return (
                "the mean log-odds over the training rows: a number's contribution is coef·(x − training mean)/sd, "
                "a category's is its level's coefficient less the column's mean over the training rows"
            )
        return (
            "the intercept: a number's contribution is coef·(x − training mean)/sd, a category's is its "
            "level's raw coefficient (0 for a level the model never saw); this model predates bankscore 0.3, "
            "which centres categories too"
        )
    if isinstance(estimator, VotingEstimator):
        return "the weighted mean of the members' base values: " + "; ".join(
            f"member {i + 1}: {base_value_meaning(m)}" for i, m in enumerate(estimator.members)
        )
    return "the model's base log-odds"


def explain_refusal(estimator: Estimator) -> str | None:
    """Why an estimator can't be explained exactly, or None when it can."""
    if isinstance(estimator, VotingEstimator):
        if estimator.combine == "probability":
            return PROBABILITY_ENSEMBLE
        return next((r for r in map(explain_refusal, estimator.members) if r is not None), None)
    return None


@dataclass
class Model:
    """A binary classifier over the Bank Marketing columns."""

    name: str
    schema: InputSchema
    classes: tuple[str, str]
    estimator: Estimator
    version: str = "unsaved"
    directory: Path | None = field(default=None, compare=False)
    """Where the model was loaded from or saved to (its report.html is there), None for one only in memory."""

    def proba_from_matrix(self, matrix: FloatMatrix) -> FloatMatrix:
        positive = self.estimator.positive_proba(matrix)
        return np.column_stack((1.0 - positive, positive))

    def labels_from_matrix(self, matrix: FloatMatrix) -> list[str]:
        positive = self.estimator.positive_proba(matrix)
        no, yes = self.classes
        return [yes if p >= DECISION_THRESHOLD else no for p in positive.tolist()]

    def predict_proba(self, frame: pd.DataFrame) -> FloatMatrix:
        return self.proba_from_matrix(self.schema.encode_frame(frame))

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.object_]:
        return np.asarray(self.labels_from_matrix(self.schema.encode_frame(frame)), dtype=object)

    @property
    def explain_refusal(self) -> str | None:
        """Why this model can't explain its rows (an ensemble that averages probabilities), or None."""
        return explain_refusal(self.estimator)

    def explain(self, data: pd.DataFrame | FloatMatrix) -> Explanation:
        """Exact per-column contributions to each row's log-odds, with the base value and the predictions.

        `data` is a DataFrame of the input columns or the matrix `schema.encode_frame` makes. An ensemble
        that averages probabilities raises ExplanationUnavailable, saying how to get one that can.
        """
        matrix = data if isinstance(data, np.ndarray) else self.schema.encode_frame(data)
        contributions, base = self.estimator.contributions(matrix)
        positive = self.estimator.positive_proba(matrix)
        no, yes = self.classes
        return Explanation(
            features=self.schema.columns,
            classes=self.classes,
            base_value=base,
            contributions=np.ascontiguousarray(contributions, dtype=np.float64),
            probabilities=positive,
            predictions=[yes if p >= DECISION_THRESHOLD else no for p in positive.tolist()],
        )

    def save(self, directory: Path, *, extra: Mapping[str, Any] | None = None) -> None:
        """Write the model files; the version is a hash of what was written, so equal files agree."""
        directory.mkdir(parents=True, exist_ok=True)
        estimator = self.estimator.to_json(directory, "model")
        (directory / SCHEMA_FILE).write_bytes(orjson.dumps(self.schema.to_json(), option=orjson.OPT_INDENT_2))
        digest = hashlib.sha256(orjson.dumps(estimator))
        for path in sorted(directory.glob("model*.lightgbm.txt")):
            digest.update(path.read_bytes())
        self.version = digest.hexdigest()[:12]
        document = {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "classes": list(self.classes),
            "schema": SCHEMA_FILE,
            "estimator": estimator,
            **(extra or {}),
        }
        (directory / MODEL_FILE).write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


def load_model(directory: str | Path) -> Model:
    """Load a model directory written by `bankscore train`."""
    directory = Path(directory)
    path = directory / MODEL_FILE
    try:
        document = orjson.loads(path.read_bytes())
        schema = InputSchema.from_json(orjson.loads((directory / SCHEMA_FILE).read_bytes()))
    except FileNotFoundError as exc:
        raise ModelLoadError(
            f"{directory} is not a bankscore model directory ({Path(exc.filename).name} is missing); "
            "create one with `bankscore train --out DIR`"
        ) from None
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{directory} holds a damaged model: {exc}") from None
    if document.get("format") != FORMAT:
        raise ModelLoadError(f"{path} has format {document.get('format')!r}; this bankscore reads {FORMAT!r}")
    classes = tuple(document["classes"])
    if len(classes) != 2:
        raise ModelLoadError(f"{path} declares {len(classes)} classes; bankscore serves binary models")
    return Model(
        name=document["name"],
        schema=schema,
        classes=(classes[0], classes[1]),
        estimator=_estimator_from_json(document["estimator"], directory),
        version=document["version"],
        directory=directory,
    )
