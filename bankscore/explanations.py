"""Per-row explanations: why the model says what it says, as a table a person can read.

Two services explain rows, and both answers become the same DataFrame:
- bankscore's embedded endpoint, whose swagger declares `x-bankscore-explain`: gen-B bodies with
  `GlobalParameters.method = "explain"`, answered with the prediction, P(positive), a base value and one
  contribution per input column, in log-odds (base + Σ contributions = logit P);
- an AutoML v1 "explain at scoring time" deployment: a bare array of records in; `predictions` and
  `raw_local_importance_values` ([class][row][feature], no names, no base value) out. Its features are named
  from the contract (a saved swagger) or `features=`; P(positive) and the base value are not in its answer.

The reasons are the k largest contributions by absolute value, as text: `duration = 1,260 s (+2.31)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import orjson

from ._exceptions import ContractError
from .decoding import DecodeFailure

if TYPE_CHECKING:
    import pandas as pd

    from .contract import Contract
    from .validation import Table

BASE_COLUMN: Final = "base_value_log_odds"
"""The base value's column: the model's score, in log-odds, before any feature is counted."""
UNITS: Final = {"duration": "s", "pdays": "days", "euribor3m": "%"}
"""Units shown after a value in a reason (the Bank Marketing columns that have one)."""


@dataclass(frozen=True)
class ExplainSpec:
    """What a service's swagger says of its explanations (`x-bankscore-explain`)."""

    method: str = "explain"
    scale: str = "log_odds"
    positive_class: str = "yes"
    features: tuple[str, ...] = ()

    @classmethod
    def from_swagger(cls, document: Mapping[str, Any]) -> ExplainSpec | None:
        spec = document.get("x-bankscore-explain")
        if not isinstance(spec, Mapping):
            return None
        return cls(
            method=str(spec.get("method", "explain")),
            scale=str(spec.get("scale", "log_odds")),
            positive_class=str(spec.get("positive_class", "yes")),
            features=tuple(str(f) for f in spec.get("features", ())),
        )


class RowExplanation(NamedTuple):
    """One row's answer: prediction, P(positive) and base (NaN when the service doesn't say), contributions."""

    prediction: Any
    proba: float
    base: float
    contributions: Sequence[float]


def decoder(contract: Contract, features: Sequence[str]) -> Callable[[bytes, int], list[Any]]:
    """The function that reads an explain answer of `expected_rows` rows, for `interpret`."""
    names = tuple(features)

    def decode(body: bytes, expected_rows: int) -> list[Any]:
        return list(decode_explanations(body, expected_rows, names, contract))

    return decode


def positive_class(contract: Contract) -> str:
    """The class the contributions speak for: declared by the service, else the last class (yes)."""
    if contract.explain is not None:
        return contract.explain.positive_class
    classes = contract.class_names()
    return classes[-1] if classes else "positive"


def explained_features(contract: Contract) -> tuple[str, ...]:
    spec = contract.explain
    return spec.features if spec is not None and spec.features else contract.column_names


def decode_explanations(
    body: bytes, expected_rows: int, features: Sequence[str], contract: Contract
) -> list[RowExplanation]:
    """Either service's answer → one RowExplanation per row; DecodeFailure says what is wrong with it."""
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DecodeFailure("the explain answer is not JSON") from None
    if isinstance(document, str):
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError:
            raise DecodeFailure("the explain answer is a string that is not JSON") from None
    if isinstance(document, Mapping) and isinstance(document.get("Results"), Mapping):
        return _bankscore_answer(document["Results"], expected_rows, features)
    if isinstance(document, Mapping) and "raw_local_importance_values" in document:
        return _automl_answer(document, expected_rows, features, contract)
    if isinstance(document, Mapping) and "error" in document:
        raise DecodeFailure(f"the model failed: {document['error']}", model_error=True)
    shape = f"keys {', '.join(sorted(document))}" if isinstance(document, Mapping) else type(document).__name__
    raise DecodeFailure(
        f"the endpoint did not answer as an explainer ({shape}); it can't explain: explanations come from "
        "bankscore serve (method explain) or an AutoML explainer deployment"
    )


def _bankscore_answer(results: Mapping[str, Any], expected_rows: int, features: Sequence[str]) -> list[RowExplanation]:
    names = results.get("features")
    if isinstance(names, list) and tuple(names) != tuple(features):
        raise DecodeFailure(f"the answer explains features {names}, not the {len(features)} expected")
    predictions, probabilities = results.get("predictions"), results.get("probabilities")
    contributions, base = results.get("contributions"), results.get("base_value")
    if not (isinstance(predictions, list) and isinstance(probabilities, list) and isinstance(contributions, list)):
        raise DecodeFailure("the explain answer lacks predictions, probabilities or contributions")
    if not len(predictions) == len(probabilities) == len(contributions) == expected_rows:
        raise DecodeFailure(f"sent {expected_rows} rows but got {len(contributions)} explanations")
    if not isinstance(base, int | float):
        raise DecodeFailure("the explain answer has no numeric base_value")
    _check_widths(contributions, features)
    return [
        RowExplanation(p, float(q), float(base), c)
        for p, q, c in zip(predictions, probabilities, contributions, strict=True)
    ]


def _automl_answer(
    document: Mapping[str, Any], expected_rows: int, features: Sequence[str], contract: Contract
) -> list[RowExplanation]:
    predictions, raw = document.get("predictions"), document.get("raw_local_importance_values")
    if not isinstance(predictions, list) or not isinstance(raw, list) or not raw:
        raise DecodeFailure("the explainer's answer lacks predictions or raw_local_importance_values")
    classes = contract.class_names() or ()
    positive = positive_class(contract)
    index = classes.index(positive) if positive in classes and len(raw) == len(classes) else len(raw) - 1
    rows = raw[index]  # [class][row][feature]: the positive class's values
    if not isinstance(rows, list) or len(rows) != expected_rows or len(predictions) != expected_rows:
        raise DecodeFailure(f"sent {expected_rows} rows but the explainer answered for {len(predictions)}")
    _check_widths(rows, features)
    nan = math.nan
    return [RowExplanation(p, nan, nan, c) for p, c in zip(predictions, rows, strict=True)]


def _check_widths(rows: Sequence[Any], features: Sequence[str]) -> None:
    for row in rows:
        if not isinstance(row, list) or len(row) != len(features):
            width = len(row) if isinstance(row, list) else "no"
            raise DecodeFailure(
                f"the explanation has {width} values per row but {len(features)} features are named; pass "
                "features=[...] naming the explainer's raw features in order (or a swagger whose columns they are)"
            )


def to_explanation_frame(
    table: Table, results: Sequence[RowExplanation], features: Sequence[str], positive: str, top: int
) -> pd.DataFrame:
    """The readable table: prediction, P(positive), base, one contribution column per feature, reasons."""
    import numpy as np
    import pandas as pd

    n = len(results)
    contributions = (
        np.asarray([r.contributions for r in results], dtype=np.float64).reshape(n, len(features))
        if n
        else np.zeros((0, len(features)))
    )
    frame = pd.DataFrame(
        {
            "prediction": [r.prediction for r in results],
            f"proba_{positive}": np.asarray([r.proba for r in results], dtype=np.float64),
            BASE_COLUMN: np.asarray([r.base for r in results], dtype=np.float64),
        },
        index=table.index,
    )
    frame = pd.concat([frame, pd.DataFrame(contributions, columns=list(features), index=table.index)], axis=1)
    texts = reasons(table, contributions, features, top)
    for k in range(1, max(top, 0) + 1):  # `top` columns; beyond the number of features they stay empty
        frame[f"reason_{k}"] = texts[k - 1] if k <= len(texts) else None
    return frame


def reasons(table: Table, contributions: Any, features: Sequence[str], top: int) -> list[list[str]]:
    """`top` lists of texts (reason_1 for every row, then reason_2, ...), largest |contribution| first."""
    import numpy as np

    k = max(0, min(top, len(features)))
    if k == 0 or len(contributions) == 0:
        return [[] for _ in range(k)]
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    values = [table.columns.get(name) for name in features]
    out: list[list[str]] = [[] for _ in range(k)]
    for row, picks in enumerate(order):
        for slot, j in enumerate(picks):
            column = values[j]
            value = column[row] if column is not None else None
            out[slot].append(reason_text(features[j], value, float(contributions[row, j])))
    return out


def reason_text(feature: str, value: Any, contribution: float) -> str:
    """`duration = 1,260 s (+2.31)`, `poutcome = success (+1.10)`."""
    unit = UNITS.get(feature)
    shown = _value_text(value)
    if unit and shown:
        shown = f"{shown}{unit}" if unit == "%" else f"{shown} {unit}"
    return f"{feature} = {shown} ({contribution:+.2f})" if shown else f"{feature} ({contribution:+.2f})"


def _value_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) >= 1000 else f"{value:.6g}"
    return str(value)


def global_importance(explained: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Mean |contribution| per feature over explained rows, and its share of the total, largest first."""
    import pandas as pd

    means = explained[list(features)].abs().mean()
    total = float(means.sum()) or 1.0
    frame = pd.DataFrame({"mean_abs_contribution": means, "share": means / total})
    return frame.sort_values("mean_abs_contribution", ascending=False, kind="stable")


def not_an_explainer(contract: Contract, endpoint: str, error: Exception) -> ContractError:
    """A service without `x-bankscore-explain` that refused the AutoML explainer's request: it can't explain."""
    methods = "predict, predict_proba" if contract.supports_proba else "predict"
    said = getattr(error, "message", None) or str(error)
    return ContractError(
        f"{endpoint} can't explain rows: its contract ({contract.envelope} envelope) declares {methods} only, and "
        f"it refused an AutoML explainer's request ({said}). Explanations come from bankscore serve (method "
        "explain) or an AutoML v1 explainer deployment"
    )
