"""Where the Excel add-in finds its endpoint and key: the Settings sheet, the environment, the OS keyring.

The key is deliberately never read from the workbook: a workbook gets mailed around, and the old
Azure ML add-in's habit of saving the key in it is exactly what this replaces. A Settings sheet
that holds a key is refused with a message saying where the key belongs instead.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .. import ScoringClient
from .._exceptions import BankscoreError
from .._types import AuthMode
from ..credentials import AUTH_ENV, KEY_ENV, KEY_FILE_ENV, default_azure_credential, keyring_key
from .core import ExcelScorer, RowCache, normalise

SETTINGS_SHEET: Final = "Settings"
UDF_TIMEOUT: Final = 20.0  # one request
UDF_DEADLINE: Final = 60.0  # a whole range, retries included: well under Excel's ~90 s OLE limit
_FIELDS: Final = {
    "endpoint": "endpoint",
    "scoringuri": "endpoint",
    "keyfile": "key_file",
    "auth": "auth",
    "timeoutseconds": "timeout",
    "timeout": "timeout",
    "cacheminutes": "cache_minutes",
}
_SECRETS: Final = {"key", "apikey", "primarykey", "secondarykey", "password", "token", "bearer", "authorization"}
KEY_HELP: Final = (
    "set the BANKSCORE_KEY environment variable, point 'Key file' at a file holding it, "
    "or store it in the OS keyring with `bankscore excel set-key`"
)


class SettingsError(BankscoreError, ValueError):
    """The Settings sheet says something we won't or can't use."""


@dataclass(frozen=True)
class Settings:
    endpoint: str | None = None
    key_file: str | None = None
    timeout: float = UDF_TIMEOUT
    cache_minutes: float = 15.0
    auth: AuthMode = "key"


def settings_from_grid(grid: Sequence[Sequence[Any]] | None, env: Mapping[str, str] | None = None) -> Settings:
    """Label/value rows from the Settings sheet (labels in any case), then the environment for what's blank."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for row in grid or ():
        cells = list(row) if isinstance(row, list | tuple) else [row]
        if not cells or cells[0] is None:
            continue
        label = normalise(cells[0])
        value = cells[1] if len(cells) > 1 else None
        if label in _SECRETS and value not in (None, ""):
            raise SettingsError(f"the {SETTINGS_SHEET} sheet holds a key in {cells[0]!r}: delete it and {KEY_HELP}")
        if label in _FIELDS and value not in (None, ""):
            values[_FIELDS[label]] = value
    try:
        timeout = float(values.get("timeout", UDF_TIMEOUT))
        cache_minutes = float(values.get("cache_minutes", 15.0))
    except (TypeError, ValueError):
        raise SettingsError("'Timeout seconds' and 'Cache minutes' must be numbers") from None
    if not 0 < timeout <= UDF_DEADLINE:
        raise SettingsError(f"'Timeout seconds' must be between 0 and {UDF_DEADLINE:g} (Excel gives up at about 90)")
    endpoint = str(values.get("endpoint") or env.get("BANKSCORE_ENDPOINT") or "").strip() or None
    key_file = str(values.get("key_file") or "").strip() or None
    auth = str(values.get("auth") or env.get(AUTH_ENV) or "key").strip().lower()
    if auth not in ("key", "entra"):
        raise SettingsError(f"'Auth' must be key or entra, not {auth!r}")
    if auth == "entra" and endpoint is None:
        raise SettingsError("'Auth' entra needs an 'Endpoint': the embedded endpoint takes a key")
    if auth == "entra" and key_file is not None:
        raise SettingsError("'Auth' entra and a 'Key file' contradict each other: clear one of them")
    return Settings(endpoint, key_file, timeout, max(cache_minutes, 0.0), "entra" if auth == "entra" else "key")


class Scorers:
    """One scorer per endpoint and key, for the life of Excel's Python process; the embedded endpoint on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scorers: dict[tuple[Any, ...], ExcelScorer] = {}
        self._local: Any = None
        self._local_key: str | None = None
        self._frozen = False

    def get(self, settings: Settings, env: Mapping[str, str] | None = None) -> ExcelScorer:
        env = os.environ if env is None else env
        with self._lock:
            endpoint, key, key_file = settings.endpoint, None, settings.key_file
            if endpoint is None:
                endpoint, key = self._embedded()
            elif settings.auth == "entra":
                pass  # tokens from azure-identity, whatever the key variables say
            elif not env.get(KEY_ENV) and not key_file and not env.get(KEY_FILE_ENV):
                key = keyring_key(endpoint)
            if key_file is not None and not Path(key_file).expanduser().is_file():
                raise SettingsError(f"the key file {key_file} does not exist; fix 'Key file' on the Settings sheet")
            # The key itself never becomes part of a dict key or a repr: only its digest does. A key from the
            # environment counts too: a new BANKSCORE_KEY in a running Excel gets a new scorer and cache.
            given = key if key is not None else os.environ.get(KEY_ENV, "")
            digest = hashlib.sha256(given.encode()).hexdigest()
            identity = (endpoint, digest, key_file or os.environ.get(KEY_FILE_ENV), settings.timeout, settings.auth)
            scorer = self._scorers.get(identity)
            if scorer is None:
                local = self._local is not None and endpoint == self._local.scoring_uri
                entra = settings.auth == "entra"
                client = ScoringClient(
                    endpoint,
                    key=None if entra else key,
                    key_file=None if entra else key_file,
                    credential=default_azure_credential() if entra else None,
                    timeout=settings.timeout,
                    deadline=UDF_DEADLINE,
                    max_retries=2,
                    concurrency=(os.cpu_count() or 2) if local else 4,
                    batch_rows=5_000 if local else 1_000,
                )
                scorer = ExcelScorer(client, RowCache(max_age=settings.cache_minutes * 60))
                self._scorers[identity] = scorer
                if not self._frozen:
                    # Excel's Python process lives long and imports a lot (pandas, LightGBM for the
                    # embedded endpoint): move what exists now out of the collector's way, so a full
                    # collection during a call scans this call's objects, not every module's.
                    gc.freeze()
                    self._frozen = True
            scorer.cache.max_age = settings.cache_minutes * 60
            return scorer

    def _embedded(self) -> tuple[str, str]:
        if self._local is None:
            from ..server.runner import start_local_endpoint

            self._local, self._local_key = start_local_endpoint()
            atexit.register(self._local.stop)
        assert self._local_key is not None
        return self._local.scoring_uri, self._local_key

    def clear_caches(self) -> int:
        with self._lock:
            rows = sum(len(s.cache) for s in self._scorers.values())
            for scorer in self._scorers.values():
                scorer.cache.clear()
            return rows

    def close(self) -> None:
        with self._lock:
            for scorer in self._scorers.values():
                scorer.client.close()
            self._scorers.clear()
            if self._local is not None:
                self._local.stop()
                self._local = None


SCORERS: Final = Scorers()
