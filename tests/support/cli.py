"""Run the `bankscore` console script as a user would, and make input files for it."""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

from .serving import BANKSCORE

if TYPE_CHECKING:
    import pandas as pd


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_KEY")}
    full_env.pop("BANKSCORE_ENDPOINT", None)
    return subprocess.run(
        [BANKSCORE, *args], capture_output=True, text=True, timeout=timeout, env={**full_env, **(env or {})}
    )


def customers(n: int, seed: int = 31) -> pd.DataFrame:
    from bankscore.bankmarketing.synthetic import generate

    frame = generate(n, seed=seed, label=False)
    frame.insert(0, "customer_id", [f"C{i:05d}" for i in range(n)])
    return frame
