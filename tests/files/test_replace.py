"""Renaming a finished output over the target, where another program holds the target (Windows + Excel).

Linux renames over open files, so Windows' refusal (PermissionError) is produced here by a replace that
refuses the target, to prove the fallback: a short hold is waited out, a lasting one keeps the finished
output beside the target and says where, and nothing scored is lost.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bankscore import _atomic
from bankscore.files import FileFormatError, read_table, write_table
from tests.support.cli import customers


def _refusing(target: Path, times: int) -> Any:
    """os.replace that refuses `target` the first `times` calls, as Windows does while a program has it open."""
    real = os.replace
    refused = {"count": 0}

    def replace(src: Any, dst: Any) -> None:
        if Path(dst) == target and refused["count"] < times:
            refused["count"] += 1
            raise PermissionError(13, "The process cannot access the file because it is being used")
        real(src, dst)

    return replace, refused


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_atomic.time, "sleep", lambda _seconds: None)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".xlsx"])
def test_a_short_hold_is_waited_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    target = tmp_path / f"scored{suffix}"
    write_table(pd.DataFrame({"a": [0]}), target)
    replace, refused = _refusing(target, times=_atomic.REPLACE_ATTEMPTS - 1)
    monkeypatch.setattr(_atomic.os, "replace", replace)
    frame = customers(50)
    write_table(frame, target)
    assert refused["count"] == _atomic.REPLACE_ATTEMPTS - 1
    assert read_table(target)["customer_id"].tolist() == frame["customer_id"].tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name], "no temporary file is left behind"


def test_a_lasting_hold_keeps_the_output_beside_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "scored.csv"
    target.write_text("the file Excel has open\n")
    replace, refused = _refusing(target, times=10**6)
    monkeypatch.setattr(_atomic.os, "replace", replace)
    frame = customers(80)
    with pytest.raises(FileFormatError) as caught:
        write_table(frame, target)
    kept = tmp_path / "scored.new.csv"
    message = str(caught.value)
    assert "another program has it open" in message and str(kept) in message
    assert refused["count"] == _atomic.REPLACE_ATTEMPTS
    assert target.read_text() == "the file Excel has open\n", "the held file is untouched"
    assert read_table(kept)["customer_id"].tolist() == frame["customer_id"].tolist(), "every scored row is kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scored.csv", "scored.new.csv"]
