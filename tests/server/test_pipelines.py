"""The published pipeline `retrain`, over real HTTP: runs that really retrain, then serve what they trained.

Runs here train tiny models (300 rows, 2 folds, logistic regression: a few seconds, mostly imports). The
runs that must be caught while they run ask for far more work than any test waits for, and are canceled
or stopped long before they could finish.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import load_model
from bankscore.server.pipelines import LOG_NAME
from tests.support.common import PRIMARY
from tests.support.emulator import (
    SUBMIT,
    alive,
    client,
    file_of,
    finished_run,
    history,
    pipeline_run,
    run_state,
)
from tests.support.serving import serving

TINY: dict[str, Any] = {"rows": 300, "folds": 2, "candidates": "LogisticRegression", "seed": 11}
# Minutes of work on this machine (10-fold CV of a LightGBM ensemble on 200,000 rows): caught while it runs.
LONG: dict[str, Any] = {"rows": 200_000, "folds": 10, "candidates": "VotingEnsemble"}
ROWS = generate(25, seed=3, label=False)


def submit(http: httpx.Client, parameters: dict[str, Any], experiment: str = "nightly") -> str:
    answer = http.post(SUBMIT, json={"ExperimentName": experiment, "ParameterAssignments": parameters})
    assert answer.status_code == 200, answer.text
    run_id: str = answer.json()["Id"]
    return run_id


def served_model(http: httpx.Client) -> dict[str, Any]:
    info: dict[str, Any] = http.get("/swagger.json").json()["info"]["x-bankscore-model"]
    return info


def proba(http: httpx.Client) -> list[list[float]]:
    body = {"Inputs": {"data": ROWS.to_dict(orient="records")}, "GlobalParameters": {"method": "predict_proba"}}
    answer = http.post("/score", json=body)
    assert answer.status_code == 200, answer.text
    results: list[list[float]] = answer.json()["Results"]
    return results


def digest(directory: Path) -> str:
    hashed = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        hashed.update(str(path.relative_to(directory)).encode())
        if path.is_file():
            hashed.update(path.read_bytes())
    return hashed.hexdigest()


def test_a_run_retrains_and_the_endpoint_then_serves_the_model_it_trained(
    start_endpoint: Any, tmp_path: Path, model_dir: Path
) -> None:
    original = digest(model_dir)
    runs = tmp_path / "runs"
    endpoint = start_endpoint(pipelines=True, runs_dir=runs)
    with client(endpoint) as http:
        before, proba_before = served_model(http), proba(http)
        answer = http.post(
            SUBMIT,
            json={
                "ExperimentName": "nightly",
                "ParameterAssignments": TINY,
                "Description": "retrain",
                "RunSource": "SDK",
            },
        )
        assert answer.status_code == 200, answer.text
        entity = answer.json()
        run_id = entity["Id"]
        assert entity["Status"]["StatusCode"] in ("NotStarted", "Running")
        assert entity["RunHistoryExperimentName"] == "nightly" and entity["PipelineId"] == "retrain"
        assert entity["ParameterAssignments"] == TINY and entity["RunSource"] == "SDK"

        run = finished_run(http, "nightly", run_id)
        assert run["status"] == "Completed", run.get("error")
        assert run["runId"] == run_id and run["startTimeUtc"] and run["endTimeUtc"]
        version = run["properties"]["bankscore.model.version"]
        trained = load_model(runs / run_id / "model")
        assert trained.name == "LogisticRegression" and trained.version == version != before["version"]
        assert "LogisticRegression" in file_of(run["logFiles"][LOG_NAME]).read_text()
        assert http.get(history("nightly", run_id, details=True)).json()["status"] == "Completed"
        assert http.get(pipeline_run(run_id)).json()["Status"]["StatusCode"] == "Completed"

        # The endpoint now answers with the trained model: swagger, and the probabilities themselves.
        assert served_model(http) == {"name": "LogisticRegression", "version": version, "envelope": "inputs"}
        proba_after = np.asarray(proba(http))
        np.testing.assert_allclose(proba_after, trained.predict_proba(ROWS), rtol=1e-12)
        assert not np.allclose(proba_after, proba_before, atol=1e-3)
        assert http.get("/report").content == (runs / run_id / "model" / "report.html").read_bytes()  # its report

        refused = http.post(pipeline_run(run_id) + "/cancel", json={})
        assert refused.status_code == 409 and "already Completed" in refused.json()["message"]
    assert digest(model_dir) == original  # the model the server started with is untouched


def _csv_without_age(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "no-age.csv"
    generate(200, seed=2).drop(columns=["age", "job"]).to_csv(path, index=False)
    return {"data_path": path.as_uri(), "folds": 2}


@pytest.mark.parametrize(
    ("parameters", "said"),
    [
        (lambda tmp: {"data_path": str(tmp / "missing.csv")}, "missing.csv: no such file"),
        (lambda tmp: {"rows": 50}, "Invalid value for parameter 'rows': Input should be greater than or equal to 100"),
        (_csv_without_age, "missing column(s) age, job"),
    ],
    ids=["no-such-file", "too-few-rows", "columns-missing"],
)
def test_a_bad_parameter_value_fails_the_run_with_the_trainers_error(
    start_endpoint: Any, tmp_path: Path, parameters: Any, said: str
) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    with client(endpoint) as http:
        before = served_model(http)
        run_id = submit(http, parameters(tmp_path))
        run = finished_run(http, "nightly", run_id)
        assert run["status"] == "Failed"
        message = run["error"]["error"]["message"]
        assert said in message and "Traceback" not in message and "\n" not in message
        assert http.get(pipeline_run(run_id)).json()["Status"]["StatusDetail"] == message
        assert served_model(http) == before  # a failed run serves nothing


def test_client_mistakes_are_4xx_json_and_start_no_run(start_endpoint: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    endpoint = start_endpoint(pipelines=True, runs_dir=runs)
    other = SUBMIT.replace("/retrain", "/train-v2")
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", SUBMIT, {"ParameterAssignments": TINY}, 400, "ExperimentName is required"),
        ("POST", SUBMIT, {"ExperimentName": "e", "ParameterAssignments": {"rowz": 1, "learning_rate": 0.1}}, 400,
         "Unknown pipeline parameter(s) learning_rate, rowz"),
        ("POST", SUBMIT, {"ExperimentName": "e", "ParameterAssignments": {"rows": {"n": 1}}}, 400,
         "ParameterAssignments.rows must be a string or a number"),
        ("POST", SUBMIT, {"ExperimentName": "no spaces please"}, 400, "is not valid"),
        ("POST", SUBMIT, b"{not json", 400, "not JSON"),
        ("POST", SUBMIT, [1, 2], 400, "must be a JSON object"),
        ("GET", SUBMIT, None, 405, "Use POST"),
        ("POST", other, {"ExperimentName": "e"}, 404, "No published pipeline 'train-v2'"),
        ("POST", SUBMIT.replace("workspaces/local", "workspaces/prod"), {"ExperimentName": "e"}, 404, "workspace"),
        ("GET", history("e", "0b5e-unknown"), None, 404, "No pipeline run 0b5e-unknown"),
        ("POST", pipeline_run("0b5e-unknown") + "/cancel", {}, 404, "No pipeline run 0b5e-unknown"),
        ("GET", pipeline_run("0b5e-unknown") + "/cancel", None, 405, "Use POST"),
    ]  # fmt: skip
    with client(endpoint) as http:
        for method, path, body, status, said in cases:
            content = body if isinstance(body, bytes) else None
            payload = None if isinstance(body, bytes) or body is None else body
            answer = http.request(method, path, json=payload, content=content)
            assert answer.status_code == status, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert said in answer.json()["message"], answer.text
    assert not runs.exists() or not any(runs.iterdir())  # nothing was queued, nothing was trained


def test_runs_wait_their_turn_and_cancel_stops_the_trainer_by_pid(start_endpoint: Any, tmp_path: Path) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    with client(endpoint) as http:
        first, second, third = submit(http, LONG), submit(http, LONG), submit(http, TINY)
        running = run_state(http, "nightly", first, lambda run: run["status"] != "NotStarted")
        assert running["status"] == "Running"
        pid = int(running["properties"]["bankscore.processId"])
        assert alive(pid)
        for queued in (second, third):  # one at a time: the others wait
            waiting = http.get(history("nightly", queued)).json()
            assert waiting["status"] == "NotStarted" and waiting["startTimeUtc"] is None
            assert "bankscore.processId" not in waiting["properties"] and waiting["logFiles"] == {}

        # A queued run is canceled at once and never starts.
        answer = http.post(pipeline_run(third) + "/cancel", json={})
        assert answer.status_code == 200 and answer.json()["Status"]["StatusCode"] == "Canceled"

        answer = http.post(pipeline_run(first) + "/cancel", json={})
        assert answer.status_code == 200
        assert answer.json()["Status"]["StatusCode"] in ("CancelRequested", "Canceled")
        assert finished_run(http, "nightly", first)["status"] == "Canceled"
        assert not alive(pid)  # terminated and reaped before the run said Canceled

        # The queue moves on to the next run, and that one stops the same way.
        moved_on = run_state(http, "nightly", second, lambda run: run["status"] != "NotStarted")
        assert moved_on["status"] == "Running"
        second_pid = int(moved_on["properties"]["bankscore.processId"])
        assert second_pid != pid
        assert http.post(pipeline_run(second) + "/cancel").status_code == 200
        assert finished_run(http, "nightly", second)["status"] == "Canceled"
        assert not alive(second_pid)

        never = http.get(history("nightly", third, details=True)).json()
        assert never["status"] == "Canceled" and never["startTimeUtc"] is None
        assert "bankscore.processId" not in never["properties"]
        assert http.post(pipeline_run(third) + "/cancel", json={}).status_code == 200  # canceling again is fine


def test_a_run_over_its_time_limit_fails_and_its_trainer_is_stopped(start_endpoint: Any, tmp_path: Path) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs", run_timeout=1.0)
    with client(endpoint) as http:
        run_id = submit(http, LONG)
        run = finished_run(http, "nightly", run_id)
        assert run["status"] == "Failed"
        assert "exceeded its time limit of 1 s" in run["error"]["error"]["message"]
        assert not alive(int(run["properties"]["bankscore.processId"]))


def test_stopping_the_endpoint_stops_its_running_trainer(start_endpoint: Any, tmp_path: Path) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    with client(endpoint) as http:
        run_id = submit(http, LONG)
        running = run_state(http, "nightly", run_id, lambda run: run["status"] != "NotStarted")
    pid = int(running["properties"]["bankscore.processId"])
    assert alive(pid)
    endpoint.stop()
    assert not alive(pid)


def test_bankscore_serve_pipelines_names_the_pipeline_and_leaves_no_trainer_behind(
    tmp_path: Path, model_dir: Path
) -> None:
    args = ["--model", str(model_dir), "--pipelines", "--runs-dir", str(tmp_path / "runs"), "--no-access-log"]
    with serving(args, {"BANKSCORE_KEY": PRIMARY}, tmp_path) as (base, stderr):
        assert f"Pipeline 'retrain': POST {base}{SUBMIT}" in stderr.read_text()
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {PRIMARY}"}, timeout=30) as http:
            run_id = submit(http, LONG)
            running = run_state(http, "nightly", run_id, lambda run: run["status"] != "NotStarted")
        pid = int(running["properties"]["bankscore.processId"])
        assert alive(pid)
    assert not alive(pid)  # Ctrl-C (SIGINT) stopped the server, and the server its trainer
    assert "Traceback" not in stderr.read_text()


def test_the_pipeline_routes_are_off_unless_asked_for(start_endpoint: Any) -> None:
    endpoint = start_endpoint()
    with client(endpoint) as http:
        answer = http.post(SUBMIT, json={"ExperimentName": "nightly"})
    assert answer.status_code == 404 and "No route" in answer.json()["message"]


def test_parameters_become_trainer_options_that_no_value_can_turn_into_another_option() -> None:
    from bankscore.server.pipelines import _train_arguments

    arguments = _train_arguments(
        {"label": "--out=/etc", "candidates": ["LightGBM", "LogisticRegression"], "data_path": "file:///d/x.csv"}
    )
    assert arguments == ["--label=--out=/etc", "--candidates=LightGBM,LogisticRegression", "--data=/d/x.csv"]


def test_the_pipeline_settings_survive_the_trip_to_worker_processes(tmp_path: Path, model_dir: Path) -> None:
    from bankscore.server.runner import EndpointConfig

    config = EndpointConfig(model_dir=model_dir, pipelines=True, runs_dir=tmp_path / "runs", run_timeout=42.5)
    assert EndpointConfig.from_env(config.to_env()) == config
    plain = EndpointConfig(model_dir=model_dir)
    assert EndpointConfig.from_env(plain.to_env()) == plain
    assert plain.pipelines is False and plain.runs_dir is None and plain.run_timeout == 600.0
