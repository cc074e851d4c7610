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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._extras import check

check("server", "The embedded endpoint (and its trainer)")  # before the imports it checks for

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd

from .._types import ColumnType
from .errors import ModelLoadError

if TYPE_CHECKING:
    import lightgbm as lgb  # loaded with the first LightGBM model: it imports scikit-learn, about 0.5 s

FORMAT: Final = "bankscore-model/1"
MODEL_FILE: Final = "model.json"
SCHEMA_FILE: Final = "schema.json"
METRICS_FILE: Final = "metrics.json"

FloatMatrix = npt.NDArray[np.float64]


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
    """Anything that maps the encoded matrix to P(positive class)."""

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix: ...

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]: ...


@dataclass
class LightGBMEstimator:
    booster: lgb.Booster

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix:
        # One thread: requests are small and OpenMP start-up costs more than it saves here.
        out = self.booster.predict(matrix, num_threads=1)
        return np.asarray(out, dtype=np.float64)

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]:
        filename = f"{stem}.lightgbm.txt"
        self.booster.save_model(str(directory / filename))
        return {"kind": "lightgbm", "file": filename}


@dataclass
class LinearEstimator:
    """Logistic regression over standardised numbers and one-hot categories, scored in numpy."""

    intercept: float
    numeric: dict[int, tuple[float, float, float]]  # column index → (mean, scale, coefficient)
    categorical: dict[int, FloatMatrix]  # column index → coefficient per level, plus 0.0 for unseen

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix:
        logit = np.full(matrix.shape[0], self.intercept, dtype=np.float64)
        # Absurd inputs (a duration of 1e308) overflow to ±inf, and inf - inf to NaN: the sign of an
        # infinite logit still decides, and a NaN one (opposite infinities) scores as undecided, 0.5.
        with np.errstate(over="ignore", invalid="ignore"):
            for j, (mean, scale, coef) in self.numeric.items():
                logit += coef * (matrix[:, j] - mean) / scale
            for j, coefs in self.categorical.items():
                codes = matrix[:, j]
                unseen = len(coefs) - 1
                idx = np.where(np.isnan(codes), unseen, codes).astype(np.intp)
                logit += coefs[idx]
        logit = np.clip(np.nan_to_num(logit, nan=0.0), -700.0, 700.0)
        result: FloatMatrix = 1.0 / (1.0 + np.exp(-logit))
        return result

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]:
        return {
            "kind": "linear",
            "intercept": self.intercept,
            "numeric": {str(j): list(v) for j, v in self.numeric.items()},
            "categorical": {str(j): v[:-1].tolist() for j, v in self.categorical.items()},
        }


@dataclass
class VotingEstimator:
    """Soft vote: the mean of the members' probabilities, as AutoML's VotingEnsemble does."""

    members: list[Estimator]
    weights: list[float]

    def positive_proba(self, matrix: FloatMatrix) -> FloatMatrix:
        total = np.zeros(matrix.shape[0], dtype=np.float64)
        for member, weight in zip(self.members, self.weights, strict=True):
            total += weight * member.positive_proba(matrix)
        result: FloatMatrix = total / sum(self.weights)
        return result

    def to_json(self, directory: Path, stem: str) -> dict[str, Any]:
        return {
            "kind": "voting",
            "weights": self.weights,
            "members": [m.to_json(directory, f"{stem}.{i}") for i, m in enumerate(self.members)],
        }


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
        return LinearEstimator(float(data["intercept"]), numeric, categorical)
    if kind == "voting":
        members = [_estimator_from_json(m, directory) for m in data["members"]]
        return VotingEstimator(members, [float(w) for w in data["weights"]])
    raise ModelLoadError(f"unknown estimator kind {kind!r} in {directory / MODEL_FILE}")


@dataclass
class Model:
    """A binary classifier over the Bank Marketing columns."""

    name: str
    schema: InputSchema
    classes: tuple[str, str]
    estimator: Estimator
    version: str = "unsaved"

    def proba_from_matrix(self, matrix: FloatMatrix) -> FloatMatrix:
        positive = self.estimator.positive_proba(matrix)
        return np.column_stack((1.0 - positive, positive))

    def labels_from_matrix(self, matrix: FloatMatrix) -> list[str]:
        positive = self.estimator.positive_proba(matrix)
        no, yes = self.classes
        return [yes if p >= 0.5 else no for p in positive.tolist()]

    def predict_proba(self, frame: pd.DataFrame) -> FloatMatrix:
        return self.proba_from_matrix(self.schema.encode_frame(frame))

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.object_]:
        return np.asarray(self.labels_from_matrix(self.schema.encode_frame(frame)), dtype=object)

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
    )
