"""Chunked `bankscore score`: the same output whatever the chunk size, errors that name the file's rows,
bounded read-ahead, and nothing written where the output goes when any chunk fails. Real endpoint, real files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from bankscore import InputValidationError, ModelError, ScoringClient
from bankscore.files import (
    FileFormatError,
    Resumed,
    iter_frames,
    open_writer,
    read_table,
    score_file,
    score_frames,
    write_table,
)
from bankscore.files.journal import public_address
from bankscore.server.model import Model
from tests.support.cli import customers, run
from tests.support.common import PRIMARY


@pytest.fixture
def client(endpoint: Any) -> Any:
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY, batch_rows=40, concurrency=2) as client:
        yield client


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".xlsx"])
def test_chunked_output_is_byte_identical_to_one_chunk(
    tmp_path: Path, client: ScoringClient, model: Model, suffix: str
) -> None:
    source = customers(530)
    source.loc[[7, 300], "customer_id"] = None  # a gap in a column the contract doesn't know
    path = tmp_path / f"in{suffix}"
    write_table(source, path)
    whole, chunked = tmp_path / f"whole{suffix}", tmp_path / f"chunked{suffix}"
    first = score_file(client, path, whole, proba=True, chunk_rows=10_000)
    second = score_file(client, path, chunked, proba=True, chunk_rows=37)
    assert first.rows == second.rows == 530
    if suffix in (".csv", ".jsonl"):
        assert chunked.read_bytes() == whole.read_bytes()
    pd.testing.assert_frame_equal(read_table(chunked), read_table(whole))
    scored = read_table(chunked)
    assert scored["prediction"].tolist() == model.predict(source.drop(columns="customer_id")).tolist()


def test_chunk_index_is_the_files_row_number(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    customers(95).to_csv(path, index=False)
    frames = list(iter_frames(path, chunk_rows=30))
    assert [len(f) for f in frames] == [30, 30, 30, 5]
    assert [f.index[0] for f in frames] == [0, 30, 60, 90]


def test_invalid_rows_in_several_chunks_are_all_reported_and_nothing_is_written(
    tmp_path: Path, client: ScoringClient
) -> None:
    source = customers(200).astype({"age": object, "campaign": object})
    source.loc[5, "age"] = "old"
    source.loc[170, "campaign"] = "twice"
    path = tmp_path / "in.csv"
    source.to_csv(path, index=False)
    target = tmp_path / "out.csv"
    with pytest.raises(InputValidationError) as caught:
        score_file(client, path, target, chunk_rows=50)
    assert caught.value.total == 2
    assert [(p.row, p.column, p.value) for p in caught.value.problems] == [
        (5, "age", "old"),
        (170, "campaign", "twice"),
    ]
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"], "no temporary file left behind"


def test_on_error_column_across_chunks(tmp_path: Path, client: ScoringClient, model: Model) -> None:
    source = customers(120).astype({"duration": object})
    source.loc[[3, 61, 119], "duration"] = "long"
    path = tmp_path / "in.jsonl"
    write_table(source, path)
    target = tmp_path / "out.csv"
    result = score_file(client, path, target, on_error="column", chunk_rows=25)
    assert (result.rows, result.failed) == (120, 3)
    scored = pd.read_csv(target)
    assert scored.index[scored["error"].notna()].tolist() == [3, 61, 119]
    assert scored.loc[61, "error"].startswith("invalid input: row 61, column 'duration'")
    good = source.drop(index=[3, 61, 119]).drop(columns="customer_id").astype({"duration": int})
    assert scored["prediction"].dropna().tolist() == model.predict(good).tolist()


def _seed_failing_third_request() -> int:
    """A fault seed whose first two requests pass and whose third draws the fault (rate 0.5)."""
    for seed in range(1000):
        rng = random.Random(seed)
        if [rng.random() < 0.5 for _ in range(3)] == [False, False, True]:
            return seed
    raise AssertionError("no such seed")


def test_a_failing_chunk_leaves_no_output_and_keeps_the_chunks_written(tmp_path: Path, start_endpoint: Any) -> None:
    # The third request fails for good (a model error is never retried) after two chunks were written.
    seed = _seed_failing_third_request()
    broken = start_endpoint(fault_rate=0.5, faults=("model-error",), fault_seed=seed)
    path = tmp_path / "in.csv"
    customers(90).to_csv(path, index=False)
    target = tmp_path / "out.csv"
    done: list[int] = []
    with (
        ScoringClient(broken.scoring_uri, key=PRIMARY, batch_rows=30, concurrency=1) as broken_client,
        pytest.raises(ModelError),
    ):
        score_file(broken_client, path, target, chunk_rows=30, progress=lambda rows, _: done.append(rows))
    assert max(done) == 60, "two chunks were scored and written before the failure"
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv.partial"]
    manifest = orjson.loads((tmp_path / "out.csv.partial" / "manifest.json").read_bytes())
    assert [c["rows"] for c in manifest["chunks"]] == [30, 30]

    healthy = start_endpoint()
    resumed: list[Resumed] = []
    with ScoringClient(healthy.scoring_uri, key=PRIMARY, batch_rows=30, concurrency=1) as client:
        result = score_file(client, path, target, chunk_rows=30, on_resume=resumed.append)
        score_file(client, path, tmp_path / "whole.csv", chunk_rows=30)
    assert result.rows == 90 and resumed[0].rows == 60, "the failed job is continued, not started over"
    assert resumed[0].endpoint_was == public_address(broken.scoring_uri), "another endpoint is pointed out"
    assert target.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv", "whole.csv"]


def test_reader_errors_surface_with_the_files_name(tmp_path: Path, client: ScoringClient) -> None:
    path = tmp_path / "in.jsonl"
    lines = list(customers(60).to_json(orient="records", lines=True).splitlines())
    lines[45] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    target = tmp_path / "out.csv"
    with pytest.raises(FileFormatError, match=r"in.jsonl line 46 is not JSON"):
        score_file(client, path, target, chunk_rows=10)
    assert not target.exists()


def test_parquet_writer_types_a_column_empty_in_the_first_chunk(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    with open_writer(target) as writer:
        writer.write(pd.DataFrame({"note": [None, None], "n": [1, 2]}))
        writer.write(pd.DataFrame({"note": ["call back", None], "n": [3, 4]}))
    back = pd.read_parquet(target)
    assert back["note"].tolist()[2] == "call back" and back["n"].tolist() == [1, 2, 3, 4]


def test_parquet_writer_refuses_a_column_that_changes_type(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"

    def write_both() -> None:
        with open_writer(target) as writer:
            writer.write(pd.DataFrame({"n": [1, 2]}))
            writer.write(pd.DataFrame({"n": ["three", "four"]}))

    with pytest.raises(FileFormatError, match="changes type after row 2"):
        write_both()
    assert not target.exists()


def test_score_frames_streams_lazily(client: ScoringClient, model: Model) -> None:
    chunks = [customers(20, seed=s).drop(columns="customer_id") for s in range(3)]
    pulled: list[int] = []

    def source() -> Any:
        for i, chunk in enumerate(chunks):
            pulled.append(i)
            yield chunk

    scored = score_frames(client, source())
    first = next(scored)
    assert pulled == [0], "one chunk read per chunk scored"
    assert first["prediction"].tolist() == model.predict(chunks[0]).tolist()
    assert len(list(scored)) == 2


def test_cli_chunk_rows_gives_the_same_file(tmp_path: Path, endpoint: Any) -> None:
    env = {"BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    path = tmp_path / "in.csv"
    customers(300).to_csv(path, index=False)
    outputs = []
    for chunk in ("1000", "45"):
        target = tmp_path / f"out-{chunk}.csv"
        result = run("score", str(path), "-o", str(target), "--chunk-rows", chunk, env=env)
        assert result.returncode == 0, result.stderr
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
