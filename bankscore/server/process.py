"""The embedded endpoint in a child process: its own interpreter and GIL, on another core.

`bankscore score` of a large file starts the endpoint this way when none is configured. In a thread of
the scoring process, the endpoint's Python work and the client's (reading, checking and encoding rows)
take turns on one GIL. As a child process the two run side by side, as a real client and endpoint do.

Portable by construction, Windows included:
- The settings, key included, travel in the child's environment, never on its command line.
- The child says it is ready with one JSON line on stdout.
- It stops when its stdin closes. The parent closes stdin to stop it, and the OS closes it when the
  parent dies, however it dies, so a child never outlives its parent. No signal is needed.
- The child runs in its own process group, so a Ctrl-C in the terminal reaches only the parent, which
  finishes its journal and then stops the child.
- A child that doesn't stop within the grace period is killed by its PID: SIGKILL, or TerminateProcess
  on Windows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, Final

import orjson

from .errors import ModelLoadError
from .runner import CONFIG_ENV, EmbeddedEndpoint, EndpointConfig

START_TIMEOUT: Final = 120.0
"""Seconds the child may take to import, load its model and listen (a cold Windows start is slow)."""
STOP_GRACE: Final = 10.0
"""Seconds the child may take to stop once its stdin is closed, before it is killed."""


class EndpointProcess:
    """The endpoint of `config` in a child process, on a free loopback port; use as a context manager."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.port = 0
        self.model_name = ""
        self.model_version = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def scoring_uri(self) -> str:
        return f"{self.base_url}/score"

    def start(self, timeout: float = START_TIMEOUT) -> EndpointProcess:
        config = dataclasses.replace(self.config, port=0, workers=1)
        env = {**os.environ, CONFIG_ENV: config.to_env()}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bankscore.server.process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            **_own_process_group(),
        )
        assert self._process.stdout is not None
        line = _read_line(self._process.stdout, timeout)
        try:
            ready: dict[str, Any] = orjson.loads(line) if line else {}
        except orjson.JSONDecodeError:
            ready = {}
        if "port" not in ready:
            self.stop()
            if ready.get("kind") == "ModelLoadError":
                raise ModelLoadError(str(ready["error"]))
            why = ready.get("error") or ("it exited" if line is not None else f"it was not ready in {timeout:g} s")
            raise RuntimeError(f"the embedded endpoint did not start in its own process: {why}")
        self.port = int(ready["port"])
        self.model_name, self.model_version = str(ready["model"]), str(ready["version"])
        return self

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Close the child's stdin (it stops itself), and kill it by its PID if it is still there after `grace`."""
        process = self._process
        if process is None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> EndpointProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _own_process_group() -> dict[str, Any]:
    """Popen's arguments that keep a terminal's Ctrl-C away from the child: the parent stops it instead."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def _read_line(stream: IO[bytes], timeout: float) -> bytes | None:
    """The stream's first line, or None if none came within `timeout` (a thread: pipes can't be polled on Windows)."""
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0] if lines and lines[0] else None


def import_lightgbm_lean(model_dir: Path) -> None:
    """Import lightgbm without scikit-learn when `model_dir` holds a LightGBM model (or a vote with one).

    The endpoint only calls lightgbm's Booster; lightgbm imports scikit-learn (and SciPy) for its
    scikit-learn API whenever it is installed, about a second of every start. Nothing that serves a
    model uses that API, so scikit-learn is hidden while lightgbm is imported, and only then.
    """
    if "lightgbm" in sys.modules or "sklearn" in sys.modules or importlib.util.find_spec("lightgbm") is None:
        return
    try:
        from .model import MODEL_FILE

        described = (model_dir / MODEL_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # loading the model says what is wrong, as it always has
    if '"lightgbm"' not in described:
        return  # a linear model needs no lightgbm at all
    sys.modules["sklearn"] = None  # type: ignore[assignment]  # an import of it raises ImportError
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        pass  # loading the model reports a broken install the way it always has
    finally:
        del sys.modules["sklearn"]


def _announce(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


def main() -> int:
    """The child: serve until stdin closes (the parent stopped it, or died)."""
    config = EndpointConfig.from_env(os.environ.pop(CONFIG_ENV))
    import_lightgbm_lean(config.model_dir)
    try:
        endpoint = EmbeddedEndpoint(config).start()
    except ModelLoadError as exc:
        _announce({"error": str(exc), "kind": "ModelLoadError"})
        return 1
    except Exception as exc:  # noqa: BLE001  # the parent turns it into one clear line
        _announce({"error": f"{type(exc).__name__}: {exc}", "kind": type(exc).__name__})
        return 1
    model = endpoint.app.model
    _announce({"port": endpoint.port, "model": model.name, "version": model.version})
    try:
        while sys.stdin.buffer.read(65_536):
            pass  # nothing is sent on stdin; it only ever closes
    except (OSError, KeyboardInterrupt):
        pass
    endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
