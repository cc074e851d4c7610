"""Key auth as ACI/AKS, Microsoft's response headers, and deliberate faults, over real HTTP."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from bankscore import KeySourceError
from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.server.auth import MALFORMED_MESSAGE, KeyRing, Verdict, resolve_keys
from tests.support.common import PRIMARY, SECONDARY

BODY = {"Inputs": {"data": [dict(SAMPLE_ROWS[0])]}}


def score(endpoint: Any, headers: dict[str, str] | None = None, body: Any = BODY) -> httpx.Response:
    return httpx.post(endpoint.scoring_uri, json=body, headers=headers or {})


# --------------------------------------------------------------------------------------------- auth


@pytest.mark.parametrize("key", [PRIMARY, SECONDARY])
def test_primary_and_secondary_keys_both_work(endpoint: Any, key: str) -> None:
    assert score(endpoint, {"Authorization": f"Bearer {key}"}).status_code == 200


def test_bearer_scheme_is_case_insensitive(endpoint: Any) -> None:
    assert score(endpoint, {"Authorization": f"bearer {PRIMARY}"}).status_code == 200


def test_missing_key_is_401_json(endpoint: Any) -> None:
    response = score(endpoint)
    assert response.status_code == 401
    assert "Authorization" in response.json()["message"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("guess", ["wrong", PRIMARY[:-1], PRIMARY + "x", SECONDARY.upper()])
def test_wrong_key_is_401_and_says_nothing_about_which_key_exists(endpoint: Any, guess: str) -> None:
    response = score(endpoint, {"Authorization": f"Bearer {guess}"})
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid key: the Bearer key matches neither of this service's keys"}
    assert PRIMARY not in response.text and SECONDARY not in response.text


@pytest.mark.parametrize("header", [PRIMARY, f"Basic {PRIMARY}", f"Token {PRIMARY}"])
def test_header_without_bearer_is_400_as_aci_answers(endpoint: Any, header: str) -> None:
    response = score(endpoint, {"Authorization": header})
    assert response.status_code == 400
    assert response.json()["message"] == MALFORMED_MESSAGE


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "bearer   "])
def test_bearer_with_no_key_is_401_json(endpoint: Any, header: str) -> None:
    """The studio sample sends 'Bearer ' + api_key with the key left empty: a missing key, not a malformed header.

    Sent with urllib, as that sample does (httpx refuses a header value that ends in a space)."""
    request = urllib.request.Request(
        endpoint.scoring_uri, orjson.dumps(BODY), {"Content-Type": "application/json", "Authorization": header}
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30)
    error = raised.value
    assert error.code == 401
    assert error.headers["www-authenticate"] == "Bearer"
    assert error.headers["content-type"] == "application/json"
    assert "holds no key" in orjson.loads(error.read())["message"]


def test_health_and_swagger_need_no_key(endpoint: Any) -> None:
    assert httpx.get(endpoint.base_url + "/").status_code == 200
    assert httpx.get(endpoint.base_url + "/swagger.json").status_code == 200


def test_no_auth_endpoint_accepts_anonymous_requests(start_endpoint: Any) -> None:
    open_endpoint = start_endpoint(primary_key=None, secondary_key=None)
    assert score(open_endpoint).status_code == 200


def test_keyring_compares_both_slots_and_hides_keys_in_repr() -> None:
    ring = KeyRing("alpha-key", "beta-key")
    assert ring.check(b"Bearer alpha-key") is Verdict.OK
    assert ring.check(b"Bearer beta-key") is Verdict.OK
    assert ring.check(b"Bearer gamma") is Verdict.WRONG
    assert ring.check(b"Bearer ") is Verdict.EMPTY
    assert ring.check(b"Basic alpha-key") is Verdict.MALFORMED
    assert ring.check(None) is Verdict.MISSING
    assert "alpha" not in repr(ring) and "beta" not in repr(ring)


def test_key_sources(tmp_path: Any) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text("first-key\n\nsecond-key\n")
    ring = resolve_keys(key_file, environ={})
    assert (ring.primary, ring.secondary, ring.generated) == ("first-key", "second-key", False)
    ring = resolve_keys(None, environ={"BANKSCORE_KEY": "env-key"})
    assert (ring.primary, ring.secondary) == ("env-key", None)
    generated = resolve_keys(None, environ={})
    assert generated.generated and len(generated.primary) >= 40
    assert resolve_keys(None, environ={}).primary != generated.primary
    with pytest.raises(KeySourceError, match="BANKSCORE_KEY"):
        resolve_keys(None, environ={"BANKSCORE_SECONDARY_KEY": "x"})
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(KeySourceError, match="one or two keys"):
        resolve_keys(tmp_path / "empty.txt", environ={})
    with pytest.raises(KeySourceError, match="can't read"):
        resolve_keys(tmp_path / "absent.txt", environ={})


# ------------------------------------------------------------------------------------------ headers


def test_request_id_headers_are_set_and_client_id_is_echoed(endpoint: Any) -> None:
    auth = {"Authorization": f"Bearer {PRIMARY}"}
    # As Microsoft's server: the client id is echoed under both ms names; x-request-id is the server's.
    response = score(endpoint, {**auth, "x-ms-client-request-id": "my-trace-42"})
    assert response.headers["x-ms-client-request-id"] == "my-trace-42"
    assert response.headers["x-ms-request-id"] == "my-trace-42"
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 36
    assert response.headers["x-ms-run-function-failed"] == "False"
    assert float(response.headers["x-ms-run-fn-exec-ms"]) > 0
    other = score(endpoint, auth)
    assert other.headers["x-request-id"] != request_id
    assert other.headers["x-ms-client-request-id"] == other.headers["x-ms-request-id"] == other.headers["x-request-id"]
    given = score(endpoint, {**auth, "x-request-id": "front-door-7"})
    assert given.headers["x-request-id"] == given.headers["x-ms-request-id"] == "front-door-7"


def test_exec_time_header_only_when_the_model_ran(endpoint: Any) -> None:
    bad = score(endpoint, {"Authorization": f"Bearer {PRIMARY}"}, body={"Inputs": {"data": []}})
    assert bad.status_code == 400
    assert "x-ms-run-fn-exec-ms" not in bad.headers


@pytest.mark.parametrize("name", ["x-ms-client-request-id", "x-request-id", "x-ms-request-id"])
def test_request_id_over_100_chars_is_431(endpoint: Any, name: str) -> None:
    auth = {"Authorization": f"Bearer {PRIMARY}"}
    assert score(endpoint, {**auth, name: "a" * 100}).status_code == 200
    response = score(endpoint, {**auth, name: "a" * 101})
    assert response.status_code == 431
    assert name in response.json()["message"]


# ------------------------------------------------------------------------------------------- faults

AUTH = {"Authorization": f"Bearer {PRIMARY}"}


def test_injected_429_carries_retry_after(start_endpoint: Any) -> None:
    flaky = start_endpoint(fault_rate=1.0, faults=(429,), retry_after=2.5)
    response = score(flaky, AUTH)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2.5"
    assert "429" in response.json()["message"]


def test_injected_faults_follow_the_rate_and_mix(start_endpoint: Any) -> None:
    flaky = start_endpoint(fault_rate=0.5, faults=(503, 502, 504), fault_seed=3)
    with httpx.Client() as client:
        statuses = Counter(client.post(flaky.scoring_uri, json=BODY, headers=AUTH).status_code for _ in range(200))
    assert set(statuses) == {200, 502, 503, 504}
    assert 70 <= statuses[200] <= 130


def test_health_is_never_faulted(start_endpoint: Any) -> None:
    flaky = start_endpoint(fault_rate=1.0, faults=(503,))
    assert httpx.get(flaky.base_url + "/").status_code == 200


def test_injected_model_error_gen_b_is_500_with_function_failed(start_endpoint: Any) -> None:
    flaky = start_endpoint(fault_rate=1.0, faults=("model-error",))
    response = score(flaky, AUTH)
    assert response.status_code == 500
    assert response.headers["x-ms-run-function-failed"] == "True"
    assert "scoring script" in response.json()["message"]


def test_injected_model_error_gen_a_is_200_with_double_encoded_error(start_endpoint: Any) -> None:
    flaky = start_endpoint(envelope="data", fault_rate=1.0, faults=("model-error",))
    response = httpx.post(flaky.scoring_uri, json={"data": [dict(SAMPLE_ROWS[0])]}, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == '{"error":"Injected model error"}'


def test_latency_is_added_to_score_requests(start_endpoint: Any) -> None:
    slow = start_endpoint(latency_ms=300)
    started = time.perf_counter()
    response = score(slow, AUTH)
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(slow.scoring_uri, json=BODY, headers=AUTH, timeout=0.1)
