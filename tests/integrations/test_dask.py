"""Scoring across a Dask cluster: a LocalCluster of 2 worker processes on loopback against a real endpoint
gives exactly what ScoringClient gives in one process, and a bad row names its partition and row."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import orjson
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import bankscore.integrations.dask as bdask
from bankscore import InputValidationError, ScoringClient
from bankscore.bankmarketing.synthetic import generate
from bankscore.files import JournalMismatch, journal_path, write_table
from bankscore.files import score_file as score_in_one_process
from bankscore.server.model import Model
from tests.support.cli import customers
from tests.support.common import PRIMARY, ROOT
from tests.support.faultproxy import HoldingProxy

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


# ------------------------------------------------------------------------------------------- resume (journal)

RESUME_ROWS = 6_000
PARTS = 8  # the blocksize is the input's size / PARTS: about 8 partitions of ~750 rows
WINDOW = 4  # partitions bdask.iter_computed has in flight at once
ONE_POST = 5_000  # batch_rows above a partition's rows: one POST per partition, so POSTs count partitions

# The Python API in a child process with a LocalCluster of its own, so it can be killed (-9) or interrupted
# (SIGINT) like a CLI run. The runs that are not stopped (the reference, the resume after the stop) run here,
# on the module's cluster: what a stopped run left on disk is all a resume reads, and each child costs a
# cluster's start and its worker's imports.
RUNNER = """
import sys
from bankscore.files import JobInterrupted
from bankscore.integrations.dask import score_file
source, target, blocksize, endpoint = sys.argv[1:5]
try:
    done = score_file(source, target, scheduler="local", workers=1, blocksize=blocksize, proba=True,
                      endpoint=endpoint, batch_rows=int(sys.argv[5]),
                      on_resume=lambda found: print(f"resuming: {found.rows} rows", file=sys.stderr))
except JobInterrupted as stopped:
    print(f"interrupted: {stopped.rows} rows kept in {stopped.journal}", file=sys.stderr)
    sys.exit(130)
print(done.rows)
"""


@pytest.fixture(scope="module")
def resume_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    source = tmp_path_factory.mktemp("dask-resume") / "in.csv"
    write_table(customers(RESUME_ROWS, seed=91), source)
    return {"csv": source}


@pytest.fixture
def holding(endpoint: Any) -> Iterator[HoldingProxy]:
    with HoldingProxy(endpoint.scoring_uri.rsplit("/score", 1)[0]) as proxy:
        yield proxy


def _blocksize(source: Path) -> str:
    return str(source.stat().st_size // PARTS + 1)


def _partitions(source: Path) -> int:
    return int(dd.read_csv(str(source), blocksize=_blocksize(source), dtype=object).npartitions)


def _command(proxy: HoldingProxy, source: Path, target: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        RUNNER,
        str(source),
        str(target),
        _blocksize(source),
        proxy.scoring_uri,
        str(ONE_POST),
    ]


def _journaled(target: Path) -> int:
    try:
        return len(orjson.loads((journal_path(target) / "manifest.json").read_bytes())["chunks"])
    except (OSError, ValueError):
        return -1


def _run_api(cluster: Client, proxy: HoldingProxy, source: Path, target: Path) -> tuple[list[int], int]:
    """The job to its end on the module's cluster: the rows each resume reported, and how many POSTs it sent."""
    before = proxy.posts
    resumed: list[int] = []
    done = bdask.score_file(
        source, target, scheduler=cluster.scheduler.address, blocksize=_blocksize(source), proba=True,
        endpoint=proxy.scoring_uri, batch_rows=ONE_POST, on_resume=lambda found: resumed.append(found.rows),
    )  # fmt: skip
    assert done.rows == RESUME_ROWS
    return resumed, proxy.posts - before


def _stop_after(proxy: HoldingProxy, source: Path, target: Path, partitions: int, sig: int) -> tuple[int, str, int]:
    """Start the job, send `sig` once at least `partitions` are journaled and the next POSTs are held; then the
    child's exit code, its stderr, and how many partitions were journaled when it stopped.

    The cluster starts the partitions in flight in any order, but partition WINDOW + j is submitted only once
    partition j is written: so of the first WINDOW + k - 1 POSTs, k are partitions 0..k-1, whatever the order.
    """
    proxy.hold_from = proxy.posts + WINDOW + partitions - 1
    env = {**os.environ, "BANKSCORE_KEY": PRIMARY}
    child = subprocess.Popen(_command(proxy, source, target), stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (_journaled(target) >= partitions and proxy.posts > proxy.hold_from):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, f"{_journaled(target)} partitions journaled"
            time.sleep(0.02)
        child.send_signal(sig)
        _, stderr = child.communicate(timeout=90)
    finally:
        child.kill()  # a no-op once it has stopped; never left running when the test fails
        proxy.hold_from = None
    return child.returncode, stderr, _journaled(target)


_UNINTERRUPTED: dict[str, bytes] = {}


def _uninterrupted(cluster: Client, proxy: HoldingProxy, source: Path, tmp_path: Path, suffix: str) -> bytes:
    if suffix not in _UNINTERRUPTED:
        target = tmp_path / f"reference.{suffix}"
        resumed, posts = _run_api(cluster, proxy, source, target)
        assert posts == _partitions(source) and not resumed
        assert not journal_path(target).exists(), "a finished run leaves no journal"
        _UNINTERRUPTED[suffix] = target.read_bytes()
    return _UNINTERRUPTED[suffix]


def test_dask_killed_after_two_partitions_computes_only_the_missing_ones(
    cluster: Client, holding: HoldingProxy, resume_inputs: dict[str, Path], tmp_path: Path, keyed: None
) -> None:
    source, target = resume_inputs["csv"], tmp_path / "out.csv"
    partitions = _partitions(source)
    assert partitions > WINDOW + 2
    expected = _uninterrupted(cluster, holding, source, tmp_path, "csv")
    code, _, journaled = _stop_after(holding, source, target, 2, signal.SIGKILL)
    assert code == -signal.SIGKILL and not target.exists() and 2 <= journaled < partitions
    resumed, posts = _run_api(cluster, holding, source, target)
    assert posts == partitions - journaled, "only the partitions not journaled are computed again"
    sizes = dd.read_csv(str(source), blocksize=_blocksize(source), dtype=object).map_partitions(len).compute()
    assert resumed == [sum(sizes.tolist()[:journaled])], "resumed from the rows the killed run wrote"
    assert target.read_bytes() == expected, "byte-identical to an uninterrupted --dask run"
    assert not journal_path(target).exists()


def test_dask_ctrl_c_keeps_the_journal_and_parquet_resumes_to_the_same_bytes(
    cluster: Client, holding: HoldingProxy, resume_inputs: dict[str, Path], tmp_path: Path, keyed: None
) -> None:
    """Parquet output: each partition is a part file in the journal, assembled at the end."""
    source, target = resume_inputs["csv"], tmp_path / "out.parquet"
    partitions = _partitions(source)
    expected = _uninterrupted(cluster, holding, source, tmp_path, "parquet")
    code, stderr, journaled = _stop_after(holding, source, target, 2, signal.SIGINT)
    assert code == 130 and 2 <= journaled < partitions, stderr
    assert f"kept in {journal_path(target)}" in stderr and "Traceback" not in stderr
    resumed, posts = _run_api(cluster, holding, source, target)
    assert resumed and resumed[0] > 0
    assert posts == partitions - journaled
    assert target.read_bytes() == expected


def test_dask_refuses_a_changed_input_blocksize_or_engine_before_starting_a_cluster(
    holding: HoldingProxy, resume_inputs: dict[str, Path], tmp_path: Path, keyed: None
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(resume_inputs["csv"].read_bytes())
    target = tmp_path / "out.csv"
    _, _, journaled = _stop_after(holding, source, target, 2, signal.SIGKILL)
    before = holding.posts

    with pytest.raises(JournalMismatch, match="the Dask blocksize was"):
        bdask.score_file(source, target, blocksize="64KB", proba=True, endpoint=holding.scoring_uri)
    with ScoringClient(holding.scoring_uri, key=PRIMARY) as client, pytest.raises(JournalMismatch) as engine:
        score_in_one_process(client, source, target, proba=True)
    assert "was started with --dask and this run is without" in str(engine.value)

    with source.open("a") as handle:  # one more row: size and mtime change
        handle.write(source.read_text().splitlines()[1] + "\n")
    with pytest.raises(JournalMismatch) as changed:
        bdask.score_file(source, target, blocksize=_blocksize(resume_inputs["csv"]), proba=True,
                         endpoint=holding.scoring_uri)  # fmt: skip
    assert "the input changed since" in str(changed.value) and "--restart" in str(changed.value)
    assert holding.posts == before, "refused before anything is scored"
    assert _journaled(target) == journaled, "a refused journal is left as it was"


def test_cli_dask_refuses_a_single_process_journal_and_restart_starts_over(
    tmp_path: Path, endpoint: Any, cluster: Client
) -> None:
    """The CLI hands --restart to the Dask path: a journal the other engine started is refused until it is given.
    The refusal comes before any cluster starts; the run that starts over uses the module's cluster (its address)."""
    from tests.support.faultproxy import FaultProxy

    path = tmp_path / "in.csv"
    generate(3_000, seed=26, label=False).to_csv(path, index=False)
    target = tmp_path / "out.csv"
    bankscore = str(Path(sys.executable).parent / "bankscore")
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]

    def score(*extra: str, via: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "BANKSCORE_ENDPOINT": via, "BANKSCORE_KEY": PRIMARY}
        return subprocess.run(
            [bankscore, "score", str(path), "-o", str(target), "--chunk-rows", "1000", "--batch-rows", "500", *extra],
            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT,
        )  # fmt: skip

    with FaultProxy(base, schedule={3: "400"}) as proxy:  # the second chunk fails for good: the first is journaled
        failed = score("--concurrency", "1", via=proxy.scoring_uri)
    assert failed.returncode == 1 and journal_path(target).is_dir(), failed.stderr
    refused = score("--dask", "local", "--dask-workers", "1", via=endpoint.scoring_uri)
    assert refused.returncode == 2, refused.stderr
    assert "was started without --dask and this run is with" in refused.stderr, refused.stderr
    assert "--restart" in refused.stderr and "Traceback" not in refused.stderr
    done = score("--dask", cluster.scheduler.address, "--restart", via=endpoint.scoring_uri)
    assert done.returncode == 0, done.stderr
    assert not journal_path(target).exists()
    reference = tmp_path / "reference.csv"
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        score_in_one_process(client, path, reference)
    assert target.read_bytes() == reference.read_bytes()
