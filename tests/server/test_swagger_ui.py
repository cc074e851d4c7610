"""Swagger UI over real HTTP: the embedded endpoint's `/docs`, and `bankscore docs`' proxy in front of real endpoints.

The proxy runs on uvicorn on a loopback port (`DocsServer`, as the command runs it) in front of a key-protected
embedded endpoint, Microsoft's server running an MLflow-style script (its swagger exists only as OpenAPI 3), or
a canned server for answers no real service gives on demand (an echoed credential, a 3.1-only document).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bankscore import ContractError, parse_swagger
from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.server import docs_proxy
from bankscore.server.docs_proxy import DocsProxy, DocsServer, openapi_30, same_origin_document
from bankscore.server.swagger_ui import CONTENT_SECURITY_POLICY
from tests.support.canned import Answer, CannedServer
from tests.support.common import PRIMARY, SECONDARY, auth, free_port

BODY = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}}
FIXTURES = Path(__file__).parents[1] / "support" / "azureml_peer" / "fixtures"
ASSET_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


def _assets(html: str) -> list[str]:
    """The page's own files (its src and href links, but the no-script link to swagger.json)."""
    return [link for link in re.findall(r'(?:src|href)="([^"]+)"', html) if not link.endswith("swagger.json")]


def _raw_get(base_url: str, target: str) -> tuple[int, bytes, str]:
    """GET `target` exactly as written (no client normalising `..` away), as a hostile request would come."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("content-type") or ""
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------- /docs on the endpoint


def test_docs_page_is_served_open_under_key_auth_with_its_own_assets_and_a_strict_csp(endpoint: Any) -> None:
    page = httpx.get(endpoint.base_url + "/docs")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe" not in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.text
    assert "<title>bankscore-local — API docs</title>" in html and '<html lang="en">' in html
    assert 'data-swagger-url="./swagger.json"' in html and "Bearer &lt;key&gt;" in html
    assert "<script>" not in html and "onload=" not in html, "no inline script: script-src 'self' holds"
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html), "nothing from another host"
    links = _assets(html)
    assert {link.rsplit("/", 1)[1] for link in links} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "bankscore-docs.js",
        "favicon-32x32.png",
    }
    for link in links:
        answer = httpx.get(f"{endpoint.base_url}/{link.removeprefix('./')}")
        assert answer.status_code == 200, link
        assert answer.headers["content-type"].startswith(ASSET_TYPES[Path(link).suffix]), link
        assert answer.content, link
    assert httpx.post(endpoint.scoring_uri, json=BODY).status_code == 401, "the page is open; scoring is not"
    # With a trailing slash the same page points one level up, so it works behind a path prefix too.
    slashed = httpx.get(endpoint.base_url + "/docs/")
    assert slashed.status_code == 200 and 'data-swagger-url="../swagger.json"' in slashed.text
    assert all(link.startswith("../docs/") for link in _assets(slashed.text))
    assert httpx.head(endpoint.base_url + "/docs").status_code == 200


def test_docs_assets_are_a_fixed_list_so_no_path_reaches_another_file(endpoint: Any) -> None:
    # index.html and swagger-initializer.js are in Swagger UI's folder, but not ours to serve.
    for target in (
        "/docs/index.html",
        "/docs/swagger-initializer.js",
        "/docs/../swagger.json",
        "/docs/..%2f..%2fpyproject.toml",
        "/docs/%2e%2e/%2e%2e/model.json",
        "/docs/swagger-ui.css/../../../etc/passwd",
        "/docs//etc/passwd",
    ):
        status, body, content_type = _raw_get(endpoint.base_url, target)
        assert status == 404, target
        assert content_type == "application/json" and "No docs asset" in json.loads(body)["message"], target
    refused = httpx.post(endpoint.base_url + "/docs", json={})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    assert refused.json() == {"message": "Use GET /docs"}
    unknown = httpx.get(endpoint.base_url + "/nowhere")
    assert unknown.status_code == 404 and "GET /docs" in unknown.json()["message"]


# --------------------------------------------------------------------------------------------- the proxy


@pytest.fixture
def proxy_url(endpoint: Any) -> Iterator[str]:
    """`bankscore docs` for a key-protected embedded endpoint: the proxy holds the key, the caller never does."""
    with DocsServer(DocsProxy(endpoint.scoring_uri, key=PRIMARY)) as server:
        yield server.url.rstrip("/")


def test_proxy_forwards_score_adding_the_key_and_answers_as_the_endpoint(endpoint: Any, proxy_url: str) -> None:
    direct = httpx.post(endpoint.scoring_uri, json=BODY, headers=auth())
    through = httpx.post(proxy_url + "/score", json=BODY, headers={"x-ms-client-request-id": "trace-7"})
    assert through.status_code == 200 and direct.status_code == 200
    assert through.json() == direct.json() and len(through.json()["Results"]) == 2
    assert through.headers["content-type"] == "application/json"
    assert through.headers["x-ms-client-request-id"] == "trace-7", "the endpoint saw the caller's id"
    assert through.headers["x-ms-run-function-failed"] == "False"
    # What the endpoint refuses comes back as it was said, in the endpoint's words and status.
    bad = httpx.post(proxy_url + "/score", json={"Inputs": {"data": [{"age": 41}]}})
    assert bad.status_code == 400 and "missing column 'job'" in bad.json()["message"]
    wrong_type = httpx.post(proxy_url + "/score", content=b"{}", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415


def test_proxy_without_a_key_gets_the_endpoints_401_and_never_its_challenge(endpoint: Any) -> None:
    with DocsServer(DocsProxy(endpoint.scoring_uri)) as server:
        answer = httpx.post(server.url + "score", json=BODY)
    assert answer.status_code == 401 and "Missing Authorization header" in answer.json()["message"]
    assert "www-authenticate" not in answer.headers


def test_proxy_tries_the_secondary_key_once_when_the_primary_is_refused(endpoint: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"rotated-away-primary\n{SECONDARY}\n")
    with DocsServer(DocsProxy(endpoint.scoring_uri, key_file=keys)) as server:
        assert httpx.post(server.url + "score", json=BODY).status_code == 200


def test_proxy_limits_bodies_and_forwards_nothing_but_score(endpoint: Any) -> None:
    with DocsServer(DocsProxy(endpoint.scoring_uri, key=PRIMARY, max_body_bytes=1024)) as server:
        base = server.url.rstrip("/")
        declared = httpx.post(base + "/score", content=b"x" * 2048, headers={"content-type": "application/json"})
        assert declared.status_code == 413 and "larger than" in declared.json()["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: refused once the limit is passed, not at the end
            yield from (b"y" * 512 for _ in range(64))

        streamed = httpx.post(base + "/score", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert httpx.post(base + "/score", json={"Inputs": {"data": [dict(SAMPLE_ROWS[0])]}}).status_code == 200
        for method, path, status in [
            ("GET", "/score", 405),
            ("PUT", "/swagger.json", 405),
            ("DELETE", "/", 405),
            ("GET", "/jobs", 404),
            ("POST", "/pipelines/x", 404),
            ("GET", "/health", 404),
        ]:
            answer = httpx.request(method, base + path)
            assert answer.status_code == status, (method, path)
            assert answer.headers["content-type"] == "application/json" and answer.json()["message"], (method, path)
        assert httpx.get(base + "/score").headers["allow"] == "POST"


def test_proxy_answers_only_its_own_host_and_scores_only_for_its_own_page(proxy_url: str) -> None:
    rebound = httpx.get(proxy_url + "/swagger.json", headers={"host": "attacker.example:8765"})
    assert rebound.status_code == 403 and "attacker.example" in rebound.json()["message"]
    assert httpx.post(proxy_url + "/score", json=BODY, headers={"host": "attacker.example"}).status_code == 403
    foreign = httpx.post(proxy_url + "/score", json=BODY, headers={"origin": "https://attacker.example"})
    assert foreign.status_code == 403 and "own page" in foreign.json()["message"]
    own = httpx.post(proxy_url + "/score", json=BODY, headers={"origin": proxy_url})
    assert own.status_code == 200
    localhost = proxy_url.replace("127.0.0.1", "localhost")
    assert httpx.get(localhost + "/", headers={"host": localhost.removeprefix("http://")}).status_code == 200


def test_proxy_serves_the_swagger_rewritten_for_its_origin_without_security(endpoint: Any, proxy_url: str) -> None:
    original = httpx.get(endpoint.base_url + "/swagger.json").json()
    rewritten = httpx.get(proxy_url + "/swagger.json")
    assert rewritten.status_code == 200 and rewritten.headers["cache-control"] == "no-store"
    document = rewritten.json()
    assert original["schemes"] == ["https", "http"] and document["schemes"] == ["http"]
    assert "host" not in document and "basePath" not in document
    assert "securityDefinitions" not in document and "security" not in document
    assert list(document["paths"]) == ["/score"] and "security" not in document["paths"]["/score"]["post"]
    assert "bankscore docs" in document["info"]["description"]
    assert parse_swagger(document) == parse_swagger(original), "the same contract, only reached here"
    page = httpx.get(proxy_url + "/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "<title>bankscore-local — API docs</title>" in page.text, "titled from the swagger once fetched"
    assert endpoint.scoring_uri in page.text and PRIMARY not in page.text
    assert "Authorize takes" not in page.text
    assert httpx.get(proxy_url + "/docs").text == page.text
    assert httpx.get(proxy_url + "/docs/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")


def test_proxy_logs_each_request_as_the_endpoint_does_and_never_the_key(
    endpoint: Any, proxy_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bankscore.docs.access")
    httpx.get(proxy_url + "/swagger.json")
    httpx.post(proxy_url + "/score", json=BODY, headers={"x-ms-client-request-id": "trace-9"})
    httpx.get(proxy_url + "/nowhere")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "bankscore.docs.access"]
    assert [(r["method"], r["path"], r["status"]) for r in lines] == [
        ("GET", "/swagger.json", 200),
        ("POST", "/score", 200),
        ("GET", "/nowhere", 404),
    ]
    scored = lines[1]
    assert {"time", "request_id", "client_request_id", "method", "path", "status", "latency_ms"} <= set(scored)
    assert scored["client_request_id"] == "trace-9" and scored["upstream_status"] == 200
    assert scored["endpoint"] == endpoint.scoring_uri and scored["bytes_in"] > 0
    assert scored["latency_ms"] >= scored["upstream_ms"] > 0
    assert "endpoint" not in lines[2], "nothing was forwarded"
    assert PRIMARY not in caplog.text and "Bearer" not in caplog.text


def test_proxy_answers_502_naming_the_endpoint_when_it_is_down() -> None:
    down = f"http://127.0.0.1:{free_port()}/score"
    with DocsServer(DocsProxy(down, key=PRIMARY)) as server:
        scored = httpx.post(server.url + "score", json=BODY)
        contract = httpx.get(server.url + "swagger.json")
        page = httpx.get(server.url)
    assert scored.status_code == 502 and down in scored.json()["message"]
    assert "Can't reach the endpoint" in scored.json()["message"]
    assert contract.status_code == 502 and "Can't get the contract" in contract.json()["message"]
    assert page.status_code == 200, "the page itself needs no endpoint: it says what failed when it asks"
    assert PRIMARY not in scored.text + contract.text


def test_proxy_keeps_an_echoed_credential_and_other_headers_from_the_page() -> None:
    document = (FIXTURES / "swagger_gen_b.json").read_bytes()

    def echo(seen: Any) -> Answer:
        said = json.dumps({"message": f"you sent {seen.headers.get('authorization')}"}).encode()
        headers = {"Content-Type": "application/json", "Set-Cookie": "session=1", "WWW-Authenticate": "Basic"}
        return Answer(401, said, headers | {"x-ms-request-id": "upstream-1"})

    routes = {"GET /swagger.json": Answer(200, document), "POST /score": echo}
    with CannedServer(routes) as upstream, DocsServer(DocsProxy(upstream.scoring_uri, key=PRIMARY)) as server:
        answer = httpx.post(server.url + "score", json=BODY)
        sent = [s for s in upstream.seen if s.method == "POST"]
    assert sent[0].headers["authorization"] == f"Bearer {PRIMARY}", "the key went to the endpoint"
    assert answer.status_code == 401 and PRIMARY not in answer.text
    assert answer.json() == {"message": "you sent Bearer <redacted>"}
    assert "set-cookie" not in answer.headers and "www-authenticate" not in answer.headers
    assert answer.headers["x-ms-request-id"] == "upstream-1"


def test_proxy_renders_a_3_1_only_contract_as_3_0_for_swagger_ui() -> None:
    listed = Answer(404, b'{"message": "Swagger version [2] is not valid. Supported versions: [3.1]."}')
    routes = {
        "GET /swagger.json": listed,
        "GET /swagger.json?version=3.1": Answer(200, (FIXTURES / "openapi31_gen_b.json").read_bytes()),
    }
    with CannedServer(routes) as upstream, DocsServer(DocsProxy(upstream.scoring_uri, key=PRIMARY)) as server:
        document = httpx.get(server.url + "swagger.json").json()
    assert document["openapi"] == "3.0.3" and document["x-bankscore-rendered-from"] == "3.1.0"
    assert document["servers"] == [{"url": "/"}] and "security" not in document
    assert "securitySchemes" not in document.get("components", {})
    assert parse_swagger(document).envelope == "inputs"


def test_openapi_30_rewrites_what_3_1_schemas_say_differently() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "webhooks": {},
        "paths": {},
        "components": {
            "schemas": {
                "Row": {
                    "type": "object",
                    "examples": [{"age": 41}],
                    "properties": {
                        "age": {"type": ["integer", "null"], "exclusiveMinimum": 0},
                        "job": {"const": "admin."},
                        "amount": {"type": ["number", "string"]},
                    },
                }
            }
        },
    }
    converted = openapi_30(document)
    row = converted["components"]["schemas"]["Row"]
    assert converted["openapi"] == "3.0.3" and "webhooks" not in converted
    assert row["example"] == {"age": 41} and "examples" not in row
    assert row["properties"]["age"] == {"type": "integer", "nullable": True, "minimum": 0, "exclusiveMinimum": True}
    assert row["properties"]["job"] == {"enum": ["admin."]}
    assert row["properties"]["amount"] == {"anyOf": [{"type": "number"}, {"type": "string"}]}
    assert document["openapi"] == "3.1.0", "the original is left as it was"


def test_what_the_proxy_shows_of_an_endpoint_holds_no_secret() -> None:
    proxy = DocsProxy("https://user:hunter2@svc.westeurope.inference.ml.azure.com/score?code=abc#x", key=PRIMARY)
    assert proxy.target == "https://svc.westeurope.inference.ml.azure.com/score"
    assert docs_proxy.shown_url("http://[::1]:5001/score") == "http://[::1]:5001/score"
    assert PRIMARY not in repr(proxy) and "hunter2" not in repr(proxy)
    assert proxy.sends_credential and proxy.credential_kind == "key"


def test_a_document_without_a_score_operation_is_refused_by_name() -> None:
    with pytest.raises(ContractError, match="no POST /score operation"):
        same_origin_document({"swagger": "2.0", "paths": {"/pets": {"get": {}}}})


def test_proxy_reaches_microsofts_server_through_the_openapi_3_fallback(gen_mlflow: Any) -> None:
    """The MLflow-style script has no Swagger 2.0 document: the proxy finds OpenAPI 3.0 as the client does."""
    assert httpx.get(gen_mlflow.base_url + "/swagger.json").status_code == 404
    with DocsServer(DocsProxy(gen_mlflow.scoring_uri)) as server:
        document = httpx.get(server.url + "swagger.json").json()
        assert document["openapi"].startswith("3.0") and document["servers"] == [{"url": "/"}]
        assert "security" not in document and list(document["paths"]) == ["/score"]
        contract = parse_swagger(document)
        assert contract.envelope == "mlflow"
        rows = [dict(r) for r in SAMPLE_ROWS]
        columns = list(contract.column_names)
        body = {"input_data": {"columns": columns, "index": [0, 1], "data": [[r[c] for c in columns] for r in rows]}}
        direct = httpx.post(gen_mlflow.scoring_uri, json=body)
        through = httpx.post(server.url + "score", json=body)
    assert through.status_code == 200 and through.json() == direct.json() and len(through.json()) == 2


# --------------------------------------------------------------------------------------------- platform


def test_the_proxy_socket_reuses_addresses_on_posix_only(monkeypatch: pytest.MonkeyPatch) -> None:
    posix = docs_proxy.listening_socket(0)
    try:
        assert posix.getsockname()[0] == "127.0.0.1"
        assert posix.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    finally:
        posix.close()
    monkeypatch.setattr(sys, "platform", "win32")
    windows = docs_proxy.listening_socket(0)
    try:
        assert windows.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
    finally:
        windows.close()
