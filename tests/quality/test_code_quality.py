"""ruff and mypy --strict run with the suite, so `uv run pytest` is the one gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", "bankscore", "tests", "benchmarks", "scripts", "excel")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_on_the_package() -> None:
    result = _run(str(BIN / "mypy"), "--strict", "bankscore")
    assert result.returncode == 0, result.stdout + result.stderr
