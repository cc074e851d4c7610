"""`bankscore docs` in front of an endpoint in `aad_token` mode: the proxy fetches the Entra token, the page never
sees it. The endpoint checks real RS256 tokens from the test issuer against its JWKS, on every route."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.server.docs_proxy import DocsProxy, DocsServer
from tests.support.entra import DATA_SCOPE, SigningCredential, TestIssuer

BODY = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}}


def test_docs_proxy_adds_an_entra_token_to_the_contract_and_the_score_requests(
    entra_endpoint: Any, issuer: TestIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = entra_endpoint()
    assert httpx.get(endpoint.base_url + "/swagger.json").status_code == 401, "every route wants a token"
    credential = SigningCredential(issuer)
    caplog.set_level(logging.INFO, logger="bankscore.docs.access")
    with DocsServer(DocsProxy(endpoint.scoring_uri, credential=credential)) as server:
        document = httpx.get(server.url + "swagger.json")
        scored = httpx.post(server.url + "score", json=BODY)
        proxy = server.proxy
        assert proxy.credential_kind == "Microsoft Entra token" and proxy.sends_credential
    assert document.status_code == 200 and "securityDefinitions" not in document.json()
    assert scored.status_code == 200 and len(scored.json()["Results"]) == 2
    assert credential.calls and set(credential.calls) == {(DATA_SCOPE,)}, "tokens for Azure ML's data plane"
    tokens = proxy._auth.secrets()
    assert tokens, "the proxy fetched tokens"
    for token in tokens:
        assert token not in scored.text + document.text + caplog.text
    assert "Bearer" not in caplog.text


def test_docs_proxy_without_a_credential_shows_the_endpoints_refusal(entra_endpoint: Any) -> None:
    endpoint = entra_endpoint()
    with DocsServer(DocsProxy(endpoint.scoring_uri)) as server:
        refused = httpx.get(server.url + "swagger.json")
        scored = httpx.post(server.url + "score", json=BODY)
    assert refused.status_code == 502 and endpoint.base_url in refused.json()["message"]
    assert scored.status_code == 401 and "www-authenticate" not in scored.headers
