"""A missing extra is one line naming the install command: exit 2 from the CLI, MissingDependencyError in Python.

The extras' modules are hidden from a child process (tests/support/blocker), as if never installed;
the core-only CI job checks the same messages in a venv that really lacks them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import customers
from tests.support.common import PRIMARY, ROOT, without
from tests.support.serving import BANKSCORE


def _cli(
    args: list[str], blocked: tuple[str, ...], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("BANKSCORE_KEY", "BANKSCORE_ENDPOINT"))}
    return subprocess.run(
        [BANKSCORE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**full, **(env or {}), **without(*blocked)},
    )


def _assert_one_line(result: subprocess.CompletedProcess[str], extra: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and f'pip install "bankscore[{extra}]"' in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "blocked", "extra"),
    [
        (["serve", "--port", "0"], ("uvicorn",), "server"),
        (["train", "--rows", "200"], ("lightgbm",), "server"),
        (["score", "examples/customers.csv"], ("uvicorn",), "server"),
        (["docs", "--port", "0"], ("swagger_ui_bundle",), "server"),
        (["loadtest", "-n", "1"], ("locust",), "loadtest"),
        (["excel", "template", "-o", "never.xlsm"], ("xlwings",), "excel"),
    ],
    ids=["serve", "train", "score-with-no-endpoint", "docs", "loadtest", "excel"],
)
def test_cli_names_the_extra_to_install(args: list[str], blocked: tuple[str, ...], extra: str) -> None:
    _assert_one_line(_cli(args, blocked), extra)


@pytest.mark.parametrize(
    ("suffix", "blocked", "extra_args"),
    [(".parquet", ("pyarrow",), []), (".xlsx", ("openpyxl",), []), (".csv", ("distributed",), ["--dask", "local"])],
    ids=["parquet", "xlsx", "dask"],
)
def test_cli_file_formats_and_dask_name_their_extra(
    tmp_path: Path, endpoint: Any, suffix: str, blocked: tuple[str, ...], extra_args: list[str]
) -> None:
    from bankscore.files import write_table

    source = tmp_path / f"in{suffix}"
    write_table(customers(20), source)
    env = {"BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    result = _cli(["score", str(source), "-o", str(tmp_path / f"out{suffix}"), *extra_args], blocked, env)
    _assert_one_line(result, "files" if suffix != ".csv" else "dask")
    assert not (tmp_path / f"out{suffix}").exists()


def test_csv_and_jsonl_need_no_extra(tmp_path: Path, endpoint: Any) -> None:
    from bankscore.files import read_table, write_table

    frame = customers(30)
    for suffix in (".csv", ".jsonl"):
        write_table(frame, tmp_path / f"in{suffix}")
        env = {"BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}
        out = tmp_path / f"out{suffix}"
        result = _cli(["score", str(tmp_path / f"in{suffix}"), "-o", str(out)], ("pyarrow", "openpyxl"), env)
        assert result.returncode == 0, result.stderr
        assert read_table(out)["customer_id"].tolist() == frame["customer_id"].tolist()


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("bankscore.server.runner", "uvicorn", "server"),
        ("bankscore.server.runner", "lightgbm", "server"),
        ("bankscore.server.training", "lightgbm", "server"),
        ("bankscore.server.entra", "jwt", "server"),
        ("bankscore.excel.udfs", "xlwings", "excel"),
        ("bankscore.loadtest.users", "locust", "loadtest"),
        ("bankscore.integrations.dask", "dask", "dask"),
    ],
)
def test_python_gets_missing_dependency_error(module: str, blocked: str, extra: str) -> None:
    probe = f"""
import bankscore
try:
    import {module}
except bankscore.MissingDependencyError as exc:
    assert isinstance(exc, ImportError) and isinstance(exc, bankscore.BankscoreError)
    assert exc.extra == {extra!r} and exc.module == {blocked!r}, (exc.extra, exc.module)
    print(exc)
else:
    raise SystemExit("imported although {blocked} is missing")
"""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **without(blocked)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'pip install "bankscore[{extra}]"' in result.stdout


def test_the_server_errors_need_no_extra() -> None:
    """`except bankscore.TrainingDataError:` must work in a core install: the error classes import nothing."""
    probe = (
        "import bankscore, bankscore.server\n"
        "assert issubclass(bankscore.TrainingDataError, bankscore.BankscoreError)\n"
        "from bankscore.server import ModelLoadError\n"
        "try:\n    bankscore.server.EmbeddedEndpoint\n"
        "except bankscore.MissingDependencyError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, **without("uvicorn", "lightgbm", "sklearn", "pyarrow")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert 'pip install "bankscore[server]"' in result.stdout


def test_a_broken_module_inside_an_extra_is_not_mistaken_for_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bankscore import MissingDependencyError
    from bankscore._extras import require

    with pytest.raises(MissingDependencyError, match=r'pip install "bankscore\[files\]"'):
        require("surely_not_installed_module", "files", "Reading Parquet files")
    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("import surely_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as caught:
        require("brokenpkg", "files", "x")  # installed, but its own import is broken: show that
    assert not isinstance(caught.value, MissingDependencyError)
    assert caught.value.name == "surely_missing_dependency"
