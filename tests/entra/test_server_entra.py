"""`serve --auth entra`: RS256 tokens checked as Entra-protected Azure services check them, over real HTTP.

Every refusal is a 401 JSON body naming what was wrong, the same words in WWW-Authenticate, and no piece
of the token anywhere in the answer or the log.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bankscore import KeySourceError
from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.server import entra
from bankscore.server.entra import Jwks, TokenValidator, load_jwks
from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig
from tests.support.common import PRIMARY, SECONDARY, auth
from tests.support.entra import DATA_AUDIENCE, MANAGEMENT_AUDIENCE, TestIssuer

BODY = {"Inputs": {"data": [dict(SAMPLE_ROWS[0])]}}
WORKSPACE = "subscriptions/local/resourceGroups/local/providers/Microsoft.MachineLearningServices/workspaces/local"
PIPELINE = f"/pipelines/v1.0/{WORKSPACE}/PipelineRuns/PipelineSubmit/retrain"
HISTORY = f"/history/v1.0/{WORKSPACE}/experiments/nightly/runs/run-1"
ARM_JOB = f"/{WORKSPACE}/jobs/job-1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def utc(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def score(endpoint: Any, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(endpoint.scoring_uri, json=BODY, headers=headers)


def assert_refused(response: httpx.Response, token: str | None, message: str) -> str:
    """401 JSON with `message` in it, the same words in the challenge, and no part of the token anywhere."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    said = response.json()["message"]
    assert message in said
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert json.loads(challenge.split("error_description=", 1)[1]) == said
    if token is not None:
        answer = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        for part in (token, *(p for p in token.split(".") if len(p) > 8)):
            assert part not in answer
    return str(said)


# ------------------------------------------------------------------------------------------ accepted


def test_a_good_token_opens_every_route_and_no_token_opens_none(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    base = endpoint.base_url
    data = bearer(issuer.mint())
    health = httpx.get(base + "/", headers=data)
    assert (health.status_code, health.text) == (200, "Healthy")
    assert httpx.get(base + "/swagger.json", headers=data).json()["swagger"] == "2.0"
    assert score(endpoint, data).json()["Results"][0] in ("yes", "no")
    assert httpx.get(base + "/predict", headers=data).status_code == 404  # past auth, then no such route
    assert httpx.get(endpoint.scoring_uri, headers=data).status_code == 405
    assert httpx.get(base + "/report", headers=data).status_code in (200, 404)  # past auth: the model may have none
    for path in ("/", "/swagger.json", "/report", "/score", "/predict", "/jobs", PIPELINE):
        anonymous = httpx.request("POST" if path in ("/score", "/jobs") else "GET", base + path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"] == "Bearer"  # RFC 6750: no error code without a token
        assert "Missing Authorization header" in anonymous.json()["message"]


def test_management_plane_routes_take_arm_tokens(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    for audience in (MANAGEMENT_AUDIENCE, "https://management.azure.com/", "https://management.core.windows.net/"):
        headers = bearer(issuer.mint(audience))
        for path in (PIPELINE, HISTORY, ARM_JOB):
            # Past auth; the routes themselves are not this test's business (404 until they exist).
            assert httpx.get(endpoint.base_url + path, headers=headers).status_code != 401, (audience, path)


def test_the_audience_of_each_plane_is_refused_on_the_other(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    arm = issuer.mint(MANAGEMENT_AUDIENCE)
    assert_refused(
        score(endpoint, bearer(arm)),
        arm,
        "The token's audience 'https://management.azure.com' is not accepted on this route "
        "(expected 'https://ml.azure.com'); ask for a token with the scope https://ml.azure.com/.default",
    )
    ml = issuer.mint(DATA_AUDIENCE)
    said = assert_refused(
        httpx.post(endpoint.base_url + PIPELINE, json={"ExperimentName": "x"}, headers=bearer(ml)),
        ml,
        "The token's audience 'https://ml.azure.com' is not accepted on this route (expected one of "
        "'https://management.azure.com', 'https://management.azure.com/', 'https://management.core.windows.net/')",
    )
    assert "https://management.azure.com/.default" in said
    assert score(endpoint, bearer(ml)).status_code == 200  # the same token is fine where it belongs


def test_an_audience_with_a_trailing_slash_is_the_same_audience(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    assert score(endpoint, bearer(issuer.mint("https://ml.azure.com/"))).status_code == 200


def test_a_token_without_kid_is_checked_against_the_only_key(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint()
    assert score(endpoint, bearer(issuer.mint(kid=None))).status_code == 200
    forged = issuer.mint(kid=None, signing_key="other")
    assert_refused(score(endpoint, bearer(forged)), forged, "signature does not verify against the JWKS")


def test_clock_skew_both_ways(entra_endpoint: Any, issuer: TestIssuer) -> None:
    now = time.time()
    endpoint = entra_endpoint()  # 60 s by default
    assert score(endpoint, bearer(issuer.mint(expires=now - 20, not_before=now - 600))).status_code == 200
    assert score(endpoint, bearer(issuer.mint(not_before=now + 20))).status_code == 200
    strict = entra_endpoint(clock_skew=0)
    late = issuer.mint(expires=now - 20, not_before=now - 600)
    assert_refused(score(strict, bearer(late)), late, f"The token expired at {utc(now - 20)} (clock skew allowed: 0 s)")


# ------------------------------------------------------------------------------------------ refused


def refusals(issuer: TestIssuer) -> list[tuple[str, str, str]]:
    """(case, token, what the message must say), for POST /score on the default endpoint."""
    now = time.time()
    expired_at = now - 120
    starts_at = now + 600
    tampered_header, _, tampered_signature = issuer.mint().split(".")
    tampered_payload = issuer.mint(oid="someone-else").split(".")[1]
    return [
        ("expired", issuer.mint(expires=expired_at, not_before=now - 4000), f"expired at {utc(expired_at)}"),
        ("not-yet-valid", issuer.mint(not_before=starts_at), f"The token is not valid before {utc(starts_at)}"),
        ("issued-in-the-future", issuer.mint(iat=int(now + 900)), "The token was issued in the future"),
        ("wrong-audience", issuer.mint("https://vault.azure.net"), "audience 'https://vault.azure.net'"),
        (
            "other-key",
            issuer.mint(signing_key="other"),
            "signature does not verify against the JWKS (kid 'test-key-1')",
        ),
        (
            "tampered",
            f"{tampered_header}.{tampered_payload}.{tampered_signature}",
            "signature does not verify against the JWKS",
        ),
        (
            "unknown-kid",
            issuer.mint(kid="rotated-9"),
            "No key with kid 'rotated-9' in the JWKS (it holds kid 'test-key-1')",
        ),
        ("alg-none", issuer.forge("none"), "signed with alg 'none'; this service accepts only RS256"),
        ("hs256-public-key", issuer.forge("HS256"), "signed with alg 'HS256'; this service accepts only RS256"),
        ("no-exp", issuer.mint(exp=None), "The token has no 'exp' claim"),
        ("exp-not-a-number", issuer.mint(exp="tomorrow"), "claims are malformed"),
        ("garbage", "not-a-jwt", "not a JWT (three base64url parts"),
        ("a-key", PRIMARY, "not a JWT"),
        ("three-parts-not-json", "abc.def.ghi", "not a JWT"),
        ("four-parts", issuer.mint() + ".x", "not a JWT"),
        ("huge", "a" * 20_000 + ".b.c", "not a JWT"),
    ]


CASES = [case for case, _, _ in refusals(TestIssuer())]


@pytest.mark.parametrize("case", CASES)
def test_each_bad_token_is_a_401_that_says_why(entra_endpoint: Any, issuer: TestIssuer, case: str) -> None:
    endpoint = entra_endpoint()
    _, token, message = next(c for c in refusals(issuer) if c[0] == case)
    assert_refused(score(endpoint, bearer(token)), token, message)
    assert_refused(httpx.get(endpoint.base_url + "/", headers=bearer(token)), token, message)


def test_other_schemes_and_an_empty_bearer_are_401(entra_endpoint: Any) -> None:
    endpoint = entra_endpoint()
    assert_refused(score(endpoint, {"Authorization": f"Basic {PRIMARY}"}), PRIMARY, "uses another scheme")
    for header in ("Bearer ", "Bearer", "bearer   "):
        # urllib, as the studio's sample clients: httpx refuses a header value that ends in a space.
        request = urllib.request.Request(
            endpoint.scoring_uri, orjson.dumps(BODY), {"Content-Type": "application/json", "Authorization": header}
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30)
        assert raised.value.code == 401
        assert "says 'Bearer' but holds no token" in orjson.loads(raised.value.read())["message"]
        assert raised.value.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_issuer_and_audience_options(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint(audience="api://bankscore-scoring", issuer=issuer.issuer)
    assert score(endpoint, bearer(issuer.mint("api://bankscore-scoring"))).status_code == 200
    ml = issuer.mint()
    assert_refused(score(endpoint, bearer(ml)), ml, "(expected 'api://bankscore-scoring')")
    other = issuer.mint("api://bankscore-scoring", iss="https://sts.windows.net/another-tenant/")
    assert_refused(
        score(endpoint, bearer(other)),
        other,
        f"The token's issuer 'https://sts.windows.net/another-tenant/' is not accepted (expected '{issuer.issuer}')",
    )


def test_a_cached_token_is_refused_once_it_expires(entra_endpoint: Any, issuer: TestIssuer) -> None:
    endpoint = entra_endpoint(clock_skew=0)
    token = issuer.mint(lifetime=1.5)
    exp = issuer_exp(token)
    with httpx.Client() as client:
        assert client.post(endpoint.scoring_uri, json=BODY, headers=bearer(token)).status_code == 200
        assert client.post(endpoint.scoring_uri, json=BODY, headers=bearer(token)).status_code == 200
        while time.time() < exp + 0.05:
            time.sleep(0.1)
        late = client.post(endpoint.scoring_uri, json=BODY, headers=bearer(token))
    assert_refused(late, token, f"The token expired at {utc(exp)}")


def issuer_exp(token: str) -> float:
    import jwt

    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def test_the_access_log_holds_no_token_and_says_why_auth_refused(
    model: Any, model_dir: Path, jwks_file: Path, issuer: TestIssuer, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    config = EndpointConfig(model_dir=model_dir, port=0, auth="entra", jwks_file=jwks_file, log_file=log)
    good, expired, forged = issuer.mint(), issuer.mint(expires=time.time() - 600), issuer.mint(signing_key="other")
    with EmbeddedEndpoint(config, model) as endpoint:
        assert score(endpoint, bearer(good)).status_code == 200
        assert score(endpoint, bearer(expired)).status_code == 401
        assert score(endpoint, bearer(forged)).status_code == 401
        assert httpx.get(endpoint.base_url + "/").status_code == 401
    text = log.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["status"], r.get("auth")) for r in records] == [
        (200, None),
        (401, "expired"),
        (401, "signature"),
        (401, "missing"),
    ]
    for token in (good, expired, forged):
        for part in token.split("."):
            assert part not in text


# ------------------------------------------------------------------------------------------ the validator


def test_repeated_tokens_are_checked_once(issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    validator = TokenValidator(Jwks.from_dict(issuer.jwks()), cache_size=2)
    decoded: list[str] = []
    real = entra.jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        decoded.append("x")
        return real(*args, **kwargs)

    monkeypatch.setattr(entra.jwt, "decode", counting)
    tokens = [issuer.mint(), issuer.mint(oid="b"), issuer.mint(oid="c")]
    header = f"Bearer {tokens[0]}".encode()
    assert all(validator.check(header, "data").ok for _ in range(50))
    assert len(decoded) == 1
    forged = f"Bearer {issuer.mint(signing_key='other')}".encode()
    assert {validator.check(forged, "data").code for _ in range(10)} == {"signature"}
    assert len(decoded) == 2  # refusals that can't change are remembered too
    refused = validator.check(header, "management")  # a verdict is per plane
    assert refused.code == "audience" and len(decoded) == 3
    for token in tokens[1:]:
        assert validator.check(f"Bearer {token}".encode(), "data").ok
    assert len(decoded) == 5
    assert validator.check(header, "data").ok  # pushed out of the two-entry cache: checked again
    assert len(decoded) == 6


def test_not_yet_valid_is_not_remembered(issuer: TestIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    validator = TokenValidator(Jwks.from_dict(issuer.jwks()), clock_skew=0)
    start = time.time() + 1.2
    header = f"Bearer {issuer.mint(not_before=start)}".encode()
    assert validator.check(header).code == "not-yet-valid"
    while time.time() < int(start) + 0.05:
        time.sleep(0.1)
    assert validator.check(header).ok


_FUZZ_ISSUER = TestIssuer()
_FUZZ_VALIDATOR = TokenValidator(Jwks.from_dict(_FUZZ_ISSUER.jwks()))
_GOOD = _FUZZ_ISSUER.mint()


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(0, len(_GOOD) - 1),
    replacement=st.sampled_from('AQgw_-.=x"\\ \u00e9'),
    noise=st.binary(max_size=300),
)
def test_no_altered_or_random_token_is_accepted_or_raises(position: int, replacement: str, noise: bytes) -> None:
    altered = _GOOD[:position] + replacement + _GOOD[position + 1 :]
    for token in (altered.encode("utf-8"), noise, _GOOD.encode() + noise):
        verdict = _FUZZ_VALIDATOR.check(b"Bearer " + token)
        if verdict.ok:
            # Only the good token itself, give or take the spaces around a header value, or with a changed
            # last base64url character of a part that decodes to the same bytes (those bits are padding).
            assert _decoded(token.strip()) == _decoded(_GOOD.encode()), token
            continue
        assert verdict.message and verdict.code
        parts = [p for p in token.split(b".") if len(p) > 8]
        assert not any(p.decode("latin-1") in verdict.message for p in parts)


def _decoded(token: bytes) -> list[bytes] | None:
    import base64
    import binascii

    try:
        return [base64.urlsafe_b64decode(p + b"=" * (-len(p) % 4)) for p in token.split(b".")]
    except (binascii.Error, ValueError):
        return None


def test_reprs_and_messages_hold_no_token(issuer: TestIssuer, jwks_file: Path) -> None:
    validator = TokenValidator.from_file(jwks_file)
    token = issuer.mint(signing_key="other")
    verdict = validator.check(f"Bearer {token}".encode())
    for text in (repr(validator), repr(verdict), verdict.message, verdict.challenge.decode()):
        assert not any(part in text for part in token.split("."))
    assert "test-key-1" in repr(validator.jwks)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON (line 1, column 2"),
        ("[]", "holds no keys"),
        ('{"keys": []}', "holds no keys"),
        ('{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}, {"kty": "oct", "k": "c2VjcmV0"}]}', "no RSA"),
        ('{"keys": [{"kty": "RSA", "kid": "a", "n": "!!", "e": "AQAB"}]}', "holds no RSA signing key"),
    ],
)
def test_bad_jwks_files_are_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(KeySourceError, match="JWKS file") as raised:
        load_jwks(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_jwks_file_that_is_missing(tmp_path: Path) -> None:
    with pytest.raises(KeySourceError, match="does not exist"):
        load_jwks(tmp_path / "nope.json")


def test_jwks_with_several_keys_chooses_by_kid(issuer: TestIssuer) -> None:
    second = TestIssuer(kid="test-key-2")
    document = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "ec"}, *issuer.jwks()["keys"], *second.jwks()["keys"]]}
    validator = TokenValidator(Jwks.from_dict(document))
    assert validator.jwks.kids == ["test-key-1", "test-key-2"]
    assert validator.check(f"Bearer {second.mint()}".encode()).ok
    assert validator.check(f"Bearer {issuer.mint()}".encode()).ok
    nameless = validator.check(f"Bearer {issuer.mint(kid=None)}".encode())
    assert nameless.message == "The token names no kid and the JWKS holds 2 keys; can't choose one to check it"


# ------------------------------------------------------------------------------------------ key auth, config


def test_key_auth_guards_the_new_routes_and_leaves_the_rest_as_it_was(endpoint: Any) -> None:
    base = endpoint.base_url
    for path in ("/jobs", PIPELINE, HISTORY, ARM_JOB):
        response = httpx.post(base + path, json={})
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert httpx.post(base + path, json={}, headers=auth(SECONDARY)).status_code != 401
    assert httpx.get(base + "/").status_code == 200
    assert httpx.get(base + "/swagger.json").status_code == 200
    assert httpx.get(base + "/report").status_code in (200, 404)  # open, as the swagger: a page about the model
    assert httpx.get(base + "/predict").status_code == 404
    assert httpx.get(endpoint.scoring_uri).status_code == 405


def test_config_round_trips_through_the_environment(jwks_file: Path, model_dir: Path) -> None:
    config = EndpointConfig(
        model_dir=model_dir,
        auth="entra",
        jwks_file=jwks_file,
        audience="api://x",
        clock_skew=5.0,
        issuer="https://sts.windows.net/t/",
        workers=2,
    )
    again = EndpointConfig.from_env(config.to_env())
    assert again == config and isinstance(again.jwks_file, Path)
    validator = again.token_validator()
    assert validator is not None
    assert (validator.audience, validator.clock_skew, validator.issuer) == (
        "api://x",
        5.0,
        "https://sts.windows.net/t/",
    )
    assert again.keys is None
    keyed = EndpointConfig(model_dir=model_dir, primary_key=PRIMARY, secondary_key=SECONDARY)
    assert EndpointConfig.from_env(keyed.to_env()) == keyed and keyed.token_validator() is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auth": "entra"}, "needs jwks_file"),
        ({"auth": "entra", "jwks_file": Path("j"), "primary_key": PRIMARY}, "takes no keys"),
        ({"auth": "none", "primary_key": PRIMARY}, "takes no keys"),
        ({"auth": "aad_token"}, "must be 'key', 'entra' or 'none'"),
    ],
)
def test_config_refuses_contradictions(model_dir: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EndpointConfig(model_dir=model_dir, **options)
