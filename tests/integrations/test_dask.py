"""Scoring across a Dask cluster: a LocalCluster of 2 worker processes on loopback against a real endpoint
gives exactly what ScoringClient gives in one process, and a bad row names its partition and row."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import bankscore.integrations.dask as bdask
from bankscore import InputValidationError, ScoringClient
from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import Model
from tests.support.common import PRIMARY, ROOT

# One worker runs this module, so its tests share one cluster.
pytestmark = pytest.mark.xdist_group("dask")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """Two worker processes; they inherit BANKSCORE_KEY from this environment, as real workers get it from theirs."""
    previous = os.environ.get("BANKSCORE_KEY")
    os.environ["BANKSCORE_KEY"] = PRIMARY
    try:
        local = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        with local, Client(local) as client:
            yield client
    finally:
        if previous is None:
            os.environ.pop("BANKSCORE_KEY", None)
        else:
            os.environ["BANKSCORE_KEY"] = previous


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKSCORE_KEY", PRIMARY)  # for the contract fetched on this side


def test_cluster_predictions_equal_the_single_process_client(cluster: Client, endpoint: Any, keyed: None) -> None:
    frame = generate(1_000, seed=21, label=False)
    frame.index = pd.RangeIndex(5_000, 6_000)
    ddf = dd.from_pandas(frame, npartitions=6)
    distributed = bdask.predict(ddf, endpoint=endpoint.scoring_uri, batch_rows=70).compute()
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        single = client.predict(frame)
    assert distributed.index.equals(single.index)
    assert distributed.tolist() == single.tolist()
    workers = set(cluster.run(os.getpid).values())
    assert len(workers) == 2 and os.getpid() not in workers, "scored in two other processes"


def test_cluster_probabilities_equal_the_model(cluster: Client, endpoint: Any, keyed: None, model: Model) -> None:
    frame = generate(300, seed=22, label=False)
    proba = bdask.predict_proba(dd.from_pandas(frame, npartitions=3), endpoint=endpoint.scoring_uri).compute()
    assert list(proba.columns) == ["no", "yes"]
    np.testing.assert_allclose(proba.to_numpy(), model.predict_proba(frame))


def test_a_bad_row_names_its_partition_and_row(cluster: Client, endpoint: Any, keyed: None) -> None:
    frame = generate(40, seed=23, label=False).astype({"age": object})
    frame.loc[25, "age"] = "old"
    ddf = dd.from_pandas(frame, npartitions=4, sort=True)
    with pytest.raises(bdask.PartitionError) as caught:
        bdask.predict(ddf, endpoint=endpoint.scoring_uri).compute()
    error = caught.value
    assert error.partition == 2
    assert isinstance(error.error, InputValidationError)
    assert [(p.row, p.column, p.value) for p in error.error.problems] == [(25, "age", "old")]
    assert str(error).startswith("partition 2: 1 problem in the input")


def test_the_key_never_travels_in_the_graph(endpoint: Any, keyed: None) -> None:
    with pytest.raises(TypeError, match="BANKSCORE_KEY"):
        bdask.predict(dd.from_pandas(generate(5, label=False), npartitions=1), endpoint=endpoint.scoring_uri, key="k")
    scorer = bdask._scorer({"endpoint": endpoint.scoring_uri}, "predict")
    assert PRIMARY.encode() not in pickle.dumps(scorer)


def test_cli_dask_local_writes_the_same_file(tmp_path: Path, endpoint: Any) -> None:
    path = tmp_path / "in.csv"
    generate(900, seed=24, label=False).to_csv(path, index=False)
    bankscore = str(Path(sys.executable).parent / "bankscore")
    env = {**os.environ, "BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    outputs = []
    for extra in ([], ["--dask", "local", "--dask-workers", "2"]):
        target = tmp_path / f"out{len(outputs)}.csv"
        result = subprocess.run(
            [bankscore, "score", str(path), "-o", str(target), "--proba", *extra],
            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]


def test_cli_dask_reports_the_bad_rows_partition(tmp_path: Path, endpoint: Any, cluster: Client) -> None:
    """Through the CLI on an existing cluster (its scheduler's address), as `--dask tcp://...` users run it."""
    frame = generate(300, seed=25, label=False).astype({"duration": object})
    frame.loc[290, "duration"] = "long"
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    env = {**os.environ, "BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "bankscore"), "score", str(path), "-o", str(tmp_path / "out.csv"),
         "--dask", cluster.scheduler.address],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "column 'duration'" in result.stderr and "'long'" in result.stderr and "partition" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.csv").exists()


def test_cli_refuses_a_remote_cluster_for_a_loopback_endpoint(tmp_path: Path, endpoint: Any) -> None:
    """A cluster elsewhere can't reach this machine's loopback; one whose scheduler is on loopback can (above)."""
    path = tmp_path / "in.csv"
    generate(10, seed=26, label=False).to_csv(path, index=False)
    env = {**os.environ, "BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    result = subprocess.run(  # the refusal comes before any connection: .invalid never resolves anyway
        [str(Path(sys.executable).parent / "bankscore"), "score", str(path), "-o", str(tmp_path / "out.csv"),
         "--dask", "tcp://dask-scheduler.invalid:8786"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "can't reach an endpoint on this machine's loopback" in result.stderr
    assert not (tmp_path / "out.csv").exists()
