"""Credentials, held so they can't leak: redacted reprs, never logged, never pickled.

Two kinds send `Authorization: Bearer ...`, and the clients treat them alike (`Authorizer`):
- `KeyCredential`: an endpoint key, read from arguments, a key file or the environment. A service has a
  primary and a secondary key and rotates them one at a time; the credential starts on the primary and
  moves to the secondary once when the service rejects the primary.
- `TokenAuth`: Microsoft Entra tokens from any azure-core `TokenCredential` (azure-identity's
  `DefaultAzureCredential`, `ClientSecretCredential`, `ManagedIdentityCredential`...), for one scope,
  cached and refreshed as azure-core's `BearerTokenCredentialPolicy` does.
"""

from __future__ import annotations

import inspect
import ipaddress
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlsplit

from ._exceptions import AuthenticationError, KeySourceError
from ._types import AccessTokenLike, AsyncTokenCredential, TokenCredential

if TYPE_CHECKING:
    import asyncio

KEY_ENV: Final = "BANKSCORE_KEY"
SECONDARY_KEY_ENV: Final = "BANKSCORE_SECONDARY_KEY"
KEY_FILE_ENV: Final = "BANKSCORE_KEY_FILE"
AUTH_ENV: Final = "BANKSCORE_AUTH"
KEYRING_SERVICE: Final = "bankscore"  # the OS keyring's service name; the user name is the scoring URI
LOCAL_KEYRING_USER: Final = "local"  # the keyring user name for "no endpoint configured"

ML_SCOPE: Final = "https://ml.azure.com/.default"
"""Online endpoints in `aad_token` mode and batch endpoints take tokens for Azure ML's data plane."""
ARM_SCOPE: Final = "https://management.azure.com/.default"
"""Published pipelines, run history and the jobs API take Azure Resource Manager tokens."""

REFRESH_MARGIN: Final = 300.0
"""Refresh a token once fewer than this many seconds remain (azure-core's margin)."""
RETRY_FAILED_REFRESH: Final = 30.0
"""After a failed refresh, keep using the still-valid token and try again no sooner than this."""


class Authorizer(Protocol):
    """What the clients need from a credential; `KeyCredential` and `TokenAuth` both are one.

    `stale()` says whether the credential must fetch (`refresh` / `refresh_async`) before
    `authorization()` gives a header worth sending; the clients call those, so the retry logic stays free
    of I/O and the async client never blocks its loop on a token request.
    """

    def authorization(self) -> str | None: ...
    def stale(self) -> bool: ...
    def refresh(self) -> None: ...
    async def refresh_async(self) -> None: ...
    def rejected(self, authorization: str | None) -> bool: ...
    def secrets(self) -> tuple[str, ...]: ...


class KeyCredential:
    __slots__ = ("_active", "_lock", "_primary", "_secondary")

    def __init__(self, primary: str | None, secondary: str | None = None) -> None:
        primary = primary.strip() if primary else None
        secondary = secondary.strip() if secondary else None
        if primary is None and secondary is not None:
            primary, secondary = secondary, None
        self._primary = primary
        self._secondary = secondary
        self._active = primary
        self._lock = threading.Lock()

    @classmethod
    def resolve(
        cls, key: str | None = None, secondary_key: str | None = None, key_file: str | Path | None = None
    ) -> KeyCredential:
        """Arguments first, then a key file, then BANKSCORE_KEY / BANKSCORE_SECONDARY_KEY / BANKSCORE_KEY_FILE."""
        if key or secondary_key:
            return cls(key, secondary_key)
        key_file = key_file or os.environ.get(KEY_FILE_ENV) or None
        if key_file:
            return cls(*read_key_file(key_file))
        return cls(os.environ.get(KEY_ENV), os.environ.get(SECONDARY_KEY_ENV))

    @property
    def has_key(self) -> bool:
        return self._active is not None

    def authorization(self) -> str | None:
        active = self._active
        return f"Bearer {active}" if active else None

    def stale(self) -> bool:
        return False  # a key is there or it isn't: nothing to fetch

    def refresh(self) -> None:
        return None

    async def refresh_async(self) -> None:
        return None

    def rejected(self, authorization: str | None) -> bool:
        """A 401 for `authorization`: True when the secondary key is worth a try."""
        return self.rotate(authorization)

    def rotate(self, rejected: str | None) -> bool:
        """Switch to the secondary key if `rejected` (the header that failed) was the primary's."""
        with self._lock:
            if self._secondary is None or rejected != f"Bearer {self._primary}":
                return False  # no secondary, or the secondary itself was refused: give up
            self._active = self._secondary  # (another thread may have switched already: same result)
            return True

    def secrets(self) -> tuple[str, ...]:
        """The key values, for redaction filters only."""
        return tuple(k for k in (self._primary, self._secondary) if k)

    def __repr__(self) -> str:
        slots = ("primary" if self._primary else None, "secondary" if self._secondary else None)
        shown = ", ".join(f"{s}=<redacted>" for s in slots if s)
        return f"KeyCredential({shown})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[KeyCredential], tuple[None, None]]:
        # Pickling (e.g. to send a client to a worker) must not carry keys along.
        return (KeyCredential, (None, None))


class TokenAuth:
    """Bearer tokens from an azure-core credential for one scope, cached until shortly before they expire.

    A token is refreshed when there is none, when its `refresh_on` has passed (credentials with
    `get_token_info`), or when fewer than 300 s remain — or half its life, for tokens issued for less than
    ten minutes, which would otherwise be fetched for every request. A refresh that fails while the token is
    still valid keeps the old one (tried again after 30 s). A 401 drops the token it rejected, so the next
    attempt fetches a new one (the clients retry once). Sync credentials work with both clients (the async
    one fetches on a worker thread); async credentials (`azure.identity.aio`) with `AsyncScoringClient` only.
    """

    __slots__ = (
        "_alock",
        "_clock",
        "_credential",
        "_expires_on",
        "_is_async",
        "_lock",
        "_next_try",
        "_refresh_at",
        "_seen",
        "_token",
        "scope",
    )

    def __init__(
        self,
        credential: TokenCredential | AsyncTokenCredential,
        scope: str = ML_SCOPE,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(credential, "get_token", None)) and not callable(
            getattr(credential, "get_token_info", None)
        ):
            raise TypeError(
                f"{type(credential).__name__} is not a token credential (it has no get_token); pass an "
                "azure-identity credential such as DefaultAzureCredential()"
            )
        self._credential = credential
        self.scope = scope
        self._clock = clock
        self._is_async = inspect.iscoroutinefunction(getattr(credential, "get_token_info", None)) or (
            inspect.iscoroutinefunction(getattr(credential, "get_token", None))
        )
        self._token: str | None = None
        self._expires_on = 0.0
        self._refresh_at = 0.0
        self._next_try = 0.0
        self._seen: list[str] = []  # every token handed out, for redaction (bounded)
        self._lock = threading.Lock()
        self._alock: asyncio.Lock | None = None

    @property
    def is_async(self) -> bool:
        return self._is_async

    @property
    def credential(self) -> TokenCredential | AsyncTokenCredential:
        return self._credential

    def for_scope(self, scope: str) -> TokenAuth:
        """The same credential for another scope (a pipeline's ARM calls beside an endpoint's data plane)."""
        return self if scope == self.scope else TokenAuth(self._credential, scope, clock=self._clock)

    def authorization(self) -> str | None:
        token = self._token
        return f"Bearer {token}" if token else None

    def stale(self) -> bool:
        now = self._clock()
        if self._token is None or now >= self._expires_on:
            return True
        return now >= self._refresh_at and now >= self._next_try

    def refresh(self) -> None:
        """Fetch a token if one is due (thread-safe: concurrent callers wait for one fetch)."""
        if self._is_async:
            raise TypeError(
                f"{type(self._credential).__name__} is an async credential (azure.identity.aio): use it with "
                "AsyncScoringClient, or pass the sync credential of the same name"
            )
        with self._lock:
            if not self.stale():
                return
            try:
                answer = self._fetch_sync()
            except Exception as exc:
                self._failed(exc)
                return
            self._store(answer)

    async def refresh_async(self) -> None:
        """The same for async code: awaits an async credential, runs a sync one on a worker thread."""
        import asyncio  # here, not at the top: `import bankscore` stays free of asyncio

        if not self._is_async:
            await asyncio.to_thread(self.refresh)
            return
        if self._alock is None:
            self._alock = asyncio.Lock()
        async with self._alock:
            if not self.stale():
                return
            try:
                answer = await self._fetch_async()
            except Exception as exc:
                self._failed(exc)
                return
            self._store(answer)

    def rejected(self, authorization: str | None) -> bool:
        """A 401 for `authorization`: drop that token so the next attempt fetches a new one."""
        with self._lock:
            if authorization is not None and authorization == self.authorization():
                self._token = None
                self._refresh_at = self._expires_on = self._next_try = 0.0
        return True

    def secrets(self) -> tuple[str, ...]:
        return tuple(self._seen)

    def _fetch_sync(self) -> AccessTokenLike:
        info = getattr(self._credential, "get_token_info", None)
        if callable(info):
            result: AccessTokenLike = info(self.scope)
            return result
        return self._credential.get_token(self.scope)  # type: ignore[return-value]

    async def _fetch_async(self) -> AccessTokenLike:
        info = getattr(self._credential, "get_token_info", None)
        if callable(info):
            result: AccessTokenLike = await info(self.scope)
            return result
        return await self._credential.get_token(self.scope)  # type: ignore[no-any-return,misc]

    def _store(self, answer: AccessTokenLike) -> None:
        token = getattr(answer, "token", None)
        expires_on = getattr(answer, "expires_on", None)
        if not isinstance(token, str) or not token or not isinstance(expires_on, int | float):
            raise AuthenticationError(
                f"{type(self._credential).__name__}.get_token({self.scope!r}) returned no token and expiry"
            )
        now = self._clock()
        lifetime = float(expires_on) - now
        margin = min(REFRESH_MARGIN, max(lifetime, 0.0) / 2)
        refresh_at = float(expires_on) - margin
        refresh_on = getattr(answer, "refresh_on", None)
        if isinstance(refresh_on, int | float) and refresh_on:
            refresh_at = min(refresh_at, float(refresh_on))
        self._token, self._expires_on, self._refresh_at, self._next_try = token, float(expires_on), refresh_at, 0.0
        self._seen.append(token)
        del self._seen[:-8]

    def _failed(self, exc: Exception) -> None:
        now = self._clock()
        if self._token is not None and now < self._expires_on:
            self._next_try = now + RETRY_FAILED_REFRESH  # the token still works: use it, try again later
            return
        raise AuthenticationError(
            f"couldn't get a Microsoft Entra token for {self.scope} from {type(self._credential).__name__}: "
            f"{_first_line(exc, self.secrets())}"
        ) from None

    def __repr__(self) -> str:
        return f"TokenAuth(credential={type(self._credential).__name__}, scope={self.scope!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError(
            "a TokenAuth can't be pickled (its credential holds secrets); "
            "build the credential where it is used (Dask workers do, from the environment)"
        )


def _first_line(exc: Exception, secrets: tuple[str, ...]) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text[:300]


def authorizer(
    credential: TokenCredential | AsyncTokenCredential | TokenAuth | None,
    scope: str,
    *,
    key: str | None = None,
    secondary_key: str | None = None,
    key_file: str | Path | None = None,
) -> Authorizer:
    """What a client sends: tokens from `credential` for `scope`, else the key (arguments, file, environment)."""
    if credential is None:
        return KeyCredential.resolve(key, secondary_key, key_file)
    if key or secondary_key or key_file:
        raise KeySourceError("pass either a key (key=, secondary_key=, key_file=) or credential=, not both")
    return credential.for_scope(scope) if isinstance(credential, TokenAuth) else TokenAuth(credential, scope)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token_transport(url: str) -> None:
    """Refuse to send a bearer token over plain http beyond this machine (azure-core refuses it too)."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise KeySourceError(
            f"won't send a Microsoft Entra token over plain http to {parts.hostname}: use the https:// URL "
            "(plain http is allowed only to this machine, for local emulators)"
        )


def default_azure_credential() -> TokenCredential:
    """azure-identity's DefaultAzureCredential: AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, workload or
    managed identity, or an `az login` session — what `--auth entra` means everywhere."""
    from ._extras import require

    identity = require("azure.identity", "azure", "Microsoft Entra ID auth (--auth entra)")
    credential: TokenCredential = identity.DefaultAzureCredential()
    return credential


def keyring_key(endpoint: str | None) -> str | None:
    """The key `bankscore excel set-key` stored for this endpoint in the OS keyring, if there is a keyring and
    it has one; the keyring is optional (the `excel` extra), so its absence is no error."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        found: str | None = keyring.get_password(KEYRING_SERVICE, endpoint or LOCAL_KEYRING_USER)
    except (KeyringError, RuntimeError):
        return None
    return found


def store_key(endpoint: str, key: str) -> None:
    """Keep the key in the OS keyring (Windows Credential Manager, macOS Keychain, Secret Service)."""
    import keyring

    keyring.set_password(KEYRING_SERVICE, endpoint, key)


def read_key_file(path: str | Path) -> tuple[str, str | None]:
    """Primary key on the first non-empty line, optional secondary on the next."""
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise KeySourceError(f"can't read key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise KeySourceError(f"key file {path} is not UTF-8 text") from None
    if not lines or len(lines) > 2:
        raise KeySourceError(f"key file {path} must hold one or two keys, one per line (found {len(lines)})")
    return lines[0], (lines[1] if len(lines) > 1 else None)
