"""Constants and small helpers every wing's tests use; imports nothing beyond the standard library."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
REAL_DATA: Final = Path(os.environ.get("BANKSCORE_REAL_DATA", ROOT.parent / "shared/data/bankmarketing_train.csv"))
CACHE_ENV: Final = "BANKSCORE_CACHE_DIR"

PRIMARY: Final = "primary-test-key-7f3a9c"
SECONDARY: Final = "secondary-test-key-2b8e41"

# Set by the core-only CI job: the tests run in a venv with `pip install .` alone, and the endpoints they
# talk to are started with this Python (the full environment's) from this model directory.
SERVER_PYTHON_ENV: Final = "BANKSCORE_TEST_SERVER_PYTHON"
MODEL_DIR_ENV: Final = "BANKSCORE_TEST_MODEL_DIR"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def auth(key: str = PRIMARY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


BLOCKER_DIR: Final = Path(__file__).resolve().parent / "blocker"


def without(*modules: str) -> dict[str, str]:
    """Environment for a child process in which `modules` can't be imported (see support/blocker)."""
    path = os.pathsep.join(p for p in (str(BLOCKER_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "BANKSCORE_TEST_BLOCK": ",".join(modules)}
