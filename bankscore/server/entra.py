"""Microsoft Entra ID bearer tokens, checked the way Entra-protected Azure services check them.

An Entra access token is an RS256 JWT: its signature must verify against a key of the issuer's JSON Web
Key Set (chosen by the header's `kid`), its `aud` must name the service the caller asked a token for, and
`exp`/`nbf` must bracket now, give or take a small clock skew. PyJWT does the cryptography; this module
decides which key, which audiences, and says in one line what was wrong. No message, log line or repr
holds a token or a piece of one: only claim values a caller chose (audience, kid, alg, issuer), shortened.

A scoring endpoint sees the same token on thousands of small requests, so each distinct token's verdict is
kept (by its SHA-256, in a bounded LRU) until the token expires: the RSA check runs once per token.
"""

# ruff: noqa: E402 (the extra is checked before its libraries are imported: a missing one is one clear line)
from __future__ import annotations

from .._exceptions import MissingDependencyError
from .._extras import check, installed

check("server", "Microsoft Entra token checks (serve --auth entra)")
for _module in ("jwt", "cryptography"):
    if not installed(_module):
        raise MissingDependencyError("Microsoft Entra token checks (serve --auth entra)", "server", _module)

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .._exceptions import KeySourceError
from .auth import Plane

DATA_AUDIENCE: Final = "https://ml.azure.com"
# ARM's audiences as Entra issues them: v2 scope form, v1 resource form with and without the slash.
MANAGEMENT_AUDIENCES: Final = (
    "https://management.azure.com",
    "https://management.azure.com/",
    "https://management.core.windows.net/",
)
DEFAULT_CLOCK_SKEW: Final = 60.0
CACHE_SIZE: Final = 4096
MAX_TOKEN_BYTES: Final = 16 * 1024  # Entra tokens are 1–4 KB; anything far larger is not one
ALGORITHM: Final = "RS256"

_B64URL: Final = re.compile(rb"[A-Za-z0-9_-]*")
_SHOWN: Final = re.compile(r"[ -~]{1,100}")  # printable ASCII, short: safe in a message and a header


class TokenError(Exception):
    """One reason a token is refused; `code` is a short word for the access log, `lasting` says whether
    the same token would be refused again later (so the verdict may be cached)."""

    def __init__(self, message: str, code: str, *, lasting: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.lasting = lasting


@dataclass(frozen=True)
class TokenVerdict:
    """The answer for one Authorization header on one plane: accepted (with its claims) or why not."""

    ok: bool
    message: str = ""
    code: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def challenge(self) -> bytes:
        """The WWW-Authenticate value (RFC 6750 §3): no error code when no token came at all."""
        if self.code == "missing":
            return b"Bearer"
        description = self.message.replace("\\", "\\\\").replace('"', '\\"')
        return f'Bearer error="invalid_token", error_description="{description}"'.encode("ascii", "replace")


@dataclass(frozen=True)
class Jwks:
    """The RSA signing keys of a JSON Web Key Set, by kid (None for a key without one)."""

    keys: Mapping[str | None, RSAPublicKey] = field(repr=False)
    source: str = ""

    @property
    def kids(self) -> list[str]:
        return [kid for kid in self.keys if kid is not None]

    def __repr__(self) -> str:
        return f"Jwks({len(self.keys)} key(s), kids={self.kids!r}, source={self.source!r})"

    @classmethod
    def from_dict(cls, document: Any, source: str = "the JWKS") -> Jwks:
        """`{"keys": [...]}` as Entra publishes it (or one bare JWK); RSA signing keys are kept, others skipped."""
        if isinstance(document, dict) and "keys" not in document and "kty" in document:
            document = {"keys": [document]}
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not entries:
            raise KeySourceError(
                f'{source} holds no keys: expected a JSON Web Key Set, {{"keys": [{{"kty": "RSA", ...}}]}}'
            )
        keys: dict[str | None, RSAPublicKey] = {}
        other: list[str] = []
        for entry in entries:
            kty = entry.get("kty") if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or kty != "RSA" or entry.get("use", "sig") != "sig":
                other.append(str(kty) if isinstance(kty, str) else "?")
                continue
            try:
                key = jwt.PyJWK(entry, ALGORITHM).key
            except jwt.PyJWTError:
                other.append("RSA (unreadable n/e)")
                continue
            if not isinstance(key, RSAPublicKey):  # a private JWK: keep only its public half
                key = key.public_key()
            kid = entry.get("kid")
            keys[kid if isinstance(kid, str) else None] = key
        if not keys:
            found = ", ".join(sorted(set(other)))
            raise KeySourceError(f"{source} holds no RSA signing key (found: {found}); Entra signs tokens with RS256")
        return cls(keys, source)

    def key_for(self, kid: Any) -> RSAPublicKey:
        if kid is None:
            if len(self.keys) == 1:
                return next(iter(self.keys.values()))
            raise TokenError(
                f"The token names no kid and the JWKS holds {len(self.keys)} keys; can't choose one to check it",
                "kid",
            )
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            held = ", ".join(f"'{k}'" for k in self.kids) or "none"
            raise TokenError(
                f"No key with kid {_shown(kid)} in the JWKS (it holds kid {held}): "
                "the token was signed by another issuer or with a key this service doesn't have",
                "kid",
            )
        return key


def load_jwks(path: str | Path) -> Jwks:
    """Read a JWKS file (what `https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys` serves)."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeySourceError(f"can't read JWKS file {where}: it does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise KeySourceError(f"can't read JWKS file {where}: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeySourceError(
            f"JWKS file {where} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            'it should hold a JSON Web Key Set, {"keys": [...]}'
        ) from None
    return Jwks.from_dict(document, f"JWKS file {where}")


def _shown(value: Any) -> str:
    """A claim value fit for a message: quoted when it is short printable text, described otherwise."""
    if isinstance(value, str) and _SHOWN.fullmatch(value):
        return f"'{value}'"
    if isinstance(value, list) and value and all(isinstance(v, str) and _SHOWN.fullmatch(v) for v in value[:5]):
        return "[" + ", ".join(f"'{v}'" for v in value[:5]) + (", ..." if len(value) > 5 else "") + "]"
    return "(not short text)"


def _utc(seconds: Any) -> str:
    try:
        return datetime.fromtimestamp(float(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "(not a time)"


def _expected(accepted: tuple[str, ...]) -> str:
    return f"'{accepted[0]}'" if len(accepted) == 1 else "one of " + ", ".join(f"'{a}'" for a in accepted)


def _segment(part: bytes) -> Any:
    """A base64url JSON segment, or None when it isn't one (the caller says 'not a JWT')."""
    if not _B64URL.fullmatch(part):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        return None


class TokenValidator:
    """Checks `Authorization: Bearer <jwt>` for a plane; see the module docstring for the rules."""

    def __init__(
        self,
        jwks: Jwks,
        *,
        audience: str = DATA_AUDIENCE,
        management_audiences: Iterable[str] = MANAGEMENT_AUDIENCES,
        clock_skew: float = DEFAULT_CLOCK_SKEW,
        issuer: str | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        if not audience.strip():
            raise ValueError("the audience must not be empty")
        if not (clock_skew >= 0 and math.isfinite(clock_skew)):
            raise ValueError("the clock skew must be finite, 0 or more seconds")
        self.jwks = jwks
        self.audience = audience
        self.clock_skew = float(clock_skew)
        self.issuer = issuer
        self._accepted: dict[Plane, tuple[str, ...]] = {
            "data": (audience,),
            "management": tuple(management_audiences),
        }
        # Entra writes an audience with or without a trailing slash depending on how the token was asked for.
        self._matching: dict[Plane, tuple[str, ...]] = {
            plane: tuple(dict.fromkeys(v for a in values for v in (a, a.rstrip("/"), a.rstrip("/") + "/")))
            for plane, values in self._accepted.items()
        }
        self._cache: OrderedDict[bytes, tuple[TokenVerdict, float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> TokenValidator:
        return cls(load_jwks(path), **options)

    def __repr__(self) -> str:
        return (
            f"TokenValidator(audience={self.audience!r}, clock_skew={self.clock_skew:g}, "
            f"issuer={self.issuer!r}, jwks={self.jwks!r})"
        )

    def accepted(self, plane: Plane) -> tuple[str, ...]:
        return self._accepted[plane]

    def check(self, header: bytes | None, plane: Plane = "data") -> TokenVerdict:
        if header is None:
            scope = self._accepted[plane][0].rstrip("/") + "/.default"
            return TokenVerdict(
                False,
                "Missing Authorization header; send 'Authorization: Bearer <token>' with a Microsoft Entra "
                f"access token (scope {scope})",
                "missing",
            )
        scheme, _, rest = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return TokenVerdict(
                False,
                "The Authorization header must be 'Bearer <token>' with a Microsoft Entra access token; "
                "this one uses another scheme",
                "scheme",
            )
        token = rest.strip()
        if not token:
            return TokenVerdict(
                False,
                "The Authorization header says 'Bearer' but holds no token (is the token variable empty?); "
                "send 'Authorization: Bearer <token>'",
                "empty",
            )
        now = time.time()
        digest = hashlib.sha256(token).digest() + plane.encode()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
        if cached is not None:
            verdict, until = cached
            if now < until:
                return verdict
            # An accepted token that has since expired: say so, and remember that instead.
            verdict = TokenVerdict(False, self._expired_message(verdict.claims.get("exp")), "expired")
            self._remember(digest, verdict, math.inf)
            return verdict
        try:
            claims = self._verify(token, plane)
        except TokenError as error:
            verdict = TokenVerdict(False, error.message, error.code)
            if error.lasting:
                self._remember(digest, verdict, math.inf)
            return verdict
        verdict = TokenVerdict(True, claims=claims)
        self._remember(digest, verdict, float(claims["exp"]) + self.clock_skew)
        return verdict

    def _remember(self, digest: bytes, verdict: TokenVerdict, until: float) -> None:
        with self._lock:
            self._cache[digest] = (verdict, until)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _expired_message(self, exp: Any) -> str:
        return f"The token expired at {_utc(exp)} (clock skew allowed: {self.clock_skew:g} s); get a new token"

    def _verify(self, token: bytes, plane: Plane) -> dict[str, Any]:
        not_jwt = TokenError(
            "The Bearer token is not a JWT (three base64url parts: header.payload.signature); "
            "send a Microsoft Entra access token, not a key",
            "format",
        )
        parts = token.split(b".")
        if len(token) > MAX_TOKEN_BYTES or len(parts) != 3:
            raise not_jwt
        header, payload = _segment(parts[0]), _segment(parts[1])
        if not isinstance(header, dict) or not isinstance(payload, dict) or not _B64URL.fullmatch(parts[2]):
            raise not_jwt
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise TokenError(
                f"The token is signed with alg {_shown(alg)}; this service accepts only RS256 tokens "
                "signed by a key of its JWKS",
                "alg",
            )
        kid = header.get("kid")
        key = self.jwks.key_for(kid)
        accepted = self._accepted[plane]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=list(self._matching[plane]),
                issuer=self.issuer,
                leeway=self.clock_skew,
                options={"require": ["exp", "aud"]},
            )
        except jwt.InvalidSignatureError:
            raise TokenError(
                "The token's signature does not verify against the JWKS"
                + (f" (kid {_shown(kid)})" if kid is not None else ""),
                "signature",
            ) from None
        except jwt.ExpiredSignatureError:
            raise TokenError(self._expired_message(payload.get("exp")), "expired") from None
        except jwt.ImmatureSignatureError:
            skew = f"clock skew allowed: {self.clock_skew:g} s"
            nbf = payload.get("nbf")
            if isinstance(nbf, int | float) and nbf > time.time() + self.clock_skew:
                message = f"The token is not valid before {_utc(nbf)} ({skew}); check the clocks"
            else:
                message = f"The token was issued in the future, at {_utc(payload.get('iat'))} ({skew})"
            raise TokenError(message, "not-yet-valid", lasting=False) from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenError(f"The token has no '{error.claim}' claim", "claims") from None
        except jwt.InvalidAudienceError:
            scope = accepted[0].rstrip("/") + "/.default"
            raise TokenError(
                f"The token's audience {_shown(payload.get('aud'))} is not accepted on this route "
                f"(expected {_expected(accepted)}); ask for a token with the scope {scope}",
                "audience",
            ) from None
        except jwt.InvalidIssuerError:
            raise TokenError(
                f"The token's issuer {_shown(payload.get('iss'))} is not accepted (expected '{self.issuer}')",
                "issuer",
            ) from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("The token's alg is not RS256", "alg") from None
        except jwt.PyJWTError:
            # What is left are claims of the wrong type (exp, nbf or iat not a number, iss not text).
            raise TokenError(
                "The token's claims are malformed: exp, nbf and iat must be numbers, aud and iss text", "claims"
            ) from None
        return claims
