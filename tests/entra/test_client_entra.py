"""The clients and front-ends with Microsoft Entra tokens, against the embedded endpoint in `--auth entra` mode.

Tokens are real RS256 JWTs signed by the test issuer; the endpoint checks them against its JWKS as Entra-protected
services do. The CLI, Excel, the load test and Dask get theirs from the real azure-identity DefaultAzureCredential,
pointed at a loopback managed-identity token server (no network).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bankscore import AsyncScoringClient, AuthenticationError, ScoringClient, TokenAuth
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY
from tests.support.entra import (
    MANAGEMENT_AUDIENCE,
    AsyncSigningCredential,
    InfoSigningCredential,
    ManagedIdentityServer,
    SigningCredential,
    TestIssuer,
)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return generate(200, seed=11, label=False)


@pytest.fixture
def contract(endpoint: Any) -> Any:
    """The contract the entra endpoints serve too (same model), read here with the key."""
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        return client.contract


@pytest.fixture
def reference(endpoint: Any, rows: pd.DataFrame) -> pd.Series:
    """The same rows scored with key auth: what token-authenticated calls must give."""
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        return client.predict(rows)


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused (HTTP 401)" in r.getMessage()]


def test_tokens_that_expire_during_a_long_predict_are_refreshed_and_no_batch_fails(
    entra_endpoint: Any, issuer: TestIssuer, rows: pd.DataFrame, reference: pd.Series, caplog: pytest.LogCaptureFixture
) -> None:
    # Tokens live 5 s and the endpoint allows no clock skew; the job takes ~20 s (80 requests of 500 ms, 2 at once).
    endpoint = entra_endpoint(clock_skew=0.0, latency_ms=500.0)
    credential = SigningCredential(issuer, lifetime=5.0)
    caplog.set_level(logging.INFO, logger="bankscore")
    started = time.monotonic()
    with ScoringClient(endpoint.scoring_uri, credential=credential, batch_rows=20, concurrency=2) as client:
        frame = pd.concat([rows] * 8, ignore_index=True)  # 1,600 rows, 80 requests
        labels = client.predict(frame)
    elapsed = time.monotonic() - started
    assert elapsed > 15  # the job really outlived three token lifetimes
    assert labels.tolist() == pd.concat([reference] * 8, ignore_index=True).tolist()
    assert len(credential.calls) >= 5  # a new token about every 2.5 s
    assert _refusals(caplog) == []  # refreshed before expiry: the endpoint never had to refuse one


def test_a_token_the_endpoint_refuses_is_replaced_once_and_the_batch_goes_through(
    entra_endpoint: Any,
    issuer: TestIssuer,
    rows: pd.DataFrame,
    reference: pd.Series,
    contract: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = entra_endpoint()
    # The first token is expired but claims to last an hour: only the endpoint's 401 can tell.
    credential = SigningCredential(issuer, first_token_expired=True)
    caplog.set_level(logging.INFO, logger="bankscore")
    with ScoringClient(endpoint.scoring_uri, credential=credential, concurrency=1, swagger=contract) as client:
        assert client.predict(rows).tolist() == reference.tolist()
    assert len(credential.calls) == 2
    assert len(_refusals(caplog)) == 1 and "a new token" in _refusals(caplog)[0]


class _BadTokens:
    """A credential that always hands out the same kind of bad token."""

    def __init__(self, issuer: TestIssuer, **mint: Any) -> None:
        self.issuer, self.mint = issuer, mint
        self.issued: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        token = self.issuer.mint(**self.mint)
        self.issued.append(token)
        return AccessToken(token, int(time.time()) + 3600)


@pytest.mark.parametrize(
    ("mint", "said"),
    [
        ({"expires": time.time() - 3600, "not_before": time.time() - 7200}, "expired"),
        ({"audience": MANAGEMENT_AUDIENCE}, "audience"),
        ({"signing_key": "other"}, "signature"),
    ],
    ids=["expired", "wrong-audience", "wrong-signature"],
)
def test_a_bad_token_is_an_authentication_error_that_says_why_and_holds_no_token(
    entra_endpoint: Any, issuer: TestIssuer, rows: pd.DataFrame, contract: Any, mint: dict[str, Any], said: str
) -> None:
    endpoint = entra_endpoint()
    credential = _BadTokens(issuer, **mint)
    with (
        ScoringClient(endpoint.scoring_uri, credential=credential, max_retries=2, swagger=contract) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.predict(rows.head(3))
    error = caught.value
    assert error.status_code == 401
    assert said in str(error).lower()
    assert len(credential.issued) == 2  # one refresh-and-retry, then the error
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own error, round-tripped
    shown = " ".join([str(error), repr(error), str(error.body), repr(client), repr(again), str(again)])
    for token in credential.issued:
        for part in token.split("."):
            assert part not in shown


def test_get_token_info_credentials_and_the_async_client(
    entra_endpoint: Any, issuer: TestIssuer, rows: pd.DataFrame, reference: pd.Series
) -> None:
    endpoint = entra_endpoint()
    info = InfoSigningCredential(issuer)
    with ScoringClient(endpoint.scoring_uri, credential=info) as client:
        assert client.predict(rows).tolist() == reference.tolist()
    assert len(info.calls) == 1

    async def main() -> tuple[list[Any], list[Any]]:
        async_credential = AsyncSigningCredential(issuer)
        async with AsyncScoringClient(endpoint.scoring_uri, credential=async_credential) as client:
            first = (await client.predict(rows)).tolist()
        sync_credential = SigningCredential(issuer)  # a sync credential in async code: fetched off the loop
        async with AsyncScoringClient(endpoint.scoring_uri, credential=sync_credential) as client:
            second = (await client.predict(rows)).tolist()
        assert len(async_credential.calls) == 1 and len(sync_credential.calls) == 1
        return first, second

    first, second = asyncio.run(main())
    assert first == second == reference.tolist()


def test_the_contract_and_health_are_read_with_a_token_where_every_route_needs_one(
    entra_endpoint: Any, issuer: TestIssuer
) -> None:
    endpoint = entra_endpoint()
    with ScoringClient(endpoint.scoring_uri, credential=SigningCredential(issuer, first_token_expired=True)) as client:
        assert client.health()  # the expired first token refused, a new one fetched
        assert len(client.contract.columns) == 20
    with ScoringClient(endpoint.scoring_uri) as keyless:
        assert not keyless.health()
    bad = _BadTokens(issuer, audience=MANAGEMENT_AUDIENCE)
    with ScoringClient(endpoint.scoring_uri, credential=bad) as client, pytest.raises(AuthenticationError) as caught:
        client.contract  # noqa: B018 - reading it fetches it
    assert "audience" in str(caught.value) and "swagger.json" in str(caught.value) and len(bad.issued) == 2


# ------------------------------------------------------------------ front-ends, with the real DefaultAzureCredential


@pytest.fixture
def managed_identity(issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ManagedIdentityServer]:
    """azure-identity's environment for an App Service managed identity, served on loopback."""
    with ManagedIdentityServer(issuer) as server:
        for name, value in server.environ({}).items():
            monkeypatch.setenv(name, value)
        for name in [n for n in os.environ if n.startswith("AZURE_")]:
            monkeypatch.delenv(name)
        yield server


def test_the_cli_scores_with_auth_entra_and_shows_no_token(
    entra_endpoint: Any, managed_identity: ManagedIdentityServer, tmp_path: Path, rows: pd.DataFrame
) -> None:
    endpoint = entra_endpoint()
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    env = {
        **managed_identity.environ(os.environ),
        "BANKSCORE_AUTH": "entra",
        "BANKSCORE_ENDPOINT": endpoint.scoring_uri,
    }
    env.pop("BANKSCORE_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "bankscore", "score", str(source), "-o", str(tmp_path / "out.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(rows)
    assert managed_identity.requests >= 1 and managed_identity.resources[0] == "https://ml.azure.com"
    assert "eyJ" not in done.stdout + done.stderr  # no JWT (base64 of '{"') anywhere in what it printed


def test_the_excel_add_in_scores_with_auth_entra(
    entra_endpoint: Any, managed_identity: ManagedIdentityServer, rows: pd.DataFrame, reference: pd.Series
) -> None:
    from bankscore.excel.settings import Scorers, settings_from_grid

    endpoint = entra_endpoint()
    settings = settings_from_grid([["Endpoint", endpoint.scoring_uri], ["Auth", "entra"]])
    assert settings.auth == "entra"
    scorer = Scorers().get(settings)
    grid = [list(rows.columns), *(list(row) for row in rows.itertuples(index=False))]
    result = scorer.score(grid)
    assert result.values == reference.tolist() and result.failed == 0
    assert managed_identity.requests >= 1


def test_dask_workers_build_their_own_credential_from_auth_entra(
    entra_endpoint: Any, managed_identity: ManagedIdentityServer, rows: pd.DataFrame, reference: pd.Series
) -> None:
    import dask.dataframe as dd

    from bankscore.integrations.dask import predict

    endpoint = entra_endpoint()
    ddf = dd.from_pandas(rows, npartitions=3)
    labels = predict(ddf, endpoint=endpoint.scoring_uri, auth="entra").compute(scheduler="threads")
    assert labels.tolist() == reference.tolist()
    with pytest.raises(TypeError, match="credential"):
        predict(ddf, endpoint=endpoint.scoring_uri, credential=SigningCredential(TestIssuer()))


def test_token_auth_is_reused_for_another_scope_without_sharing_its_token(issuer: TestIssuer) -> None:
    credential = SigningCredential(issuer)
    data = TokenAuth(credential)
    management = data.for_scope("https://management.azure.com/.default")
    data.refresh()
    management.refresh()
    assert data.authorization() != management.authorization()
    assert [c[0] for c in credential.calls] == [
        "https://ml.azure.com/.default",
        "https://management.azure.com/.default",
    ]


def test_the_load_test_sends_a_current_token_with_every_request(
    entra_endpoint: Any, issuer: TestIssuer, tmp_path: Path
) -> None:
    # Tokens live 4 s, the endpoint allows no skew, and the test runs 6 s: one token for the run would fail.
    endpoint = entra_endpoint(clock_skew=0.0)
    with ManagedIdentityServer(issuer, lifetime=4.0) as identity:
        env = {**identity.environ(os.environ), "BANKSCORE_AUTH": "entra"}
        env.pop("BANKSCORE_KEY", None)
        done = subprocess.run(
            [sys.executable, "-m", "bankscore", "loadtest", "--endpoint", endpoint.scoring_uri, "-t", "6s",
             "-u", "2", "--wait-ms", "20"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        fetched = identity.requests
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^Failed requests:\s+0\b", done.stdout, re.MULTILINE), output
    assert re.search(r"^Complete requests:\s+[1-9]\d*", done.stdout, re.MULTILINE), output
    # Renewed during the run (one token would have expired and failed requests): a new token about every 2 s,
    # fewer when a busy machine starts the load generator late in the run.
    assert fetched >= 2
    assert "eyJ" not in output
