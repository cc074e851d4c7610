"""Microsoft Entra ID, offline: an issuer with its own RSA key, credentials that sign tokens with it, and an
App Service managed-identity endpoint that azure-identity's real credentials fetch tokens from.

`bankscore serve --auth entra --jwks FILE` trusts the issuer's JWKS; a test hands a client one of the
credentials (azure-core's `TokenCredential`, the newer `get_token_info`, or the async protocol), or points
azure-identity's `ManagedIdentityCredential` / `DefaultAzureCredential` at `ManagedIdentityServer.env`.
Needs the full dev environment (cryptography, PyJWT, azure-core).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import EllipsisType
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

import jwt
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DATA_AUDIENCE: Final = "https://ml.azure.com"
MANAGEMENT_AUDIENCE: Final = "https://management.azure.com"
DATA_SCOPE: Final = f"{DATA_AUDIENCE}/.default"
MANAGEMENT_SCOPE: Final = f"{MANAGEMENT_AUDIENCE}/.default"
TENANT_ID: Final = "72f988bf-0000-4000-8000-00000000c0de"
OBJECT_ID: Final = "5b0c1e7a-0000-4000-8000-0000000000a1"
APP_ID: Final = "0d3f9a11-0000-4000-8000-0000000000b2"

_KEYS: dict[str, rsa.RSAPrivateKey] = {}
_KEYS_LOCK = threading.Lock()


def _private_key(name: str) -> rsa.RSAPrivateKey:
    """An RSA-2048 key per name, made once per process (key generation costs CPU the suite has little of)."""
    with _KEYS_LOCK:
        if name not in _KEYS:
            _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _KEYS[name]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def audience_of(scope: str) -> str:
    """`https://ml.azure.com/.default` → `https://ml.azure.com`, as Entra maps a scope to a token audience."""
    return scope.removesuffix("/.default")


class TestIssuer:
    """A stand-in for an Entra tenant's token service: one signing key (by kid), Entra-shaped claims."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, kid: str = "test-key-1", *, tenant_id: str = TENANT_ID) -> None:
        self.kid = kid
        self.tenant_id = tenant_id
        self.issuer = f"https://sts.windows.net/{tenant_id}/"  # v1 tokens, as ml.azure.com and ARM get
        self._key = _private_key(f"own:{kid}")

    def __repr__(self) -> str:
        return f"TestIssuer(kid={self.kid!r}, issuer={self.issuer!r})"

    def jwks(self) -> dict[str, Any]:
        """The public half, as Entra's `discovery/keys` serves it."""
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "n": jwk["n"], "e": jwk["e"]}]}

    def write_jwks(self, path: str | Path) -> Path:
        target = Path(path)
        target.write_text(json.dumps(self.jwks(), indent=2), encoding="utf-8")
        return target

    def public_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(
        self,
        audience: str = DATA_AUDIENCE,
        lifetime: float = 3600.0,
        *,
        not_before: float | None = None,
        expires: float | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An app-only (service principal) token's claims; an extra claim set to None is left out."""
        now = time.time()
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": self.issuer,
            "iat": int(now),
            "nbf": int(now if not_before is None else not_before),
            "exp": int(now + lifetime if expires is None else expires),
            "aio": _b64url(secrets.token_bytes(24)),
            "appid": APP_ID,
            "appidacr": "1",
            "idp": self.issuer,
            "idtyp": "app",
            "oid": OBJECT_ID,
            "sub": OBJECT_ID,
            "tid": self.tenant_id,
            "uti": _b64url(secrets.token_bytes(16)),
            "ver": "1.0",
        }
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        audience: str = DATA_AUDIENCE,
        lifetime: float = 3600.0,
        *,
        not_before: float | None = None,
        expires: float | None = None,
        signing_key: Literal["own", "other"] = "own",
        kid: str | EllipsisType | None = ...,
        **claims: Any,
    ) -> str:
        """An RS256 token: `signing_key="other"` signs with a key not in the JWKS (same kid); `kid=None`
        leaves the kid out, `kid="x"` names another; `not_before`/`expires` are epoch seconds."""
        headers: dict[str, Any] = {"typ": "JWT", "x5t": self.kid}
        chosen = self.kid if kid is ... else kid
        if chosen is not None:
            headers["kid"] = chosen
        key = self._key if signing_key == "own" else _private_key(f"other:{self.kid}")
        payload = self.claims(audience, lifetime, not_before=not_before, expires=expires, **claims)
        return jwt.encode(payload, key, algorithm="RS256", headers=headers)

    def forge(self, alg: Literal["none", "HS256"], audience: str = DATA_AUDIENCE, **claims: Any) -> str:
        """The classic attacks on JWT checkers: alg none (no signature), or HS256 keyed with the issuer's
        public key (which a checker that trusts the header's alg would verify with the same bytes)."""
        header = {"alg": alg, "typ": "JWT", "kid": self.kid}
        signing_input = f"{_segment(header)}.{_segment(self.claims(audience, **claims))}"
        if alg == "none":
            return signing_input + "."
        signature = hmac.new(self.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"


class _Signer:
    """What the credentials share: mint a token per call for the scope's audience, record the calls."""

    def __init__(
        self,
        issuer: TestIssuer,
        lifetime: float = 3600.0,
        *,
        reported_lifetime: float | None = None,
        first_token_expired: bool = False,
    ) -> None:
        self.issuer = issuer
        self.lifetime = lifetime
        self.reported_lifetime = reported_lifetime
        self.first_token_expired = first_token_expired
        self.calls: list[tuple[str, ...]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lifetime={self.lifetime:g}, calls={len(self.calls)})"

    def _sign(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        if len(scopes) != 1:
            raise ValueError(f"Entra gives a token for one resource at a time; asked for {len(scopes)} scopes")
        with self._lock:
            self.calls.append(scopes)
            first = len(self.calls) == 1
        now = time.time()
        if first and self.first_token_expired:  # the client believes it for `lifetime`; the server does not
            token = self.issuer.mint(audience_of(scopes[0]), expires=now - 3600, not_before=now - 7200)
        else:
            token = self.issuer.mint(audience_of(scopes[0]), self.lifetime)
        reported = self.lifetime if self.reported_lifetime is None else self.reported_lifetime
        return token, int(now + reported)


class SigningCredential(_Signer):
    """azure-core's `TokenCredential`: `get_token(scope)` → `AccessToken(token, expires_on)`.

    `reported_lifetime` makes `expires_on` say something else than the token's `exp` (a client then trusts
    a token the server rejects); `first_token_expired` hands out an already expired first token."""

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        token, expires_on = self._sign(scopes)
        return AccessToken(token, expires_on)


class InfoSigningCredential(_Signer):
    """The newer protocol alone (`SupportsTokenInfo`): `get_token_info` with `refresh_on`, `refresh_after`
    seconds after issue (None: no refresh_on). It has no `get_token`, as a client must cope with."""

    def __init__(
        self,
        issuer: TestIssuer,
        lifetime: float = 3600.0,
        *,
        refresh_after: float | None = None,
        reported_lifetime: float | None = None,
        first_token_expired: bool = False,
    ) -> None:
        super().__init__(issuer, lifetime, reported_lifetime=reported_lifetime, first_token_expired=first_token_expired)
        self.refresh_after = refresh_after
        self.options: list[TokenRequestOptions | None] = []

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        with self._lock:
            self.options.append(options)
        now = time.time()
        token, expires_on = self._sign(scopes)
        refresh_on = None if self.refresh_after is None else int(now + self.refresh_after)
        return AccessTokenInfo(token, expires_on, refresh_on=refresh_on)

    def __enter__(self) -> InfoSigningCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass


class AsyncSigningCredential(_Signer):
    """azure-core's `AsyncTokenCredential`: async `get_token`, `close`, and `async with`."""

    closed = False

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        token, expires_on = self._sign(scopes)
        return AccessToken(token, expires_on)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> AsyncSigningCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ManagedIdentityServer:
    """The App Service managed-identity endpoint on a loopback port, signing with `issuer`.

    azure-identity (through MSAL) uses it when IDENTITY_ENDPOINT and IDENTITY_HEADER are set and
    IDENTITY_SERVER_THUMBPRINT and IMDS_ENDPOINT are not: `GET <endpoint>?api-version=2019-08-01&resource=<aud>`
    with the header `X-IDENTITY-HEADER: <secret>` (and `client_id`/`mi_res_id`/`object_id` for a user-assigned
    identity) → `{"access_token", "expires_on", "resource", "token_type", "client_id"}`. Use as a context manager;
    `env` is what to put in the environment, `requests` counts the token requests answered."""

    API_VERSION: Final = "2019-08-01"

    def __init__(self, issuer: TestIssuer, *, lifetime: float = 3600.0) -> None:
        self.issuer = issuer
        self.lifetime = lifetime
        self.secret = secrets.token_hex(16)
        self.requests = 0
        self.resources: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="managed-identity", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/msi/token"

    @property
    def env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.secret}

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A whole environment for a child process (default: this one's) in which azure-identity finds
        this managed identity and no other (AZURE_VARIABLES left out)."""
        source = os.environ if base is None else base
        return {**{k: v for k, v in source.items() if k not in AZURE_VARIABLES}, **self.env}

    def __repr__(self) -> str:
        return f"ManagedIdentityServer(url={self.url!r}, requests={self.requests})"

    def __enter__(self) -> ManagedIdentityServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _answer(self, path: str, identity_header: str | None) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path != urlsplit(self.url).path:
            return 404, {"statusCode": 404, "message": f"No route {parts.path}"}
        if identity_header is None or not hmac.compare_digest(identity_header, self.secret):
            return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"}
        if query.get("api-version") != self.API_VERSION:
            return 400, {"statusCode": 400, "message": f"api-version must be {self.API_VERSION}"}
        resource = query.get("resource", "")
        if not resource.startswith("https://"):
            return 400, {"statusCode": 400, "message": "resource must be an https:// URI"}
        expires_on = int(time.time() + self.lifetime)
        token = self.issuer.mint(resource, self.lifetime, appid=query.get("client_id", uuid.uuid4().hex))
        with self._lock:
            self.requests += 1
            self.resources.append(resource)
        return 200, {
            "access_token": token,
            "expires_on": str(expires_on),  # App Service sends epoch seconds as a string
            "resource": resource,
            "token_type": "Bearer",
            "client_id": query.get("client_id", APP_ID),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = outer._answer(self.path, self.headers.get("X-IDENTITY-HEADER"))
                if status != 200:
                    with outer._lock:
                        outer.refused.append(f"{status} {body['message']}")
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: no request lines (with tokens' resources) on the test output

        return Handler


# Where azure-identity would find a real identity instead of ours: left out of a test's environment.
AZURE_VARIABLES: Final = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)
