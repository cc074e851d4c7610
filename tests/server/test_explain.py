"""Per-row explanations over real HTTP: exact in log-odds for every model kind the trainer can pick.

Both wire formats: gen B's `GlobalParameters.method = "explain"` (bankscore's extension, in the swagger)
and `--contract explain`, AutoML v1's explainer deployment, checked against Microsoft's server running
an explainer-shaped score script (tests/support/azureml_peer/score_explain.py).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import numpy as np
import pandas as pd
import pytest
from openapi_spec_validator import validate

from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import (
    LightGBMEstimator,
    LinearEstimator,
    Model,
    VotingEstimator,
    load_model,
)
from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig
from tests.support.azureml_peer.peer import AzureMLPeer
from tests.support.common import auth
from tests.support.serving import serving

KINDS = ("LightGBM", "LightGBM (extra trees)", "LogisticRegression", "VotingEnsemble")
TREE_KINDS = ("LightGBM", "LightGBM (extra trees)", "VotingEnsemble")
TRAINING_ROWS, TRAINING_SEED = 400, 5
OLD_ENSEMBLE_MESSAGE = (
    'Method "explain" is not available (this service answers "predict" and "predict_proba"): this VotingEnsemble '
    "averages probabilities, which has no exact additive explanation; retrain it with bankscore 0.3 "
    "(its ensemble averages log-odds)"
)


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = generate(n, seed=seed, label=False).to_dict(orient="records")
    return rows


# Over the Arrow threshold (16 KiB), with a level no model saw and extreme but valid numbers.
ROWS = [
    *_records(240, seed=21),
    dict(SAMPLE_ROWS[0], job="astronaut", month="jan"),
    dict(SAMPLE_ROWS[1], duration=50_000, campaign=0, pdays=0, euribor3m=-3.5),
]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(COLUMN_NAMES))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def kind_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny model of each kind, trained once for the run (the first xdist worker trains, the rest load)."""
    from filelock import FileLock

    from bankscore.server.training import train

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "explain-models"
    shared.mkdir(parents=True, exist_ok=True)
    dirs = {}
    with FileLock(shared / ".lock"):
        for kind in KINDS:
            target = shared / kind.replace(" ", "_").replace("(", "").replace(")", "")
            if not (target / "model.json").is_file():
                frame = generate(TRAINING_ROWS, seed=TRAINING_SEED)
                train(frame, folds=2, candidates=[kind], source=f"synthetic({TRAINING_ROWS})").save(target)
            dirs[kind] = target
    return dirs


@pytest.fixture(scope="session")
def kind_endpoints(kind_dirs: dict[str, Path]) -> Iterator[dict[str, EmbeddedEndpoint]]:
    """A gen-B endpoint per model kind (the endpoint keeps no state between requests, so tests share them)."""
    with ExitStack() as stack:
        endpoints = {}
        for kind, directory in kind_dirs.items():
            config = EndpointConfig(model_dir=directory, port=0, access_log=False, auth="none")
            endpoint = EmbeddedEndpoint(config).start()
            stack.callback(endpoint.stop)
            endpoints[kind] = endpoint
        yield endpoints


def score(url: str, rows: list[dict[str, Any]], method: str) -> httpx.Response:
    body = {"Inputs": {"data": rows}, "GlobalParameters": {"method": method}}
    return httpx.post(url, json=body, headers=auth(), timeout=60)


def explain(url: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = score(url, rows, "explain")
    assert response.status_code == 200, response.text
    results: dict[str, Any] = response.json()["Results"]
    return results


# ------------------------------------------------------------------------------------------- exactness


@pytest.mark.parametrize("kind", KINDS)
def test_explanation_adds_up_to_the_log_odds_predict_proba_answers(
    kind_endpoints: dict[str, EmbeddedEndpoint], kind: str
) -> None:
    url = kind_endpoints[kind].scoring_uri
    results = explain(url, ROWS)
    assert results["features"] == list(COLUMN_NAMES)
    assert (results["scale"], results["classes"], results["positive_class"]) == ("log_odds", ["no", "yes"], "yes")
    contributions = np.asarray(results["contributions"])
    assert contributions.shape == (len(ROWS), len(COLUMN_NAMES))
    assert isinstance(results["base_value"], float)
    proba = np.asarray(score(url, ROWS, "predict_proba").json()["Results"])[:, 1]
    log_odds = results["base_value"] + contributions.sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), proba, rtol=0, atol=1e-6)
    inside = (proba > 1e-6) & (proba < 1 - 1e-6)  # where P(yes) still pins its log-odds down to 1e-9
    assert inside.sum() >= len(ROWS) - 2
    np.testing.assert_allclose(log_odds[inside], _logit(proba[inside]), rtol=1e-9, atol=1e-9)
    assert results["probabilities"] == proba.tolist(), "P(yes) exactly as predict_proba answers it"
    assert results["predictions"] == score(url, ROWS, "predict").json()["Results"]
    assert len(set(results["predictions"])) == 2, "rows of both answers, so the sign of the sum matters"
    assert np.count_nonzero(contributions) > len(ROWS), "more than one column explains a row"


def _tree_contributions(estimator: Any, matrix: np.ndarray) -> np.ndarray:
    """LightGBM's own pred_contrib in this process (weighted mean over an ensemble's members)."""
    if isinstance(estimator, LightGBMEstimator):
        return np.asarray(estimator.booster.predict(matrix, pred_contrib=True))
    assert isinstance(estimator, VotingEstimator)
    parts = [w * _tree_contributions(m, matrix) for m, w in zip(estimator.members, estimator.weights, strict=True)]
    return np.asarray(sum(parts)) / sum(estimator.weights)


@pytest.mark.parametrize("kind", TREE_KINDS)
def test_tree_contributions_are_lightgbms_own_pred_contrib(
    kind_endpoints: dict[str, EmbeddedEndpoint], kind_dirs: dict[str, Path], kind: str
) -> None:
    results = explain(kind_endpoints[kind].scoring_uri, ROWS)
    model = load_model(kind_dirs[kind])
    expected = _tree_contributions(model.estimator, model.schema.encode_frame(_frame(ROWS)))
    np.testing.assert_allclose(results["contributions"], expected[:, :-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(expected[:, -1], results["base_value"], rtol=1e-12, atol=1e-12)


def test_linear_terms_move_with_their_own_column_and_centre_on_the_training_rows(
    kind_endpoints: dict[str, EmbeddedEndpoint], kind_dirs: dict[str, Path]
) -> None:
    url = kind_endpoints["LogisticRegression"].scoring_uri
    base = dict(SAMPLE_ROWS[0])
    changed = [base, dict(base, duration=base["duration"] + 300), dict(base, poutcome="success"), dict(base, age=70)]
    results = explain(url, changed)
    contributions = np.asarray(results["contributions"])
    log_odds = results["base_value"] + contributions.sum(axis=1)
    for i, column in ((1, "duration"), (2, "poutcome"), (3, "age")):
        j = COLUMN_NAMES.index(column)
        delta = contributions[i] - contributions[0]
        assert np.count_nonzero(delta) == 1 and delta[j] != 0, f"only {column}'s term moves"
        assert delta[j] == pytest.approx(log_odds[i] - log_odds[0], abs=1e-9)
    # The base value is the mean log-odds of the training rows: every column centred on them.
    training = generate(TRAINING_ROWS, seed=TRAINING_SEED, label=False)
    model = load_model(kind_dirs["LogisticRegression"])
    mean_log_odds = float(_logit(model.predict_proba(training)[:, 1]).mean())
    assert results["base_value"] == pytest.approx(mean_log_odds, abs=1e-9)
    assert results["base_value"] != pytest.approx(model.estimator.intercept, abs=1e-3)  # type: ignore[attr-defined]


def test_a_linear_model_saved_before_category_centring_explains_from_its_intercept(
    kind_dirs: dict[str, Path], tmp_path: Path
) -> None:
    old = tmp_path / "old-linear"
    shutil.copytree(kind_dirs["LogisticRegression"], old)
    document = json.loads((old / "model.json").read_text())
    del document["estimator"]["categorical_mean"]
    (old / "model.json").write_text(json.dumps(document))
    model = load_model(old)
    assert isinstance(model.estimator, LinearEstimator)
    frame = _frame(ROWS)
    explanation = model.explain(frame)
    assert explanation.base_value == model.estimator.intercept
    log_odds = explanation.base_value + explanation.contributions.sum(axis=1)
    np.testing.assert_allclose(log_odds, model.estimator.raw_score(model.schema.encode_frame(frame)), rtol=1e-12)
    np.testing.assert_allclose(1 / (1 + np.exp(-log_odds)), model.predict_proba(frame)[:, 1], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(
        model.predict_proba(frame), load_model(kind_dirs["LogisticRegression"]).predict_proba(frame)
    )


def test_the_ensemble_averages_its_members_log_odds(
    kind_endpoints: dict[str, EmbeddedEndpoint], kind_dirs: dict[str, Path]
) -> None:
    document = json.loads((kind_dirs["VotingEnsemble"] / "model.json").read_text())
    assert document["estimator"]["combine"] == "log_odds"
    model = load_model(kind_dirs["VotingEnsemble"])
    assert isinstance(model.estimator, VotingEstimator)
    matrix = model.schema.encode_frame(_frame(ROWS))
    raw = np.mean([m.booster.predict(matrix, raw_score=True) for m in model.estimator.members], axis=0)  # type: ignore[attr-defined]
    proba = np.asarray(score(kind_endpoints["VotingEnsemble"].scoring_uri, ROWS, "predict_proba").json()["Results"])
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-raw)), rtol=1e-12)
    members_mean = np.mean([m.positive_proba(matrix) for m in model.estimator.members], axis=0)
    assert not np.allclose(proba[:, 1], members_mean, rtol=1e-6), "not the mean of the probabilities"


def test_an_ensemble_saved_before_log_odds_predicts_as_before_and_refuses_to_explain(
    kind_dirs: dict[str, Path], tmp_path: Path
) -> None:
    old = tmp_path / "old-ensemble"
    shutil.copytree(kind_dirs["VotingEnsemble"], old)
    document = json.loads((old / "model.json").read_text())
    del document["estimator"]["combine"]  # as bankscore 0.2 wrote it
    (old / "model.json").write_text(json.dumps(document))
    model = load_model(old)
    matrix = model.schema.encode_frame(_frame(ROWS))
    assert isinstance(model.estimator, VotingEstimator)
    members_mean = np.mean([m.positive_proba(matrix) for m in model.estimator.members], axis=0)
    config = EndpointConfig(model_dir=old, port=0, access_log=False, auth="none")
    with EmbeddedEndpoint(config) as endpoint:
        proba = np.asarray(score(endpoint.scoring_uri, ROWS, "predict_proba").json()["Results"])
        np.testing.assert_allclose(proba[:, 1], members_mean, rtol=1e-12)
        for rows in (ROWS[:3], ROWS):  # the Python and the Arrow parse
            refused = score(endpoint.scoring_uri, rows, "explain")
            assert refused.status_code == 400
            assert refused.json() == {"message": OLD_ENSEMBLE_MESSAGE}
        document = httpx.get(endpoint.base_url + "/swagger.json").json()
    assert "x-bankscore-explain" not in document, "the swagger offers no explain it can't give"
    method = document["definitions"]["ServiceInput"]["properties"]["GlobalParameters"]["properties"]["method"]
    assert method["enum"] == ["predict", "predict_proba"]


# ------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("size", ["small", "large"], ids=["python-parse", "arrow-sized"])
def test_bad_rows_are_refused_as_for_predict(kind_endpoints: dict[str, EmbeddedEndpoint], size: str) -> None:
    url = kind_endpoints["LightGBM"].scoring_uri
    rows = [dict(r) for r in (ROWS[:3] if size == "small" else ROWS)]
    rows[1]["age"] = "forty"
    for method in ("explain", "predict"):
        response = score(url, rows, method)
        assert response.status_code == 400
        assert response.json()["message"] == (
            'Inputs.data[1].age: expected a whole number (int64), got "forty" (a string): '
            'a string must hold a whole number in digits, such as "57"'
        )
    del rows[2]["duration"]
    messages = {score(url, rows, m).json()["message"] for m in ("explain", "predict")}
    assert len(messages) == 1 and "Inputs.data[2]: missing column 'duration'" in messages.pop()


def test_a_data_envelope_service_refuses_explain_naming_what_it_offers(start_endpoint: Any) -> None:
    endpoint = start_endpoint(envelope="data")
    for rows in (ROWS[:2], ROWS):  # the Python and the Arrow parse
        response = httpx.post(endpoint.scoring_uri, json={"data": rows, "method": "explain"}, headers=auth())
        assert response.status_code == 400
        message = response.json()["message"]
        assert message.startswith('method must be "predict" or "predict_proba", not "explain" (a string)')
        assert 'GlobalParameters.method "explain"' in message
    document = httpx.get(endpoint.base_url + "/swagger.json").json()
    assert "x-bankscore-explain" not in document
    assert document["definitions"]["ServiceInput"]["properties"]["method"]["enum"] == ["predict", "predict_proba"]


def test_an_unknown_method_names_all_three(kind_endpoints: dict[str, EmbeddedEndpoint]) -> None:
    response = score(kind_endpoints["LightGBM"].scoring_uri, ROWS[:2], "shap")
    assert response.status_code == 400
    assert response.json()["message"] == (
        'GlobalParameters.method must be "predict", "predict_proba" or "explain", not "shap" (a string)'
    )


# ------------------------------------------------------------------------------------------- swagger


def _swagger(endpoint: Any, version: str = "2") -> dict[str, Any]:
    response = httpx.get(endpoint.base_url + "/swagger.json", params={"version": version})
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize("version", ["2", "3", "3.1"])
def test_swagger_declares_explain_truthfully(kind_endpoints: dict[str, EmbeddedEndpoint], version: str) -> None:
    endpoint = kind_endpoints["LightGBM"]
    document = _swagger(endpoint, version)
    validate(document)
    extension = document["x-bankscore-explain"]
    assert {k: extension[k] for k in ("method", "scale", "positive_class", "features", "answer")} == {
        "method": "explain",
        "scale": "log_odds",
        "positive_class": "yes",
        "features": list(COLUMN_NAMES),
        "answer": "object",
    }
    assert "TreeSHAP" in extension["base_value"]
    schemas = document["definitions"] if version == "2" else document["components"]["schemas"]
    method = schemas["ServiceInput"]["properties"]["GlobalParameters"]["properties"]["method"]
    assert method["enum"] == ["predict", "predict_proba", "explain"]
    prefix = "#/definitions/" if version == "2" else "#/components/schemas/"
    results = schemas["ServiceOutput"]["properties"]["Results"]
    assert results["x-bankscore-results"]["explain"] == {"$ref": prefix + "ExplainResults"}
    resolvable = {**schemas["ServiceOutput"], "definitions": schemas, "components": {"schemas": schemas}}
    answer = score(endpoint.scoring_uri, ROWS[:5], "explain").json()
    jsonschema.validate(answer, resolvable)
    jsonschema.validate(answer["Results"], {**schemas["ExplainResults"], "definitions": schemas})
    broken = dict(answer["Results"], contributions=[row[:-1] for row in answer["Results"]["contributions"]])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schemas["ExplainResults"])
    for method_name in ("predict", "predict_proba"):  # the other answers still read as documented
        other = score(endpoint.scoring_uri, ROWS[:5], method_name).json()
        jsonschema.validate(other["Results"], results["x-bankscore-results"][method_name])


def test_swagger_says_what_a_linear_base_value_is(kind_endpoints: dict[str, EmbeddedEndpoint]) -> None:
    document = _swagger(kind_endpoints["LogisticRegression"])
    assert document["x-bankscore-explain"]["base_value"].startswith("the mean log-odds over the training rows")
    assert "mean log-odds" in document["definitions"]["ExplainResults"]["description"]


# ------------------------------------------------------------------------------- the AutoML explainer shape


def test_explain_contract_answers_the_automl_explainer_shape(
    kind_endpoints: dict[str, EmbeddedEndpoint], kind_dirs: dict[str, Path]
) -> None:
    gen_b = explain(kind_endpoints["LightGBM"].scoring_uri, ROWS)
    config = EndpointConfig(model_dir=kind_dirs["LightGBM"], port=0, access_log=False, auth="none", envelope="explain")
    with EmbeddedEndpoint(config) as endpoint:
        for rows in (ROWS[:3], ROWS):  # the Python and the Arrow parse
            response = httpx.post(endpoint.scoring_uri, json=rows, timeout=60)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            assert list(body) == ["predictions", "engineered_local_importance_values", "raw_local_importance_values"]
            raw = np.asarray(body["raw_local_importance_values"])
            assert raw.shape == (2, len(rows), len(COLUMN_NAMES)), "[class][row][feature]"
            np.testing.assert_array_equal(raw[1], np.asarray(gen_b["contributions"][: len(rows)]))
            np.testing.assert_array_equal(raw[0], -raw[1])
            assert body["engineered_local_importance_values"] == body["raw_local_importance_values"]
            assert body["predictions"] == gen_b["predictions"][: len(rows)]
        assert httpx.get(endpoint.base_url + "/").text == "Healthy"
        wrapped = httpx.post(endpoint.scoring_uri, json={"Inputs": {"data": ROWS[:2]}})
        assert wrapped.status_code == 400
        assert wrapped.json()["message"].startswith("The request body must be a JSON array, not an object")
        bad = [dict(r) for r in ROWS]
        bad[7]["euribor3m"] = "high"
        for rows in (bad[:9], bad):
            refused = httpx.post(endpoint.scoring_uri, json=rows)
            assert refused.status_code == 400
            assert refused.json()["message"].startswith('rows[7].euribor3m: expected a number (double), got "high"')


@pytest.fixture
def served_explain_contract(model_dir: Path, tmp_path: Path) -> Iterator[str]:
    """`bankscore serve --contract explain` as a user starts it."""
    with serving(
        ["--model", str(model_dir), "--no-auth", "--no-access-log", "--contract", "explain"], {}, tmp_path
    ) as (
        base,
        _,
    ):
        yield base


@pytest.mark.slow
@pytest.mark.xdist_group("peer")
def test_microsofts_server_answers_as_our_explain_contract(
    gen_explain: AzureMLPeer, served_explain_contract: str
) -> None:
    rows = ROWS[:60]
    theirs = httpx.post(gen_explain.scoring_uri, json=rows, timeout=60)
    ours = httpx.post(served_explain_contract + "/score", json=rows, timeout=60)
    assert theirs.status_code == ours.status_code == 200
    assert theirs.headers["content-type"] == ours.headers["content-type"] == "application/json"
    a, b = theirs.json(), ours.json()
    assert list(a) == list(b)
    assert a["predictions"] == b["predictions"]
    for key in ("engineered_local_importance_values", "raw_local_importance_values"):
        assert np.shape(a[key]) == np.shape(b[key]) == (2, len(rows), len(COLUMN_NAMES))
        # pandas.read_json (the script's reader) parses decimals a last bit differently from a JSON parser.
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-12)
    for version in (None, "2", "2.0", "3", "3.1", "4"):
        params = {"version": version} if version else None
        want = httpx.get(gen_explain.swagger_uri, params=params)
        got = httpx.get(served_explain_contract + "/swagger.json", params=params)
        assert got.status_code == want.status_code, version
        expected = json.loads(want.text.replace("ML service", "bankscore-local"))  # the services' names
        assert got.json() == expected, version
    # Microsoft's server fails a bad row with its generic 500; ours names the row and column (a deviation).
    bad = [dict(rows[0], age="forty"), *rows[1:3]]
    assert httpx.post(gen_explain.scoring_uri, json=bad, timeout=30).status_code == 500
    refused = httpx.post(served_explain_contract + "/score", json=bad, timeout=30)
    assert refused.status_code == 400 and refused.json()["message"].startswith("rows[0].age: expected a whole number")


def test_the_old_ensemble_under_the_explain_contract_says_why(kind_dirs: dict[str, Path], tmp_path: Path) -> None:
    old = tmp_path / "old-ensemble"
    shutil.copytree(kind_dirs["VotingEnsemble"], old)
    document = json.loads((old / "model.json").read_text())
    del document["estimator"]["combine"]
    (old / "model.json").write_text(json.dumps(document))
    config = EndpointConfig(model_dir=old, port=0, access_log=False, auth="none", envelope="explain")
    with EmbeddedEndpoint(config) as endpoint:
        response = httpx.post(endpoint.scoring_uri, json=ROWS[:2])
    assert response.status_code == 400
    assert response.json()["message"] == (
        'Method "explain" is not available: this VotingEnsemble averages probabilities, which has no exact '
        "additive explanation; retrain it with bankscore 0.3 (its ensemble averages log-odds)"
    )


def test_model_explain_takes_a_frame_or_its_matrix(model: Model) -> None:
    frame = _frame(ROWS[:20])
    by_frame, by_matrix = model.explain(frame), model.explain(model.schema.encode_frame(frame))
    np.testing.assert_array_equal(by_frame.contributions, by_matrix.contributions)
    assert by_frame.predictions == model.predict(frame).tolist()
    np.testing.assert_array_equal(by_frame.probabilities, model.predict_proba(frame)[:, 1])


# ------------------------------------------------------------------------------- the TreeSHAP tables


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_treeshap_tables_match_pred_contrib_on_missing_values_and_odd_categories(zero_as_missing: bool) -> None:
    """Splits that learnt missing values (NaN or zero as missing), categories never seen, negative or fractional
    codes: the tables decide every split as LightGBM does, so the numbers are pred_contrib's."""
    import lightgbm as lgb

    from bankscore.server import treeshap

    rng = np.random.default_rng(3)
    n = 600
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 6, size=n).astype(float), rng.normal(size=n)])
    x[rng.random(n) < 0.15, 0] = np.nan
    x[rng.random(n) < 0.15, 2] = 0.0
    y = ((np.nan_to_num(x[:, 0], nan=1.5) + (x[:, 1] % 2) - x[:, 2]) > 0.5).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5, "seed": 1}
    data = lgb.Dataset(x, label=y, categorical_feature=[1], params={"verbose": -1})
    booster = lgb.train({**params, "zero_as_missing": zero_as_missing}, data, num_boost_round=15)
    dumped = json.dumps(booster.dump_model())
    assert '"missing_type": "NaN"' in dumped or '"missing_type": "Zero"' in dumped
    probe = np.column_stack([rng.normal(size=200), rng.integers(0, 6, size=200).astype(float), rng.normal(size=200)])
    probe[:20, 0] = np.nan
    probe[20:40, 2] = 0.0
    probe[40:45, 1] = [np.nan, -1.0, -0.5, 2.7, 40.0]  # unseen, negative, fractional, far out of range
    probe[45:50, 0] = [0.0, -0.0, 1e-40, np.inf, -np.inf]
    tables = treeshap.build(booster)
    assert tables is not None
    expected = booster.predict(probe, pred_contrib=True)
    np.testing.assert_allclose(tables.contributions(probe), expected[:, :-1], rtol=1e-12, atol=1e-12)
    assert tables.base_value == pytest.approx(expected[0, -1], abs=1e-12)


def test_a_model_too_large_for_tables_falls_back_to_pred_contrib(
    kind_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bankscore.server import treeshap

    monkeypatch.setattr(treeshap, "MAX_TABLE_VALUES", 10)
    model = load_model(kind_dirs["LightGBM"])
    assert isinstance(model.estimator, LightGBMEstimator)
    matrix = model.schema.encode_frame(_frame(ROWS))
    contributions, base = model.estimator.contributions(matrix)
    assert model.estimator._shap is False, "no tables: LightGBM computed them"
    expected = model.estimator.booster.predict(matrix, pred_contrib=True)
    np.testing.assert_array_equal(contributions, expected[:, :-1])
    assert base == expected[0, -1]
