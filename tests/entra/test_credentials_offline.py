"""The test credentials and the managed-identity stand-in give tokens the endpoint accepts; azure-identity's
real `ManagedIdentityCredential` and `DefaultAzureCredential` get theirs from the stand-in, offline."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import pytest
from azure.core.credentials import AccessTokenInfo

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from tests.support.entra import (
    AZURE_VARIABLES,
    DATA_SCOPE,
    MANAGEMENT_SCOPE,
    OBJECT_ID,
    AsyncSigningCredential,
    InfoSigningCredential,
    ManagedIdentityServer,
    SigningCredential,
    TestIssuer,
)

BODY = {"Inputs": {"data": [dict(SAMPLE_ROWS[0])]}}
PIPELINE = (
    "/pipelines/v1.0/subscriptions/local/resourceGroups/local/providers/Microsoft.MachineLearningServices"
    "/workspaces/local/PipelineRuns/PipelineSubmit/retrain"
)


def score(endpoint: Any, token: str) -> httpx.Response:
    return httpx.post(endpoint.scoring_uri, json=BODY, headers={"Authorization": f"Bearer {token}"})


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_signing_credential_tokens_are_accepted_and_calls_recorded(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    credential = SigningCredential(issuer, lifetime=600)
    before = time.time()
    access = credential.get_token(DATA_SCOPE)
    assert score(endpoint, access.token).status_code == 200
    assert before + 590 <= access.expires_on <= time.time() + 600
    token_claims = claims(access.token)
    assert token_claims["aud"] == "https://ml.azure.com" and token_claims["oid"] == OBJECT_ID
    assert {"tid", "iss", "iat", "nbf", "exp"} <= set(token_claims)
    arm = credential.get_token(MANAGEMENT_SCOPE)
    assert claims(arm.token)["aud"] == "https://management.azure.com"
    assert credential.calls == [(DATA_SCOPE,), (MANAGEMENT_SCOPE,)]
    assert access.token not in repr(credential)
    with pytest.raises(ValueError, match="one resource"):
        credential.get_token(DATA_SCOPE, MANAGEMENT_SCOPE)


def test_a_credential_can_lie_about_expiry(entra_endpoint: Any, issuer: TestIssuer) -> None:
    """What a refresh-and-retry test needs: the client believes the token, the server refuses it."""
    endpoint = entra_endpoint()
    credential = SigningCredential(issuer, first_token_expired=True)
    first = credential.get_token(DATA_SCOPE)
    assert first.expires_on > time.time() + 3000
    refused = score(endpoint, first.token)
    assert refused.status_code == 401 and "expired" in refused.json()["message"]
    assert score(endpoint, credential.get_token(DATA_SCOPE).token).status_code == 200
    short = SigningCredential(issuer, lifetime=5, reported_lifetime=3600).get_token(DATA_SCOPE)
    assert claims(short.token)["exp"] <= time.time() + 5 < short.expires_on


def test_info_credential_gives_refresh_on(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    with InfoSigningCredential(issuer, lifetime=3600, refresh_after=60) as credential:
        info = credential.get_token_info(DATA_SCOPE, options={"enable_cae": True})
    assert isinstance(info, AccessTokenInfo) and info.token_type == "Bearer"
    assert info.refresh_on is not None and info.refresh_on < info.expires_on
    assert not hasattr(credential, "get_token")  # the newer protocol alone
    assert credential.options == [{"enable_cae": True}] and credential.calls == [(DATA_SCOPE,)]
    assert score(endpoint, info.token).status_code == 200


def test_async_credential(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()

    async def fetch() -> tuple[str, AsyncSigningCredential]:
        async with AsyncSigningCredential(issuer) as credential:
            access = await credential.get_token(DATA_SCOPE)
        return access.token, credential

    token, credential = asyncio.run(fetch())
    assert credential.closed and credential.calls == [(DATA_SCOPE,)]
    assert score(endpoint, token).status_code == 200


@pytest.fixture
def managed_identity(issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ManagedIdentityServer(issuer) as server:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        yield server


def test_managed_identity_credential_gets_tokens_from_the_stand_in(
    entra_endpoint: Any, managed_identity: ManagedIdentityServer
) -> None:
    from azure.identity import ManagedIdentityCredential

    endpoint = entra_endpoint()
    with ManagedIdentityCredential() as credential:
        access = credential.get_token(DATA_SCOPE)
        again = credential.get_token(DATA_SCOPE)
    assert score(endpoint, access.token).status_code == 200
    assert access.expires_on > time.time() + 3000
    # MSAL keeps the token (it has more than 5 minutes left): one request to the identity endpoint.
    assert again.token == access.token and managed_identity.requests == 1
    assert managed_identity.resources == ["https://ml.azure.com"]  # the scope less /.default


def test_default_azure_credential_finds_the_managed_identity(
    entra_endpoint: Any, managed_identity: ManagedIdentityServer
) -> None:
    from azure.identity import DefaultAzureCredential

    endpoint = entra_endpoint()
    with DefaultAzureCredential() as credential:
        data = credential.get_token(DATA_SCOPE)
        arm = credential.get_token(MANAGEMENT_SCOPE)
    assert score(endpoint, data.token).status_code == 200
    on_pipeline = httpx.post(endpoint.base_url + PIPELINE, json={}, headers={"Authorization": f"Bearer {arm.token}"})
    assert on_pipeline.status_code != 401  # past auth (the pipeline routes are not this test's business)
    wrong_plane = score(endpoint, arm.token)
    assert wrong_plane.status_code == 401 and "audience 'https://management.azure.com'" in wrong_plane.text
    assert managed_identity.resources == ["https://ml.azure.com", "https://management.azure.com"]


def test_managed_identity_stand_in_speaks_only_its_protocol(managed_identity: ManagedIdentityServer) -> None:
    url = managed_identity.url
    good = {"api-version": "2019-08-01", "resource": "https://ml.azure.com"}
    header = {"X-IDENTITY-HEADER": managed_identity.secret}
    answer = httpx.get(url, params=good, headers=header).json()
    assert set(answer) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert answer["resource"] == "https://ml.azure.com" and int(answer["expires_on"]) > time.time()
    assert httpx.get(url, params=good).status_code == 401
    assert httpx.get(url, params=good, headers={"X-IDENTITY-HEADER": "guess"}).status_code == 401
    assert httpx.get(url, params={**good, "api-version": "2017-09-01"}, headers=header).status_code == 400
    assert httpx.get(url, params={"api-version": "2019-08-01"}, headers=header).status_code == 400
    assert managed_identity.requests == 1 and len(managed_identity.refused) == 4
    child = managed_identity.environ({"PATH": "/bin", "AZURE_CLIENT_SECRET": "s"})
    assert child == {"PATH": "/bin", **managed_identity.env}
