"""`client.explain` against the two explain answers there are, served over loopback by a canned server.

Core SDK only (runs in the core-only job). The numbers here are canned on purpose: this file checks how the
client reads each shape, names features, ranks reasons and refuses what it can't read. That the embedded
endpoint's numbers are exact (additive, equal to LightGBM's pred_contrib) is tested in tests/server/test_explain.py
and end to end in tests/cli/test_explain_cli.py.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from bankscore import AsyncScoringClient, ContractError, ResponseDecodeError, ScoringClient
from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from bankscore.explanations import BASE_COLUMN, reason_text
from tests.support.canned import Answer, CannedServer, Seen

FIXTURES = Path(__file__).resolve().parents[1] / "support" / "azureml_peer" / "fixtures"
ROWS = [dict(r) for r in SAMPLE_ROWS]


def _contributions(rows: list[dict[str, Any]]) -> list[list[float]]:
    # Feature j contributes (j - 10) / 10 × the row's age: duration (index 10) is 0, the ends are the largest,
    # and each row's numbers are its own whichever batch it travels in.
    return [[(j - 10) / 10 * row["age"] for j in range(len(COLUMN_NAMES))] for row in rows]


def _gen_b_swagger(explain: bool) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / "swagger_gen_b.json").read_text())
    if explain:
        document["x-bankscore-explain"] = {
            "method": "explain",
            "scale": "log_odds",
            "positive_class": "yes",
            "features": list(COLUMN_NAMES),
        }
    return document


def _bankscore_answer(seen: Seen) -> Answer:
    body = orjson.loads(seen.body)
    assert body["GlobalParameters"] == {"method": "explain"}
    contributions = _contributions(body["Inputs"]["data"])
    base = -2.0
    probabilities = [1 / (1 + math.exp(-(base + sum(c)))) for c in contributions]
    results = {
        "features": list(COLUMN_NAMES), "scale": "log_odds", "classes": ["no", "yes"], "positive_class": "yes",
        "base_value": base, "predictions": ["yes" if p > 0.5 else "no" for p in probabilities],
        "probabilities": probabilities, "contributions": contributions,
    }  # fmt: skip
    return Answer(200, orjson.dumps({"Results": results}))


def _automl_answer(seen: Seen) -> Answer:
    rows = orjson.loads(seen.body)
    assert isinstance(rows, list) and set(rows[0]) == set(COLUMN_NAMES)  # a bare array of records
    yes = _contributions(rows)
    no = [[-v for v in row] for row in yes]
    answer = {
        "predictions": ["no"] * len(rows),
        "engineered_local_importance_values": [no, yes],
        "raw_local_importance_values": [no, yes],
    }
    return Answer(200, orjson.dumps(answer))


def test_bankscore_answers_become_contributions_a_base_and_ranked_reasons() -> None:
    with (
        CannedServer({"POST /score": _bankscore_answer}) as server,
        ScoringClient(server.scoring_uri, swagger=_gen_b_swagger(explain=True), batch_rows=1) as client,
    ):
        frame = client.explain(ROWS, top=3)
    assert list(frame.columns[:3]) == ["prediction", "proba_yes", BASE_COLUMN]
    assert list(frame.columns[3:23]) == list(COLUMN_NAMES)
    assert list(frame.columns[23:]) == ["reason_1", "reason_2", "reason_3"]
    logit = frame[BASE_COLUMN] + frame[list(COLUMN_NAMES)].sum(axis=1)
    assert ((1 / (1 + (-logit).map(math.exp)) - frame["proba_yes"]).abs() < 1e-12).all()
    # The largest |contribution| is the first column's (-1.0 × (r + 1)); then job's -0.9 and nr.employed's +0.9
    # tie, and the earlier column comes first.
    first = ROWS[0]
    age = float(first["age"])  # type: ignore[arg-type]
    assert frame["reason_1"].iloc[0] == f"age = {first['age']} ({-age:+.2f})"
    assert frame["reason_2"].iloc[0] == f"job = {first['job']} ({-0.9 * age:+.2f})"
    assert frame["reason_3"].iloc[0] == f"nr.employed = {first['nr.employed']:,.6g} ({0.9 * age:+.2f})"
    # Batches of one row each come back in order.
    assert frame["age"].tolist() == [-float(r["age"]) for r in ROWS]  # type: ignore[arg-type]


def test_automl_explainer_answers_are_read_by_the_contracts_columns_or_features() -> None:
    with (
        CannedServer({"POST /score": _automl_answer}) as server,
        ScoringClient(server.scoring_uri, swagger=_gen_b_swagger(explain=False)) as client,
    ):
        frame = client.explain(ROWS, top=2)
        assert frame["prediction"].tolist() == ["no", "no"]
        assert frame["proba_yes"].isna().all() and frame[BASE_COLUMN].isna().all()  # not in AutoML's answer
        assert frame["age"].tolist() == [-float(r["age"]) for r in ROWS]  # type: ignore[arg-type]  # "yes" class
        renamed = [f"f{j}" for j in range(20)]
        assert list(client.explain(ROWS, features=renamed).columns[3:23]) == renamed
        with pytest.raises(ResponseDecodeError, match="20 values per row but 19 features"):
            client.explain(ROWS, features=renamed[:19])


def test_the_async_client_explains_alike() -> None:
    async def main(url: str) -> Any:
        async with AsyncScoringClient(url, swagger=_gen_b_swagger(explain=True)) as client:
            return await client.explain(ROWS, top=1)

    with CannedServer({"POST /score": _bankscore_answer}) as server:
        frame = asyncio.run(main(server.scoring_uri))
    assert frame["reason_1"].tolist()[0].startswith("age = ")


def test_a_service_that_cannot_explain_says_so() -> None:
    labels = Answer(200, orjson.dumps(["no", "no"]))
    mlflow = json.loads((FIXTURES / "openapi3_mlflow.json").read_text())
    with CannedServer({"POST /score": labels}) as server:
        with (
            ScoringClient(server.scoring_uri, swagger=_gen_b_swagger(explain=False)) as client,
            pytest.raises(ResponseDecodeError, match="did not answer as an explainer"),
        ):
            client.explain(ROWS)
        with ScoringClient(server.scoring_uri, swagger=mlflow) as client, pytest.raises(ContractError, match="can't"):
            client.explain(ROWS)
    assert len(server.targets("POST")) == 1  # the MLflow one was refused before sending


def test_bad_rows_are_refused_before_sending_as_for_predict() -> None:
    bad = [dict(ROWS[0], age="forty")]
    with (
        CannedServer({"POST /score": _bankscore_answer}) as server,
        ScoringClient(server.scoring_uri, swagger=_gen_b_swagger(explain=True)) as client,
        pytest.raises(Exception, match="age") as caught,
    ):
        client.explain(bad)
    assert type(caught.value).__name__ == "InputValidationError"
    assert server.targets("POST") == []


@pytest.mark.parametrize(
    ("feature", "value", "contribution", "text"),
    [
        ("duration", 1260, 2.314, "duration = 1,260 s (+2.31)"),
        ("poutcome", "success", 1.1, "poutcome = success (+1.10)"),
        ("euribor3m", 4.857, -0.5, "euribor3m = 4.857% (-0.50)"),
        ("pdays", 999.0, 0.004, "pdays = 999 days (+0.00)"),
        ("nr.employed", 5191.0, -0.25, "nr.employed = 5,191 (-0.25)"),
        ("age", None, 0.1, "age (+0.10)"),
    ],
)
def test_reason_texts(feature: str, value: Any, contribution: float, text: str) -> None:
    assert reason_text(feature, value, contribution) == text
