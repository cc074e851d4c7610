"""`bankscore serve --auth entra`: its options (in this process, through Typer's runner) and one real run
with two workers, each checking tokens against the JWKS file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.cli import app
from bankscore.server import runner
from bankscore.server.runner import EndpointConfig
from tests.support.entra import TestIssuer
from tests.support.serving import serving

BODY = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}}
cli = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[EndpointConfig]:
    """What `serve` would run, instead of running it."""
    configs: list[EndpointConfig] = []
    monkeypatch.setattr(runner, "serve", configs.append)
    return configs


def test_auth_entra_builds_the_config_and_says_so(
    served: list[EndpointConfig], jwks_file: Path, model_dir: Path
) -> None:
    args = ["serve", "--model", str(model_dir), "--auth", "entra", "--jwks", str(jwks_file)]
    result = cli.invoke(app, [*args, "--audience", "api://scoring", "--clock-skew", "5", "--issuer", "https://i/"])
    assert result.exit_code == 0, result.output
    assert "auth entra (audience api://scoring)" in result.output
    (config,) = served
    assert (config.auth, config.jwks_file, config.audience, config.clock_skew, config.issuer) == (
        "entra",
        jwks_file,
        "api://scoring",
        5.0,
        "https://i/",
    )
    assert config.primary_key is None and config.keys is None and "Generated a primary key" not in result.output


def test_key_auth_and_no_auth_still_say_what_they_are(served: list[EndpointConfig], model_dir: Path) -> None:
    keyed = cli.invoke(app, ["serve", "--model", str(model_dir)], env={"BANKSCORE_KEY": "k" * 20})
    assert keyed.exit_code == 0 and "auth key." in keyed.output
    anonymous = cli.invoke(app, ["serve", "--model", str(model_dir), "--no-auth"])
    assert anonymous.exit_code == 0 and "auth off." in anonymous.output
    assert [(c.auth, c.primary_key) for c in served] == [("key", "k" * 20), ("none", None)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "entra"], "--auth entra needs --jwks FILE"),
        (["--auth", "entra", "--jwks", "{jwks}", "--key-file", "k"], "checks tokens, not keys: drop --key-file"),
        (["--auth", "entra", "--jwks", "{jwks}", "--no-auth"], "--no-auth and --auth entra contradict"),
        (["--jwks", "{jwks}"], "--jwks and --issuer go with --auth entra"),
        (["--auth", "entra", "--jwks", "{bad}"], "is not JSON (line 1, column 1"),
        (["--auth", "entra", "--jwks", "/nonexistent/jwks.json"], "it does not exist"),
        (["--auth", "entra", "--jwks", "{jwks}", "--audience", " "], "--audience must not be empty"),
        (["--auth", "entra", "--jwks", "{jwks}", "--clock-skew", "-1"], "--clock-skew"),
        (["--auth", "entra", "--jwks", "{jwks}", "--clock-skew", "inf"], "--clock-skew: the clock skew must be finite"),
        (["--auth", "aad"], "--auth"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    served: list[EndpointConfig], jwks_file: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("nope")
    filled = [a.format(jwks=jwks_file, bad=bad) for a in args]
    result = cli.invoke(app, ["serve", "--port", "0", *filled])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not served


def test_two_workers_check_tokens(tmp_path: Path, model_dir: Path, jwks_file: Path, issuer: TestIssuer) -> None:
    log = tmp_path / "requests.log"
    args = ["--model", str(model_dir), "--workers", "2", "--auth", "entra", "--jwks", str(jwks_file)]
    good, forged = issuer.mint(), issuer.mint(signing_key="other")
    with serving([*args, "--log-file", str(log)], {}, tmp_path) as (base, stderr), httpx.Client() as client:
        statuses = [
            client.post(base + "/score", json=BODY, headers={"Authorization": f"Bearer {good}"}).status_code
            for _ in range(10)
        ]
        refused = client.post(base + "/score", json=BODY, headers={"Authorization": f"Bearer {forged}"})
        anonymous = client.get(base + "/swagger.json")
    assert statuses == [200] * 10
    assert refused.status_code == 401 and "signature does not verify" in refused.json()["message"]
    assert anonymous.status_code == 401
    assert "auth entra (audience https://ml.azure.com)" in stderr.read_text()
    records: list[dict[str, Any]] = [json.loads(line) for line in log.read_text().splitlines()]
    assert sum(r["status"] == 200 and r["path"] == "/score" for r in records) == 10
    for text in (log.read_text(), stderr.read_text()):
        assert not any(part in text for token in (good, forged) for part in token.split("."))
