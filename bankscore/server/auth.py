"""Key auth as ACI/AKS do it: `Authorization: Bearer <key>`, a primary and a secondary key.

Keys are compared in constant time against both slots every time, so neither timing nor the
answer tells a caller which slot a guess came close to. Nothing here ever logs a key.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Final, Literal

from .._exceptions import KeySourceError
from ..credentials import KEY_ENV, SECONDARY_KEY_ENV, read_key_file

# The ACI front end's exact words for a header without the Bearer scheme.
MALFORMED_MESSAGE: Final = (
    'Authorization header is malformed. Header should be in the form: "Authorization: Bearer <token>"'
)


Plane = Literal["data", "management"]

# Paths Azure serves from its management plane (ARM-audience tokens): published pipelines, run history, ARM jobs.
MANAGEMENT_PREFIXES: Final = ("/pipelines/", "/history/", "/subscriptions/")
# Routes a key protects besides POST /score: everything but the open health probe and swagger.
KEYED_PREFIXES: Final = (*MANAGEMENT_PREFIXES, "/jobs/")


def plane_of(path: str) -> Plane:
    """Which Azure plane answers `path`, so which token audience it takes."""
    return "management" if path.startswith(MANAGEMENT_PREFIXES) else "data"


def needs_key(path: str, method: str) -> bool:
    """Key auth as ACI/AKS apply it: POST /score (other methods get their 405 first) and the job and pipeline
    routes; `/`, `/swagger.json` and unknown paths stay open, as they are today."""
    return (path == "/score" and method == "POST") or path == "/jobs" or path.startswith(KEYED_PREFIXES)


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"
    EMPTY = "empty"  # "Bearer " and nothing after it: the sample clients' habit with an unset key
    MALFORMED = "malformed"
    WRONG = "wrong"


@dataclass(frozen=True)
class KeyRing:
    primary: str = field(repr=False)
    secondary: str | None = field(default=None, repr=False)
    generated: bool = False

    def __post_init__(self) -> None:
        if not self.primary.strip() or (self.secondary is not None and not self.secondary.strip()):
            raise KeySourceError("a key must not be empty")

    def check(self, header: bytes | None) -> Verdict:
        if header is None:
            return Verdict.MISSING
        scheme, _, token = header.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return Verdict.MALFORMED
        token = token.strip()
        if not token:
            return Verdict.EMPTY
        # Both comparisons always run: the time taken does not depend on which key matched.
        primary_ok = hmac.compare_digest(token, self.primary.encode())
        secondary_ok = hmac.compare_digest(token, (self.secondary or self.primary).encode())
        return Verdict.OK if primary_ok | secondary_ok else Verdict.WRONG

    def __repr__(self) -> str:
        return f"KeyRing(primary=<redacted>, secondary={'<redacted>' if self.secondary else None})"


def resolve_keys(key_file: str | Path | None = None, *, environ: dict[str, str] | None = None) -> KeyRing:
    """Key file, then environment, then a fresh random primary key (flagged, so it is shown once)."""
    env = os.environ if environ is None else environ
    if key_file is not None:
        primary, secondary = read_key_file(key_file)
        return KeyRing(primary, secondary)
    primary_env = env.get(KEY_ENV, "").strip()
    secondary_env = env.get(SECONDARY_KEY_ENV, "").strip() or None
    if primary_env:
        return KeyRing(primary_env, secondary_env)
    if secondary_env:
        raise KeySourceError(f"{SECONDARY_KEY_ENV} is set but {KEY_ENV} is not; set the primary key too")
    return KeyRing(secrets.token_urlsafe(32), None, generated=True)
