"""A keyring backend kept in a JSON file, so a CLI child process reads the key a test stored.

Selected with `PYTHON_KEYRING_BACKEND=tests.support.filekeyring.FileKeyring` (keyring's own switch) and
`BANKSCORE_TEST_KEYRING_FILE=PATH`; it stands in for Windows Credential Manager or the Secret Service.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jaraco.classes import properties
from keyring.backend import KeyringBackend

FILE_ENV = "BANKSCORE_TEST_KEYRING_FILE"
BACKEND = "tests.support.filekeyring.FileKeyring"


class FileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        """Viable only where a test named the file: keyring considers every backend class that is imported,
        and this one must never become the default keyring of the test process itself."""
        if not os.environ.get(FILE_ENV):
            raise RuntimeError(f"{FILE_ENV} is not set")
        return 1

    def _path(self) -> Path:
        return Path(os.environ[FILE_ENV])

    def _load(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text()) if path.is_file() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\n{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        stored = self._load()
        stored[f"{service}\n{username}"] = password
        self._path().write_text(json.dumps(stored))

    def delete_password(self, service: str, username: str) -> None:
        stored = self._load()
        stored.pop(f"{service}\n{username}", None)
        self._path().write_text(json.dumps(stored))
