"""The batch endpoint (`POST /jobs`) over real HTTP: its output is what `bankscore score` writes for the same file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from bankscore import ScoringClient
from bankscore.files.scoring import score_file
from tests.support.cli import customers
from tests.support.common import PRIMARY
from tests.support.emulator import client, file_of, finished_job, job


def definition(source: Path, target: Path | None, kind: str = "UriFile") -> dict[str, Any]:
    spec: dict[str, Any] = {"InputData": {"customers": {"JobInputType": kind, "Uri": source.as_uri()}}}
    if target is not None:
        spec["OutputData"] = {"scores": {"JobOutputType": "UriFile", "Uri": target.as_uri()}}
    return {"properties": spec}


def run_job(http: httpx.Client, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    answer = http.post("/jobs", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    started = answer.json()
    assert started["name"].startswith("batchjob-") and started["id"] == job(started["name"])
    assert started["type"] == "Microsoft.MachineLearningServices/workspaces/jobs"
    assert started["properties"]["status"] in ("NotStarted", "Running", "Completed")
    return finished_job(http, started["name"])


def scored_by_the_cli_path(endpoint: Any, source: Path, target: Path) -> bytes:
    """What `bankscore score SOURCE -o TARGET` writes against this endpoint (the function behind the command)."""
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as scoring:
        score_file(scoring, source, target)
    return target.read_bytes()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_job_scores_a_file_into_what_bankscore_score_writes(start_endpoint: Any, tmp_path: Path, suffix: str) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    source = tmp_path / "customers.csv"
    customers(300).to_csv(source, index=False)
    target = tmp_path / "out" / f"scores{suffix}"
    with client(endpoint) as http:
        done = run_job(http, definition(source, target), **{"azureml-model-deployment": "blue"})
        served = http.get("/swagger.json").json()["info"]["x-bankscore-model"]
    properties = done["properties"]
    assert properties["status"] == "Completed", properties.get("error")
    assert properties["outputs"]["scores"] == {"jobOutputType": "uri_file", "uri": target.as_uri()}
    assert properties["inputs"]["customers"] == {"jobInputType": "uri_file", "uri": source.as_uri()}
    assert properties["properties"]["bankscore.rows"] == "300"
    assert properties["properties"]["azureml.deploymentName"] == "blue"
    assert properties["properties"]["bankscore.model.version"] == served["version"]
    assert target.read_bytes() == scored_by_the_cli_path(endpoint, source, tmp_path / f"expected{suffix}")
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file left beside it


def test_a_folder_is_every_csv_in_it_in_name_order_into_one_output(start_endpoint: Any, tmp_path: Path) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    folder = tmp_path / "in"
    folder.mkdir()
    frame = customers(120)
    frame.iloc[70:].to_csv(folder / "b.csv", index=False)
    frame.iloc[:70].to_csv(folder / "a.csv", index=False)
    (folder / "README.txt").write_text("not a table")
    target = tmp_path / "scores.csv"
    with client(endpoint) as http:
        done = run_job(http, definition(folder, target, kind="UriFolder"))
    assert done["properties"]["status"] == "Completed", done["properties"].get("error")
    assert done["properties"]["inputs"]["customers"]["jobInputType"] == "uri_folder"
    first = scored_by_the_cli_path(endpoint, folder / "a.csv", tmp_path / "a.out.csv")
    second = scored_by_the_cli_path(endpoint, folder / "b.csv", tmp_path / "b.out.csv")
    header, rest = second.split(b"\n", 1)
    assert first.startswith(header + b"\n")
    assert target.read_bytes() == first + rest
    assert pd.read_csv(target)["customer_id"].tolist() == frame["customer_id"].tolist()


def test_a_job_without_an_output_writes_into_its_own_folder(start_endpoint: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    endpoint = start_endpoint(pipelines=True, runs_dir=runs)
    source = tmp_path / "customers.csv"
    customers(40).to_csv(source, index=False)
    with client(endpoint) as http:
        done = run_job(http, definition(source, None))
    written = file_of(done["properties"]["outputs"]["score"]["uri"])
    assert written == runs / "batch" / done["name"] / "predictions.csv"
    assert pd.read_csv(written)["prediction"].isin(["yes", "no"]).all()


def test_bad_rows_fail_the_job_naming_row_column_and_value_and_write_nothing(
    start_endpoint: Any, tmp_path: Path
) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    frame = customers(60).astype({"age": object})
    frame.loc[41, "age"] = "forty"
    source = tmp_path / "in" / "customers.csv"
    source.parent.mkdir()
    frame.to_csv(source, index=False)
    target = tmp_path / "out" / "scores.csv"
    target.parent.mkdir()
    with client(endpoint) as http:
        done = run_job(http, definition(source, target))
    properties = done["properties"]
    assert properties["status"] == "Failed"
    message = properties["error"]["message"]
    assert "customers.csv" in message and "row 41, column 'age': 'forty' (expected a whole number)" in message
    assert "\n" not in message and "Traceback" not in message
    assert list(target.parent.iterdir()) == []  # neither the output nor a half-written temporary file


def _exists(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    (tmp / "taken.csv").write_text("already here\n")
    return definition(tmp / "in.csv", tmp / "taken.csv"), "Properties.OutputData.scores.Uri", "OutputExists", "exists"


def _two_inputs(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    body = definition(tmp / "in.csv", tmp / "out.csv")
    body["properties"]["InputData"]["more"] = {"JobInputType": "UriFile", "Uri": (tmp / "in.csv").as_uri()}
    return body, "Properties.InputData", "TooManyValues", "exactly one input"


def _remote_input(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    body = definition(tmp / "in.csv", tmp / "out.csv")
    body["properties"]["InputData"]["customers"]["Uri"] = "azureml://datastores/data/paths/in.csv"
    return body, "Properties.InputData.customers.Uri", "UnsupportedUri", "file://"


def _missing_input(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    return (
        definition(tmp / "nope.csv", tmp / "out.csv"),
        "Properties.InputData.customers.Uri",
        "InputNotFound",
        "No file",
    )


def _folder_as_file(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    return definition(tmp, tmp / "out.csv"), "Properties.InputData.customers.Uri", "InputIsFolder", "UriFolder"


def _folder_output(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    body = definition(tmp / "in.csv", tmp / "out")
    body["properties"]["OutputData"]["scores"]["JobOutputType"] = "UriFolder"
    return body, "Properties.OutputData.scores.JobOutputType", "UnsupportedValue", "must be UriFile"


def _no_input(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    return {"properties": {"InputData": {}}}, "Properties.InputData", "NotEmptyValidator", "must not be empty"


def _unknown_format(tmp: Path) -> tuple[dict[str, Any], str, str, str]:
    return (
        definition(tmp / "in.csv", tmp / "out.txt"),
        "Properties.OutputData.scores.Uri",
        "UnsupportedFileType",
        ".txt",
    )


@pytest.mark.parametrize(
    "case",
    [_exists, _two_inputs, _remote_input, _missing_input, _folder_as_file, _folder_output, _no_input, _unknown_format],
)
def test_an_invalid_job_is_refused_with_azures_validation_list(start_endpoint: Any, tmp_path: Path, case: Any) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    customers(5).to_csv(tmp_path / "in.csv", index=False)
    body, prop, code, said = case(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with client(endpoint) as http:
        answer = http.post("/jobs", json=body)
    assert answer.status_code == 400
    message = answer.json()["message"]
    sentence, listed = message.split(" [", 1)
    assert sentence == "The request is invalid."  # a sentence, then the list (contract §13)
    failures = json.loads("[" + listed)
    assert all(set(f) == {"PropertyName", "ErrorMessage", "AttemptedValue", "ErrorCode"} for f in failures)
    failure = next(f for f in failures if f["PropertyName"] == prop)
    assert failure["ErrorCode"] == code and said in failure["ErrorMessage"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no job ran: nothing was written


def test_job_routes_answer_client_mistakes_with_4xx_json(start_endpoint: Any, tmp_path: Path) -> None:
    endpoint = start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    source = tmp_path / "in.csv"
    customers(10).to_csv(source, index=False)
    with client(endpoint) as http:
        done = run_job(http, definition(source, tmp_path / "out.csv"))
        name = done["name"]
        cases: list[tuple[str, str, Any, int, str]] = [
            ("POST", job(name) + "/cancel", None, 409, "already Completed"),
            ("GET", job("batchjob-unknown"), None, 404, "No job batchjob-unknown"),
            ("POST", job("batchjob-unknown") + "/cancel", None, 404, "No job batchjob-unknown"),
            ("DELETE", job(name), None, 405, "Use GET"),
            ("GET", job(name) + "/cancel", None, 405, "Use POST"),
            ("GET", "/jobs", None, 405, "Use POST /jobs"),
            ("POST", "/jobs", b"[]", 400, "must be a JSON object"),
            ("POST", "/jobs", b"{", 400, "not JSON"),
            ("POST", "/jobs", {"name": "no properties"}, 400, "Properties"),
        ]
        for method, path, body, status, said in cases:
            content = body if isinstance(body, bytes) else None
            payload = None if isinstance(body, bytes) or body is None else body
            headers = {"content-type": "application/json"} if content is not None else None
            answer = http.request(method, path, json=payload, content=content, headers=headers)
            assert answer.status_code == status, (method, path, answer.text)
            assert said in answer.json()["message"], answer.text


def test_the_batch_endpoint_is_off_unless_asked_for(start_endpoint: Any, tmp_path: Path) -> None:
    endpoint = start_endpoint()
    with client(endpoint) as http:
        answer = http.post("/jobs", json=definition(tmp_path / "in.csv", tmp_path / "out.csv"))
    assert answer.status_code == 404 and "No route /jobs" in answer.json()["message"]


def test_file_uris_are_read_as_each_platform_reads_them() -> None:
    from bankscore.server.jobs import local_path

    assert str(local_path("file:///C:/data/My%20Customers.csv", windows=True)) == r"C:\data\My Customers.csv"
    assert local_path("file:///data/My%20Customers.csv", windows=False) == Path("/data/My Customers.csv")
    assert local_path("file://localhost/data/x.csv", windows=False) == Path("/data/x.csv")
    assert local_path("file://server/share/x.csv") is None  # a UNC host is not this machine's disk
    assert local_path("https://example.com/x.csv") is None
