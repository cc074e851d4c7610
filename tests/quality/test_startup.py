"""What importing the SDK and starting the CLI load: the slim core stays slim at run time too.

Each check runs in a fresh interpreter and reads its sys.modules, so nothing this test process has
already imported can hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "pyarrow", "lightgbm", "sklearn", "uvicorn", "locust", "dask", "xlwings", "openpyxl")
WINGS = ("bankscore.server", "bankscore.files", "bankscore.cli", "bankscore.excel", "bankscore.loadtest")


def _loaded_after(code: str) -> set[str]:
    probe = f"""
import json, sys
try:
{"".join("    " + line + chr(10) for line in code.splitlines())}
except SystemExit:
    pass
sys.stdout.write("\\n" + json.dumps(sorted(sys.modules)))
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def _present(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in modules or any(m.startswith(n + ".") for m in modules)]


def test_import_bankscore_loads_no_heavy_library_no_wing_and_not_even_httpx() -> None:
    loaded = _loaded_after("import bankscore")
    assert _present(loaded, (*HEAVY, *WINGS, "typer", "rich", "httpx")) == []


def test_the_client_loads_httpx_and_pydantic_but_no_pandas() -> None:
    loaded = _loaded_after("from bankscore import ScoringClient, AsyncScoringClient")
    assert {"httpx", "pydantic"} <= loaded
    assert _present(loaded, (*HEAVY, *WINGS, "typer")) == []
    if "rich" in loaded:  # httpx imports its own CLI (click + rich) when both are installed; nothing else may
        assert "httpx._main" in loaded


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_the_cli_starts_without_pandas_httpx_or_a_wing(flag: str) -> None:
    loaded = _loaded_after(f"sys.argv = ['bankscore', {flag!r}]\nfrom bankscore.cli import main\nmain()")
    assert "typer" in loaded
    assert _present(loaded, (*HEAVY, "httpx", "bankscore.server", "bankscore.files", "bankscore.excel")) == []


def test_lazy_names_are_the_real_objects_and_listed() -> None:
    import bankscore
    from bankscore._client import ScoringClient

    assert bankscore.ScoringClient is ScoringClient
    assert set(bankscore.__all__) <= set(dir(bankscore))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = bankscore.Nope  # type: ignore[attr-defined]


def test_moved_error_classes_are_still_importable_from_the_top() -> None:
    import bankscore
    from bankscore.server.errors import ModelLoadError, TrainingDataError

    assert bankscore.TrainingDataError is TrainingDataError  # type: ignore[attr-defined]
    assert bankscore.ModelLoadError is ModelLoadError  # type: ignore[attr-defined]
    assert issubclass(TrainingDataError, bankscore.BankscoreError)
    assert issubclass(bankscore.KeySourceError, bankscore.BankscoreError)
    assert issubclass(bankscore.MissingDependencyError, bankscore.BankscoreError)


def test_the_version_has_one_source() -> None:
    import importlib.metadata

    import bankscore
    from bankscore._base_client import USER_AGENT
    from bankscore.server.app import SERVER_VERSION

    assert importlib.metadata.version("bankscore") == bankscore.__version__
    assert USER_AGENT == SERVER_VERSION == f"bankscore/{bankscore.__version__}"


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("bankscore.dask", "bankscore.integrations.dask", "predict"),
        ("bankscore.synthetic", "bankscore.bankmarketing.synthetic", "generate"),
    ],
)
def test_old_module_names_still_work_and_say_where_they_moved(old: str, new: str, name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", f"import {old}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and new in result.stderr
    import importlib
    import warnings

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)
