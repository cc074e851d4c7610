"""Secrets kept and defaults safe: keys in no log, repr, exception or CLI output (succeeding or failing),
servers on 127.0.0.1 unless told otherwise, TLS verified by default with a CA bundle as the way out."""

from __future__ import annotations

import logging
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import trustme

from bankscore import APIError, AuthenticationError, BankscoreError, ContractError, ScoringClient
from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY, SECONDARY
from tests.support.serving import serving

BANKSCORE = str(Path(sys.executable).parent / "bankscore")
WRONG = "wrong-key-that-must-not-leak-either-91c2"


def leaks(text: str) -> list[str]:
    return [key for key in (PRIMARY, SECONDARY, WRONG) if key in text]


def test_the_client_never_logs_or_shows_a_key(endpoint: Any, caplog: pytest.LogCaptureFixture) -> None:
    rows = generate(5, label=False)
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):  # every logger, httpx and httpcore included
        with ScoringClient(endpoint.scoring_uri, key=PRIMARY, secondary_key=SECONDARY) as client:
            client.predict(rows)
            shown += [repr(client), str(client.options), repr(client.prepare(rows))]
        with ScoringClient(endpoint.scoring_uri, key=WRONG) as client, pytest.raises(AuthenticationError) as caught:
            client.predict(rows)
        shown += [str(caught.value), repr(caught.value), repr(client)]
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "HTTP Request: POST" in logged, "the logs were captured"
    assert leaks(logged) == [] and leaks("\n".join(shown)) == []


def test_the_cli_never_prints_a_key(endpoint: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    generate(20, label=False).to_csv(source, index=False)
    keys = tmp_path / "keys"
    outputs = []
    for key_text, code in ((f"{PRIMARY}\n", 0), (f"{WRONG}\n", 1)):
        keys.write_text(key_text)
        for command in (["score", str(source)], ["score", str(source), "-o", str(tmp_path / "o.csv")], ["health"]):
            result = subprocess.run(
                [BANKSCORE, *command, "--endpoint", endpoint.scoring_uri, "--key-file", str(keys)],
                capture_output=True, text=True, timeout=120,
                env={k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_KEY")},
            )  # fmt: skip
            outputs.append(result.stdout + result.stderr)
            if command[0] == "score":
                assert result.returncode == code, result.stderr
    assert any("401" in text or "key" in text.lower() for text in outputs), "the failing runs said why"
    assert leaks("\n".join(outputs)) == []


def test_an_exception_travelling_between_processes_carries_no_key(endpoint: Any) -> None:
    import pickle

    with ScoringClient(endpoint.scoring_uri, key=WRONG) as client, pytest.raises(APIError) as caught:
        client.predict(generate(2, label=False))
    assert leaks(pickle.dumps(caught.value).decode("latin-1")) == []


def test_serve_listens_on_loopback_only_by_default(tmp_path: Path, model_dir: Path) -> None:
    with serving(["--model", str(model_dir), "--no-auth"], {}, tmp_path) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not os.path.exists(table):
                continue
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"], f"listening on {listening} (0100007F is 127.0.0.1)"


# ------------------------------------------------------------------------------------------- TLS


@pytest.fixture
def https_endpoint(tmp_path: Path, endpoint: Any) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a certificate from a private test CA; it serves the real swagger."""
    import httpx

    swagger = httpx.get(endpoint.scoring_uri.rsplit("/score", 1)[0] + "/swagger.json").content
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

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


def test_tls_is_verified_by_default(https_endpoint: tuple[str, Path]) -> None:
    url, _ = https_endpoint
    with ScoringClient(url) as client, pytest.raises(ContractError) as caught:
        client.contract  # noqa: B018
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value).lower()


def test_a_ca_bundle_is_the_way_to_trust_a_private_certificate(https_endpoint: tuple[str, Path]) -> None:
    url, ca_file = https_endpoint
    with ScoringClient(url, verify=str(ca_file)) as client:
        assert client.contract.column_names[0] == "age"


def test_errors_are_bankscore_errors_without_secrets(endpoint: Any) -> None:
    with ScoringClient(endpoint.scoring_uri, key=WRONG) as client, pytest.raises(BankscoreError) as caught:
        client.predict(generate(1, label=False))
    assert caught.value.status_code == 401  # type: ignore[attr-defined]
    assert leaks(orjson.dumps(vars(caught.value), default=str).decode()) == []


def test_a_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BankscoreError, match=r"CA bundle .*nope\.pem can.t be used"):
        ScoringClient("https://127.0.0.1:1/score", verify=str(tmp_path / "nope.pem"))
