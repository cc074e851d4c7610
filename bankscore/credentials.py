"""Endpoint keys, held so they can't leak: redacted reprs, never logged, read from env or a file.

A service has a primary and a secondary key and rotates them one at a time; the credential
starts on the primary and moves to the secondary once when the service rejects the primary.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Final

from ._exceptions import KeySourceError

KEY_ENV: Final = "BANKSCORE_KEY"
SECONDARY_KEY_ENV: Final = "BANKSCORE_SECONDARY_KEY"
KEY_FILE_ENV: Final = "BANKSCORE_KEY_FILE"


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
