"""`bankscore pipeline` and `bankscore batch`, and the SDK behind them, against the emulator's published pipeline
and batch endpoint — with Entra tokens (ARM-scoped for pipelines and the jobs API, ML-scoped for invoke and
scoring) and with the key, as CI and cron would call them.

The commands run in-process (typer's CliRunner), except the schedule recipe, which runs the committed cron line in
bash exactly as cron would, with the real DefaultAzureCredential getting tokens from a loopback managed identity.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from bankscore import (
    BatchEndpointClient,
    PipelineClient,
    PipelineError,
    ScoringClient,
    WaitTimeoutError,
)
from bankscore.bankmarketing.synthetic import generate
from bankscore.cli import app
from bankscore.server.model import load_model
from tests.support.cli import customers
from tests.support.common import PRIMARY
from tests.support.emulator import SUBMIT, alive, wait_for
from tests.support.entra import ManagedIdentityServer, SigningCredential, TestIssuer

TINY = {"rows": 300, "folds": 2, "candidates": "LogisticRegression", "seed": 5}
LONG = {"rows": 200_000, "folds": 10, "candidates": "VotingEnsemble"}  # minutes: caught while it runs
ROWS = generate(20, seed=9, label=False)
REPO = Path(__file__).resolve().parents[2]
cli = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return cli.invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def keyed(start_endpoint: Any, tmp_path: Path) -> Any:
    """The emulator with key auth and pipelines; the CLI finds the key where users put it (BANKSCORE_KEY)."""
    return start_endpoint(pipelines=True, runs_dir=tmp_path / "runs")


KEY_ENV = {"BANKSCORE_KEY": PRIMARY, "BANKSCORE_AUTH": "key"}


def test_pipeline_submit_wait_completes_and_the_endpoint_serves_the_new_model(
    entra_endpoint: Any, issuer: TestIssuer, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    endpoint = entra_endpoint(pipelines=True, runs_dir=runs)
    credential = SigningCredential(issuer)
    with PipelineClient(credential) as pipelines:
        run = pipelines.submit(endpoint.base_url + SUBMIT, "nightly", parameters=TINY, description="weekly")
        assert run.status in ("NotStarted", "Running") and run.url.endswith(f"/experiments/nightly/runs/{run.id}")
        seen: list[str] = []
        final = pipelines.wait(run, timeout=120, poll_interval=0.2, on_update=lambda r, _: seen.append(r.status))
    assert final.succeeded and final.status == "Completed" and final.error is None
    assert seen[-1] == "Completed" and seen.count("Completed") == 1
    trained = load_model(runs / run.id / "model")
    with ScoringClient(endpoint.scoring_uri, credential=credential) as scoring:
        assert scoring.contract.title  # read with a token
        proba = scoring.predict_proba(ROWS)
    np.testing.assert_allclose(proba.to_numpy()[:, 1], trained.predict_proba(ROWS)[:, 1], rtol=1e-9)
    scopes = {c[0] for c in credential.calls}
    assert scopes == {"https://management.azure.com/.default", "https://ml.azure.com/.default"}


def test_cli_submit_wait_prints_the_run_and_exits_0_only_when_it_completed(keyed: Any) -> None:
    url = keyed.base_url + SUBMIT
    params = [a for name, value in TINY.items() for a in ("--param", f"{name}={value}")]
    done = invoke(
        "pipeline", "submit", url, "--experiment", "ci", *params, "--wait", "--poll-interval", "0.2", env=KEY_ENV
    )
    assert done.exit_code == 0, done.output
    assert "Submitted run" in done.output and "Run URL: http" in done.output and "Completed" in done.output
    run_url = next(line.split("Run URL: ")[1] for line in done.output.splitlines() if "Run URL: " in line)
    again = invoke("pipeline", "status", run_url.strip(), env=KEY_ENV)
    assert again.exit_code == 0 and "Completed" in again.output


def test_a_failing_run_exits_1_with_the_services_error_in_one_line(keyed: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    done = invoke(
        "pipeline", "submit", keyed.base_url + SUBMIT, "--experiment", "ci", "--param", f"data_path={missing}",
        "--param", "folds=2", "--wait", "--poll-interval", "0.2", env=KEY_ENV,
    )  # fmt: skip
    assert done.exit_code == 1
    error_lines = [line for line in done.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Failed" in error_lines[0] and "nowhere.csv" in error_lines[0]
    assert "Traceback" not in done.output


def test_cancel_stops_a_running_run_and_status_then_exits_1(keyed: Any) -> None:
    with PipelineClient(key=PRIMARY) as pipelines:
        run = pipelines.submit(keyed.base_url + SUBMIT, "ci", parameters=LONG)
        running = wait_for(
            lambda: dict(pipelines.get(run).details),
            lambda r: r["status"] == "Running" and "bankscore.processId" in r["properties"],
            f"run {run.id} running",
        )
        pid = int(running["properties"]["bankscore.processId"])
        # A wait that runs out says so and leaves the run going.
        with pytest.raises(WaitTimeoutError, match="still Running") as caught:
            pipelines.wait(run, timeout=0.3, poll_interval=0.1)
        assert caught.value.last.status == "Running"
    workspace = keyed.base_url + SUBMIT
    cancel = invoke("pipeline", "cancel", run.id, "--workspace", workspace, "--experiment", "ci", env=KEY_ENV)
    assert cancel.exit_code == 0 and "Cancel requested" in cancel.output
    status = invoke("pipeline", "status", run.url, "--wait", "--poll-interval", "0.1", "--timeout", "60", env=KEY_ENV)
    assert status.exit_code == 1 and "Canceled" in status.output
    assert not alive(pid)


def test_cli_usage_mistakes_are_one_line_and_exit_2(keyed: Any) -> None:
    no_workspace = invoke("pipeline", "status", "some-run-id", env=KEY_ENV)
    assert no_workspace.exit_code == 2 and "--workspace" in no_workspace.output
    not_a_pipeline = invoke("pipeline", "submit", keyed.base_url + "/score", "--experiment", "x", env=KEY_ENV)
    assert not_a_pipeline.exit_code == 2 and "PipelineSubmit" in not_a_pipeline.output
    unknown = invoke(
        "pipeline", "submit", keyed.base_url + SUBMIT, "--experiment", "x", "--param", "rowz=1", env=KEY_ENV
    )
    assert unknown.exit_code == 1 and "rowz" in unknown.output  # the service's 400, in its words
    with pytest.raises(PipelineError, match="run-history URL"):
        PipelineClient(key=PRIMARY).get("https://example.com/not/a/run")
    bad_param = invoke(
        "pipeline", "submit", keyed.base_url + SUBMIT, "--experiment", "x", "--param", "rows", env=KEY_ENV
    )
    assert bad_param.exit_code == 2 and "NAME=VALUE" in bad_param.output


# ------------------------------------------------------------------ batch endpoints


def test_cli_batch_invoke_wait_writes_what_bankscore_score_writes(keyed: Any, tmp_path: Path) -> None:
    source = tmp_path / "customers.csv"
    customers(400).to_csv(source, index=False)
    target = tmp_path / "out" / "scores.csv"
    done = invoke(
        "batch", "invoke", keyed.base_url, "--input", str(source), "--output", str(target), "--wait",
        "--poll-interval", "0.1", env=KEY_ENV,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Started job batchjob-" in done.output and "Completed" in done.output and target.as_uri() in done.output
    expected = tmp_path / "expected.csv"
    scored = invoke("score", str(source), "-o", str(expected), "--endpoint", keyed.scoring_uri, env=KEY_ENV)
    assert scored.exit_code == 0, scored.output
    assert target.read_bytes() == expected.read_bytes()

    # The output exists now: Azure refuses the job, and the validation list reads as one line.
    again = invoke("batch", "invoke", keyed.base_url, "--input", str(source), "--output", str(target), env=KEY_ENV)
    assert again.exit_code == 1
    assert "OutputExists" in again.output or "exists" in again.output
    assert again.output.count("error:") == 1 and "Traceback" not in again.output


def test_batch_jobs_with_tokens_invoke_on_the_data_plane_and_are_read_on_the_control_plane(
    entra_endpoint: Any, issuer: TestIssuer, tmp_path: Path
) -> None:
    endpoint = entra_endpoint(pipelines=True, runs_dir=tmp_path / "runs")
    source = tmp_path / "in"
    source.mkdir()
    for part in range(2):
        customers(150, seed=part).to_csv(source / f"part-{part}.csv", index=False)
    target = tmp_path / "scores.csv"
    credential = SigningCredential(issuer)
    with BatchEndpointClient(endpoint.base_url, credential, deployment="blue") as batch:
        assert batch.management_url == endpoint.base_url  # loopback: the emulator plays both planes
        job = batch.invoke(source.as_uri() + "/", target.as_uri())
        final = batch.wait(job, timeout=120, poll_interval=0.1)
    assert final.succeeded and final.output == target.as_uri(), final.error
    assert final.details["properties"]["properties"]["azureml.deploymentName"] == "blue"
    assert len(target.read_text().splitlines()) == 301
    scopes = [c[0] for c in credential.calls]
    assert "https://ml.azure.com/.default" in scopes and "https://management.azure.com/.default" in scopes


def test_batch_input_rules_on_this_side(keyed: Any, tmp_path: Path) -> None:
    remote = invoke("batch", "invoke", "https://x.westeurope.inference.ml.azure.com", "--input", "local.csv")
    assert remote.exit_code == 2 and "upload it first" in remote.output
    missing = invoke("batch", "invoke", keyed.base_url, "--input", str(tmp_path / "none.csv"), env=KEY_ENV)
    assert missing.exit_code == 2 and "no such file" in missing.output
    not_id = invoke("batch", "status", keyed.base_url, "batchjob-1", env=KEY_ENV)
    assert not_id.exit_code == 2 and "not a job id" in not_id.output


# ------------------------------------------------------------------ the schedule recipe, as cron runs it


@pytest.fixture
def managed_identity(issuer: TestIssuer) -> Iterator[ManagedIdentityServer]:
    with ManagedIdentityServer(issuer) as server:
        yield server


def test_the_committed_cron_line_and_ci_schedule_run_a_pipeline_to_completion(
    entra_endpoint: Any, managed_identity: ManagedIdentityServer, tmp_path: Path
) -> None:
    endpoint = entra_endpoint(pipelines=True, runs_dir=tmp_path / "runs", pipeline_defaults=TINY)
    crontab = (REPO / "examples" / "schedules" / "crontab").read_text().splitlines()
    entries = [line for line in crontab if line.strip() and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(entries) == 1
    command = entries[0].split(None, 5)[5]  # after minute, hour, day, month, weekday
    workflow = yaml.safe_load((REPO / "examples" / "schedules" / "retrain-workflow.yml").read_text())
    step = next(s for s in workflow["jobs"]["retrain"]["steps"] if "bankscore pipeline" in s.get("run", ""))
    assert step["run"].strip() in command  # the CI schedule runs the same command
    assert set(step["env"]) == {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "BANKSCORE_PIPELINE_URL"}

    home = tmp_path / "home"
    (home / ".config" / "bankscore").mkdir(parents=True)
    exports = {"BANKSCORE_PIPELINE_URL": endpoint.base_url + SUBMIT, **managed_identity.env}
    (home / ".config" / "bankscore" / "env.sh").write_text(
        "".join(f"export {name}='{value}'\n" for name, value in exports.items())
    )
    env = managed_identity.environ(
        {"HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"}
    )
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        env.pop(name, None)  # only env.sh provides them, as on the machine cron runs on
    done = subprocess.run([shutil.which("bash") or "/bin/bash", "-c", command], env=env, capture_output=True,
                          text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Completed" in done.stdout + done.stderr
    assert managed_identity.resources and set(managed_identity.resources) == {"https://management.azure.com"}
    assert "eyJ" not in done.stdout + done.stderr
