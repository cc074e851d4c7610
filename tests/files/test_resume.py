"""Resume: `bankscore score` killed (-9) or stopped (Ctrl-C) part-way continues where it stopped.

Real processes, a real endpoint behind a proxy that counts POSTs and, from a chosen request on,
holds them unanswered: the child is then stuck inside the next chunk, with exactly the chunks
before it journaled, when it is killed. The resumed run must send only the missing chunks and
write the bytes an uninterrupted run writes. A changed input or changed options are refused.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from bankscore import ScoringClient
from bankscore.files import journal_path, score_file, write_table
from tests.support.cli import customers
from tests.support.common import PRIMARY
from tests.support.faultproxy import FaultProxy, HoldingProxy
from tests.support.serving import BANKSCORE

ROWS = 12_000  # six chunks: enough kill points, few seconds per run
CHUNK = 2_000
BATCH = 500  # divides CHUNK: a chunk is exactly CHUNK / BATCH requests
POSTS_PER_CHUNK = CHUNK // BATCH


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("resume-inputs")
    frame = customers(ROWS, seed=77)
    frame.loc[[5, 4_321], "customer_id"] = None  # a gap the output must keep
    paths = {}
    for suffix in ("csv", "jsonl", "parquet"):
        paths[suffix] = folder / f"in.{suffix}"
        write_table(frame, paths[suffix])
    return paths


@pytest.fixture
def proxy(endpoint: Any) -> Any:
    with HoldingProxy(endpoint.scoring_uri.rsplit("/score", 1)[0]) as proxy:
        yield proxy


def _env(proxy: FaultProxy) -> dict[str, str]:
    return {**os.environ, "BANKSCORE_ENDPOINT": proxy.scoring_uri, "BANKSCORE_KEY": PRIMARY}


def _args(
    source: Path, target: Path, *extra: str, concurrency: int = 2, chunk: int = CHUNK, batch: int = BATCH
) -> list[str]:
    return [
        "score", str(source), "-o", str(target), "--chunk-rows", str(chunk), "--batch-rows", str(batch),
        "--concurrency", str(concurrency), *extra,
    ]  # fmt: skip


def _run(proxy: FaultProxy, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """The command to its end, and how many POSTs it sent."""
    before = proxy.posts
    done = subprocess.run([BANKSCORE, *args], capture_output=True, text=True, timeout=180, env=_env(proxy))
    return done, proxy.posts - before


def _chunks(target: Path) -> int:
    try:
        return len(orjson.loads((journal_path(target) / "manifest.json").read_bytes())["chunks"])
    except (OSError, ValueError):
        return -1


def _stop_inside_chunk(proxy: HoldingProxy, args: list[str], target: Path, chunks: int, sig: int) -> Any:
    """Start the command, let it journal `chunks` chunks in all, and send `sig` while it waits inside the next."""
    proxy.hold_from = proxy.posts + (chunks - max(_chunks(target), 0)) * POSTS_PER_CHUNK
    child = subprocess.Popen(
        [BANKSCORE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(proxy)
    )
    deadline = time.monotonic() + 60
    while not (_chunks(target) == chunks and proxy.posts > proxy.hold_from):
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline and _chunks(target) <= chunks, f"{_chunks(target)} chunks journaled"
        time.sleep(0.02)
    child.send_signal(sig)
    _, stderr = child.communicate(timeout=60)
    proxy.hold_from = None
    return child.returncode, stderr


_REFERENCE: dict[str, bytes] = {}


def _reference(proxy: FaultProxy, source: Path, tmp_path: Path, suffix: str) -> bytes:
    """The output of one uninterrupted run (computed once per format), by the library call the command makes:
    in this process, as the runs that are stopped and resumed need a process of their own and this one doesn't."""
    if suffix not in _REFERENCE:
        target = tmp_path / f"reference.{suffix}"
        before, resumed = proxy.posts, []
        with ScoringClient(proxy.scoring_uri, key=PRIMARY, batch_rows=BATCH, concurrency=2) as client:
            score_file(client, source, target, chunk_rows=CHUNK, on_resume=resumed.append)
        assert proxy.posts - before == ROWS // BATCH and not resumed
        assert not journal_path(target).exists(), "a finished run leaves no journal"
        _REFERENCE[suffix] = target.read_bytes()
    return _REFERENCE[suffix]


# ------------------------------------------------------------------------------------------- kill -9, then resume


@pytest.mark.parametrize("chunks", [0, 1, 2, 4, 5])
def test_killed_at_any_point_resumes_sending_only_the_missing_chunks(
    proxy: HoldingProxy, inputs: dict[str, Path], tmp_path: Path, chunks: int
) -> None:
    source, target = inputs["csv"], tmp_path / "out.csv"
    expected = _reference(proxy, source, tmp_path, "csv")
    code, _ = _stop_inside_chunk(proxy, _args(source, target), target, chunks, signal.SIGKILL)
    assert code == -signal.SIGKILL and not target.exists()
    done, posts = _run(proxy, *_args(source, target))
    assert done.returncode == 0, done.stderr
    assert posts == (ROWS - chunks * CHUNK) // BATCH, "only the chunks not journaled are sent again"
    if chunks:
        assert f"resuming: {chunks * CHUNK:,} rows already written" in done.stderr
    assert target.read_bytes() == expected, "byte-identical to an uninterrupted run"
    assert not journal_path(target).exists()


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_jsonl_and_parquet_resume_to_the_same_bytes(
    proxy: HoldingProxy, inputs: dict[str, Path], tmp_path: Path, suffix: str
) -> None:
    source, target = inputs[suffix], tmp_path / f"out.{suffix}"
    expected = _reference(proxy, source, tmp_path, suffix)
    _stop_inside_chunk(proxy, _args(source, target), target, 2, signal.SIGKILL)
    _stop_inside_chunk(proxy, _args(source, target), target, 4, signal.SIGKILL)  # a resumed run killed again
    done, posts = _run(proxy, *_args(source, target))
    assert done.returncode == 0, done.stderr
    assert posts == (ROWS - 4 * CHUNK) // BATCH
    assert target.read_bytes() == expected
    if suffix == "parquet":
        import pyarrow.parquet as pq

        assert pq.ParquetFile(target).num_row_groups == ROWS // CHUNK, "one row group per chunk"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_ctrl_c_stops_cleanly_and_prints_the_command_that_resumes(
    proxy: HoldingProxy, inputs: dict[str, Path], tmp_path: Path, concurrency: int
) -> None:
    """With several requests held unanswered on the wire, Ctrl-C still stops at once (not after --timeout)."""
    source, target = inputs["csv"], tmp_path / "out.csv"
    expected = _reference(proxy, source, tmp_path, "csv")
    args = _args(source, target, concurrency=concurrency)
    started = time.monotonic()
    code, stderr = _stop_inside_chunk(proxy, args, target, 3, signal.SIGINT)
    assert time.monotonic() - started < 30, "stopped well before the 60 s request timeout"
    assert code == 130, stderr
    assert f"interrupted: {3 * CHUNK:,} rows written are kept in {journal_path(target)}" in stderr
    assert "Traceback" not in stderr and PRIMARY not in stderr
    command = stderr.split("run the same command again:", 1)[1].strip().splitlines()[0]
    words = shlex.split(command)
    assert words[0] == "bankscore" and words[1:] == args
    done, posts = _run(proxy, *words[1:])
    assert done.returncode == 0, done.stderr
    assert posts == (ROWS - 3 * CHUNK) // BATCH
    assert target.read_bytes() == expected


# ------------------------------------------------------------------------------------------- refusals


def test_a_changed_input_or_changed_options_are_refused_and_restart_starts_over(
    proxy: HoldingProxy, inputs: dict[str, Path], tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(inputs["csv"].read_bytes())
    target = tmp_path / "out.csv"
    _stop_inside_chunk(proxy, _args(source, target), target, 2, signal.SIGKILL)

    done, posts = _run(proxy, *_args(source, target, "--proba"))
    assert done.returncode == 2 and posts == 0, done.stderr
    assert "started with other options (--proba (proba=) was off, now on)" in done.stderr
    assert "--restart" in done.stderr and "Traceback" not in done.stderr
    done, posts = _run(proxy, *_args(source, target, "--chunk-rows", "1000"))
    assert done.returncode == 2 and posts == 0 and "--chunk-rows (chunk_rows=) was 2,000, now 1,000" in done.stderr

    with source.open("a") as handle:  # one more row: size, mtime (and the file's meaning) change
        handle.write(source.read_text().splitlines()[1] + "\n")
    done, posts = _run(proxy, *_args(source, target))
    assert done.returncode == 2 and posts == 0, done.stderr
    assert "the input changed since" in done.stderr and "size " in done.stderr and "--restart" in done.stderr
    assert _chunks(target) == 2, "a refused journal is left as it was"

    done, posts = _run(proxy, *_args(source, target, "--restart"))
    assert done.returncode == 0, done.stderr
    assert posts == ROWS // BATCH + 1, "every row scored again (the new row is a request of its own)"
    assert "resuming" not in done.stderr and target.read_text().count("\n") == ROWS + 2


def test_an_output_folder_that_cant_be_written_is_refused_before_scoring(
    proxy: HoldingProxy, inputs: dict[str, Path], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done, posts = _run(proxy, *_args(inputs["csv"], blocker / "out.csv"))
    assert done.returncode == 2 and posts == 0, done.stderr
    assert f"can't write {blocker / 'out.csv'}" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes to any folder")
def test_a_read_only_folder_is_refused_before_scoring(
    proxy: HoldingProxy, inputs: dict[str, Path], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done, posts = _run(proxy, *_args(inputs["csv"], locked / "out.csv"))
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2 and posts == 0, done.stderr
    assert "can't write" in done.stderr and "Permission denied" in done.stderr


def test_xlsx_is_written_whole_and_keeps_no_journal(proxy: HoldingProxy, tmp_path: Path) -> None:
    # Chunks a quarter the size, with as many requests each: writing an XLSX costs far more per row than the rest.
    sizes = {"chunk": CHUNK // 4, "batch": BATCH // 4}
    source = tmp_path / "in.csv"
    customers(3 * sizes["chunk"], seed=5).to_csv(source, index=False)
    target = tmp_path / "out.xlsx"
    proxy.hold_from = proxy.posts + POSTS_PER_CHUNK  # killed inside the second chunk
    child = subprocess.Popen([BANKSCORE, *_args(source, target, **sizes)], stderr=subprocess.PIPE, env=_env(proxy))
    while proxy.posts <= proxy.hold_from:
        assert child.poll() is None
        time.sleep(0.02)
    child.kill()
    child.wait()
    proxy.hold_from = None
    assert not target.exists() and not journal_path(target).exists()
    done, posts = _run(proxy, *_args(source, target, **sizes))
    assert done.returncode == 0 and posts == 3 * POSTS_PER_CHUNK, "XLSX starts over: it is written whole"
    assert "resuming" not in done.stderr and not journal_path(target).exists()
