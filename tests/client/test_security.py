"""Secrets kept and defaults safe, for both clients: keys in no log, repr or exception (succeeding or failing),
TLS verified by default with a CA bundle as the way out. (The CLI's output and `serve`'s listening address
are checked in tests/cli/test_security_cli.py.)"""

from __future__ import annotations

import logging
import os
import pickle
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest

from bankscore import APIError, AuthenticationError, BankscoreError, ContractError
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY, SECONDARY, SERVER_PYTHON_ENV

if TYPE_CHECKING:
    from tests.support.twins import ClientFactory

WRONG = "wrong-key-that-must-not-leak-either-91c2"


def leaks(text: str) -> list[str]:
    return [key for key in (PRIMARY, SECONDARY, WRONG) if key in text]


def test_the_client_never_logs_or_shows_a_key(
    make_client: ClientFactory, endpoint: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rows = generate(5, label=False)
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):  # every logger, httpx and httpcore included
        with make_client(endpoint.scoring_uri, key=PRIMARY, secondary_key=SECONDARY) as client:
            client.predict(rows)
            shown += [repr(client), str(client.options), repr(client.prepare(rows))]
        with make_client(endpoint.scoring_uri, key=WRONG) as client, pytest.raises(AuthenticationError) as caught:
            client.predict(rows)
        shown += [str(caught.value), repr(caught.value), repr(client)]
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "HTTP Request: POST" in logged, "the logs were captured"
    assert leaks(logged) == [] and leaks("\n".join(shown)) == []


def test_an_exception_travelling_between_processes_carries_no_key(make_client: ClientFactory, endpoint: Any) -> None:
    with make_client(endpoint.scoring_uri, key=WRONG) as client, pytest.raises(APIError) as caught:
        client.predict(generate(2, label=False))
    assert leaks(pickle.dumps(caught.value).decode("latin-1")) == []
    # Dask pickles exceptions with their context (tblib): a cycle there would make this error unpicklable.
    assert not isinstance(caught.value.__context__, BaseExceptionGroup)


# ------------------------------------------------------------------------------------------- TLS

# trustme makes the test CA. It is a test tool of the full environment, so it runs there (the Python that
# serves the endpoints in the core-only job, else this one) and hands over PEM files: this process needs `ssl`.
_MAKE_CERTIFICATES = """
import sys, trustme
authority = trustme.CA()
authority.cert_pem.write_to_path(sys.argv[1])
authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(sys.argv[2])
"""


@pytest.fixture
def https_endpoint(tmp_path: Path, endpoint: Any) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a private test CA; it serves the real swagger."""
    swagger = httpx.get(endpoint.scoring_uri.rsplit("/score", 1)[0] + "/swagger.json").content
    ca_file, chain_file = tmp_path / "ca.pem", tmp_path / "server.pem"
    python = os.environ.get(SERVER_PYTHON_ENV) or sys.executable
    subprocess.run([python, "-c", _MAKE_CERTIFICATES, str(ca_file), str(chain_file)], check=True, timeout=120)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain_file)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(swagger)))
            self.end_headers()
            self.wfile.write(swagger)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/score", ca_file
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_by_default(make_client: ClientFactory, https_endpoint: tuple[str, Path]) -> None:
    url, _ = https_endpoint
    with make_client(url) as client, pytest.raises(ContractError) as caught:
        client.contract  # noqa: B018
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value).lower()


def test_a_ca_bundle_is_the_way_to_trust_a_private_certificate(
    make_client: ClientFactory, https_endpoint: tuple[str, Path]
) -> None:
    url, ca_file = https_endpoint
    with make_client(url, verify=str(ca_file)) as client:
        assert client.contract.column_names[0] == "age"


def test_errors_are_bankscore_errors_without_secrets(make_client: ClientFactory, endpoint: Any) -> None:
    with make_client(endpoint.scoring_uri, key=WRONG) as client, pytest.raises(BankscoreError) as caught:
        client.predict(generate(1, label=False))
    assert caught.value.status_code == 401  # type: ignore[attr-defined]
    assert leaks(orjson.dumps(vars(caught.value), default=str).decode()) == []


def test_a_missing_ca_bundle_is_a_clear_error(make_client: ClientFactory, tmp_path: Path) -> None:
    with pytest.raises(BankscoreError, match=r"CA bundle .*nope\.pem can.t be used"):
        make_client("https://127.0.0.1:1/score", verify=str(tmp_path / "nope.pem"))
