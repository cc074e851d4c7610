"""The CLI finds an endpoint's key in the OS keyring when neither the environment nor --key-file gives one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from bankscore.credentials import KEYRING_SERVICE
from bankscore.server.model import Model
from tests.support.cli import customers, run
from tests.support.common import PRIMARY, ROOT
from tests.support.filekeyring import BACKEND, FILE_ENV


def test_score_uses_the_key_set_key_stored_in_the_keyring(endpoint: Any, tmp_path: Path, model: Model) -> None:
    store = tmp_path / "keyring.json"
    store.write_text(json.dumps({f"{KEYRING_SERVICE}\n{endpoint.scoring_uri}": PRIMARY}))
    source = customers(20)
    source.to_csv(tmp_path / "in.csv", index=False)
    env = {
        "BANKSCORE_ENDPOINT": endpoint.scoring_uri,
        "PYTHON_KEYRING_BACKEND": BACKEND,
        FILE_ENV: str(store),
        "PYTHONPATH": str(ROOT),
    }
    result = run("score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), env=env)
    assert result.returncode == 0, result.stderr
    assert PRIMARY not in result.stdout + result.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["prediction"].tolist() == model.predict(source.drop(columns="customer_id")).tolist()

    store.write_text("{}")  # the same command with nothing in the keyring is refused by the endpoint
    refused = run("score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out2.csv"), env=env)
    assert refused.returncode != 0
    assert "401" in refused.stderr or "key" in refused.stderr.lower()
    assert not (tmp_path / "out2.csv").exists()
