"""ruff (lint and format) and mypy --strict run with the suite, so `uv run pytest` is the one gate.

The mypy checks share one cache and run one after the other on the same worker (xdist group), so the
typing checks of the public API reuse what the package check analysed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECKED = ("bankscore", "tests", "benchmarks", "scripts", "excel", "loadtest")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "format", "--check", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.xdist_group("mypy")
def test_mypy_strict_is_clean_on_the_package() -> None:
    result = _run(str(BIN / "mypy"), "--cache-dir", str(ROOT / ".mypy_cache"), "--strict", "bankscore")
    assert result.returncode == 0, result.stdout + result.stderr


MISSPELT = """\
from bankscore import AsyncScoringClient, ScoringClient

ScoringClient("http://127.0.0.1:1/score", timout=5)
AsyncScoringClient("http://127.0.0.1:1/score", batch_row=10)
client = ScoringClient("http://127.0.0.1:1/score")
client.with_options(concurency=2)
client.with_options(timeout="5")
ScoringClient("http://127.0.0.1:1/score", verify=3)
"""

CORRECT = """\
from bankscore import NOT_GIVEN, AsyncScoringClient, RetryPolicy, ScoringClient, ScoringOptions

options: ScoringOptions = {"timeout": 5.0, "batch_rows": 200}
client = ScoringClient("http://127.0.0.1:1/score", key_file="keys.txt", concurrency=2, verify="ca.pem")
from_dict = ScoringClient("http://127.0.0.1:1/score", **options)
faster: ScoringClient = client.with_options(concurrency=8, deadline=None, retry_policy=RetryPolicy(max_retries=1))
same: ScoringClient = client.with_options(timeout=NOT_GIVEN)
twin: AsyncScoringClient = AsyncScoringClient("http://127.0.0.1:1/score").with_options(max_batch_bytes=1 << 20)
"""


def _mypy_snippet(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(source)
    return _run(str(BIN / "mypy"), "--cache-dir", str(ROOT / ".mypy_cache"), "--strict", str(snippet))


@pytest.mark.xdist_group("mypy")
def test_mypy_catches_a_misspelt_or_mistyped_client_option(tmp_path: Path) -> None:
    result = _mypy_snippet(tmp_path, MISSPELT)
    assert result.returncode == 1, result.stdout + result.stderr
    flagged = {int(n) for n in re.findall(r"snippet\.py:(\d+): error", result.stdout)}
    assert flagged == {3, 4, 6, 7, 8}, result.stdout
    for name in ("timout", "batch_row", "concurency"):
        assert f'Unexpected keyword argument "{name}"' in result.stdout, result.stdout


@pytest.mark.xdist_group("mypy")
def test_mypy_accepts_the_documented_client_options(tmp_path: Path) -> None:
    result = _mypy_snippet(tmp_path, CORRECT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scoring_options_lists_exactly_the_constructor_keywords() -> None:
    import inspect

    from bankscore import ScoringClient, ScoringOptions

    keywords = [
        name for name, p in inspect.signature(ScoringClient.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY
    ]
    assert list(ScoringOptions.__annotations__) == keywords
    changeable = [n for n in inspect.signature(ScoringClient.with_options).parameters if n != "self"]
    assert set(changeable) <= set(keywords) and "timeout" in changeable
