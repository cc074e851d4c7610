"""Bad files, through the CLI: every case exits 2 with one readable `error:` line that names the row and
column, or the cause, and writes no output. Real endpoint, real CLI processes. (Bad input from Python is in
tests/client/test_bad_input.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY

BANKSCORE = str(Path(sys.executable).parent / "bankscore")


def rows(n: int = 6) -> pd.DataFrame:
    return generate(n, seed=51, label=False)


def edit(frame: pd.DataFrame, row: int, column: str, value: Any) -> pd.DataFrame:
    frame = frame.astype({column: object})
    frame.at[row, column] = value
    return frame


def cli(endpoint: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    return subprocess.run([BANKSCORE, "score", *args], capture_output=True, text=True, timeout=120, env=env)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


FILE_CASES: list[tuple[str, Callable[[Path], Path], tuple[str, ...]]] = [
    ("empty file", lambda d: _write(d / "in.csv", b""), ("in.csv is empty",)),
    ("header only", lambda d: _write(d / "in.csv", b"age,job\n"), ("no data rows",)),
    ("not UTF-8", lambda d: _write(d / "in.csv", "age,job\n45,ouvrière\n".encode("latin-1")),
     ("not UTF-8", "offset")),
    ("unknown extension", lambda d: _write(d / "in.txt", b"age\n1\n"), ("unknown file type .txt",)),
    ("malformed JSONL line", lambda d: _write(d / "in.jsonl", b'{"age": 1}\n{oops\n'), ("line 2 is not JSON",)),
    ("repeated CSV header", lambda d: _write(d / "in.csv", b"age,age,job\n1,2,x\n"), ("'age' appears twice",)),
    ("missing file", lambda d: d / "nowhere.csv", ("no such file",)),
    ("corrupt XLSX", lambda d: _write(d / "in.xlsx", b"this is not a workbook"), ("can't be read as xlsx",)),
    ("corrupt Parquet", lambda d: _write(d / "in.parquet", b"PAR1 nope"), ("can't be read as parquet",)),
    ("a 10 MB cell", lambda d: _ten_mb_cell(d), ("row 3", "'age'")),
    ("missing column in a file", lambda d: _frame_file(d, rows().drop(columns="job")), ("'job'", "missing column")),
    ("bad cell in a file", lambda d: _frame_file(d, edit(rows(), 4, "duration", "long")),
     ("row 4", "'duration'", "'long'")),
]  # fmt: skip


def _frame_file(directory: Path, frame: pd.DataFrame) -> Path:
    path = directory / "in.csv"
    frame.to_csv(path, index=False)
    return path


def _ten_mb_cell(directory: Path) -> Path:
    frame = edit(rows(), 3, "age", "9" * 10_000_000)
    return _frame_file(directory, frame)


@pytest.mark.parametrize(("case", "make", "fragments"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_bad_files(endpoint: Any, tmp_path: Path, case: str, make: Any, fragments: tuple[str, ...]) -> None:
    source = make(tmp_path)
    target = tmp_path / "out.csv"
    result = cli(endpoint, str(source), "-o", str(target))
    assert result.returncode == 2, f"{case}: {result.stderr}"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], f"{case}: {fragment!r} not in {errors[0]!r}"
    assert len(errors[0]) < 1_000, "one readable line, even for a 10 MB cell"
    assert not target.exists()


def test_a_number_column_with_one_bad_cell_keeps_the_others_exact(tmp_path: Path) -> None:
    """pandas reads such a column as text; the good cells get their numbers back by the SDK's rules, not through a
    float (2**53 + 1 would round), and only the bad cell stays text, so only it is reported."""
    from bankscore.files import iter_frames

    path = tmp_path / "mixed.csv"
    path.write_text("age,duration\n9007199254740993,1\nabc,2\n 57 ,3\n", encoding="utf-8")
    (frame,) = iter_frames(path, types={"age": "int64", "duration": "int64"})
    assert frame["age"].tolist() == [9007199254740993, "abc", 57]
    assert type(frame["age"].iloc[0]) is int
