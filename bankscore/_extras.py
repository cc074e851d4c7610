"""Optional extras, imported on first use: a missing one is one line naming the command that installs it.

The core (`pip install bankscore`) is the client and the CLI; the server, file formats beyond CSV and
JSONL, Excel, load tests and Dask are extras. Their modules import through `require`, so a user who
lacks one gets `MissingDependencyError` (a `BankscoreError`) instead of a bare ImportError traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Final

from ._exceptions import MissingDependencyError

EXTRAS: Final[dict[str, tuple[str, ...]]] = {
    "server": ("uvicorn", "lightgbm", "sklearn", "pyarrow", "platformdirs", "filelock", "swagger_ui_bundle"),
    "files": ("pyarrow", "openpyxl"),
    "excel": ("xlwings", "keyring", "openpyxl"),
    "loadtest": ("locust",),
    "dask": ("dask", "distributed"),
    "azure": ("azure.identity",),
}


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import `module`, or raise MissingDependencyError naming `pip install "bankscore[extra]"`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        if missing.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but one of its own imports is broken: show that, not an install hint
        raise MissingDependencyError(feature, extra, module.split(".")[0]) from None


def check(extra: str, feature: str) -> None:
    """Raise MissingDependencyError unless every module of `extra` can be found (nothing is imported)."""
    for module in EXTRAS[extra]:
        if not installed(module):
            raise MissingDependencyError(feature, extra, module)


def installed(module: str) -> bool:
    """True when `module` can be imported (found on the path), without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # an import hook that refuses it, or a module left half-imported
        return False
