"""Run Microsoft's Azure ML inference server (azureml-inference-server-http) as a local peer.

The server is Flask on gunicorn sync workers. It pins pydantic~=2.12, flask~=3.1 and
opentelemetry==1.33, so it lives in its own virtual environment (`<repo>/.venv-azureml`),
never in the project's `.venv`. Its CLI `azmlinfsrv` always binds 0.0.0.0, so we start
gunicorn ourselves on 127.0.0.1 with the same settings the CLI would pass.

    python = ensure_venv()
    with AzureMLPeer(model_dir, "B") as peer:
        requests.post(peer.scoring_uri, json={"Inputs": {"data": rows}})

Run this file to serve a peer by hand (benchmarks) or to refresh the swagger fixtures:

    uv run python tests/support/azureml_peer/peer.py serve --model-dir DIR --generation B
    uv run python tests/support/azureml_peer/peer.py fixtures --model-dir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self, get_args

HERE: Final = Path(__file__).resolve().parent
REPO_ROOT: Final = HERE.parents[2]
FIXTURES: Final = HERE / "fixtures"

VENV_NAME: Final = ".venv-azureml"
PYTHON_VERSION: Final = "3.11"
SERVER_VERSION: Final = "1.5.1"
PEER_PACKAGES: Final = (
    f"azureml-inference-server-http=={SERVER_VERSION}",
    "gunicorn",
    "lightgbm",
    "pandas",
    "numpy",
    "scikit-learn",
)
# The server pins these itself; bankscore's lock holds newer ones, so they are not constrained.
_SERVER_PINNED: Final = frozenset({"pydantic", "pydantic-core"})
_STAMP: Final = ".bankscore-peer.json"
_INSTALL_TIMEOUT_S: Final = 1800

Generation = Literal["A", "A'", "B", "MLflow", "explain"]
GENERATIONS: Final[tuple[Generation, ...]] = get_args(Generation)
SCORE_SCRIPTS: Final[Mapping[Generation, Path]] = {
    "A": HERE / "score_gen_a.py",
    "A'": HERE / "score_gen_a.py",
    "B": HERE / "score_gen_b.py",
    "MLflow": HERE / "score_mlflow.py",
    "explain": HERE / "score_explain.py",  # AutoML v1's explainer deployment: no schema decorators
}
# score_gen_a.py reads this to switch to the 2021 shape with a top-level "method" (gen A').
GEN_A_METHOD_ENV: Final = "BANKSCORE_PEER_GEN_A_METHOD"

_verified: dict[Path, Path] = {}
# The peer is on loopback: never send its probes through an HTTP(S)_PROXY from the environment.
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PeerError(RuntimeError):
    """The peer's environment could not be built or its server did not come up."""


def _log(message: str) -> None:
    print(f"[azureml-peer] {message}", file=sys.stderr, flush=True)


def _uv() -> str:
    # `uv run` exports UV pointing at itself; otherwise take the one on PATH.
    uv = os.environ.get("UV") or shutil.which("uv")
    if not uv:
        raise PeerError("uv is not on PATH; it is needed to build the Azure ML peer's virtual environment")
    return uv


def _run(cmd: list[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise builds across processes: pytest sessions and benchmarks may start at once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_path(venv: Path) -> Path:
    # Not inside the venv (it may be deleted and rebuilt) nor in the repo (it is not ignored there).
    digest = hashlib.sha256(str(venv).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"bankscore-azureml-peer-{digest}.lock"


def _stamp(root: Path) -> dict[str, object]:
    """What the venv was built from; a change (new project dependency) triggers a reinstall."""

    def sha(name: str) -> str | None:
        path = root / name
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    return {
        "python": PYTHON_VERSION,
        "packages": list(PEER_PACKAGES),
        "pyproject.toml": sha("pyproject.toml"),
        "uv.lock": sha("uv.lock"),
    }


def _read_stamp(venv: Path) -> object:
    try:
        return json.loads((venv / _STAMP).read_text())
    except (OSError, ValueError):
        return None


def _venv_works(python: Path, root: Path) -> bool:
    """True when the server, the score scripts' imports and this repo's bankscore all import."""
    if not python.is_file():
        return False
    probe = (
        "import importlib.metadata as m, pathlib, azureml_inference_server_http, gunicorn, "
        "inference_schema, lightgbm, pandas, numpy, bankscore.server.model, bankscore.bankmarketing.schema;"
        f"assert m.version('azureml-inference-server-http') == {SERVER_VERSION!r};"
        "print(pathlib.Path(bankscore.__file__).resolve().parent)"
    )
    try:
        done = _run([str(python), "-c", probe])
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and Path(done.stdout.strip()) == root / "bankscore"


def _lock_constraints(root: Path, dest: Path) -> Path | None:
    """bankscore's locked versions as pip constraints, so the peer scores with the same libraries."""
    if not (root / "uv.lock").is_file():
        return None
    cmd = [
        _uv(),
        "export",
        "--frozen",
        "--no-dev",
        "--extra",
        "server",
        "--no-hashes",
        "--no-emit-project",
        "--no-header",
    ]
    done = _run([*cmd, "--no-annotate"], cwd=root)
    if done.returncode != 0:
        _log(f"uv export failed, installing without the lock's versions:\n{done.stderr.strip()}")
        return None
    kept = []
    for line in done.stdout.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)", line.strip())
        if match and re.sub(r"[-_.]+", "-", match.group(1)).lower() not in _SERVER_PINNED:
            kept.append(line)
    dest.write_text("\n".join(kept) + "\n")
    return dest


def _install(uv: str, python: Path, root: Path) -> None:
    base = [
        uv,
        "pip",
        "install",
        "--compile-bytecode",
        "--python",
        str(python),
        *PEER_PACKAGES,
        "-e",
        f"{root}[server]",
    ]
    with tempfile.TemporaryDirectory(prefix="azureml-peer-") as tmp:
        constraints = _lock_constraints(root, Path(tmp) / "constraints.txt")
        if constraints is not None:
            _log("installing azureml-inference-server-http, gunicorn and bankscore (lock's versions) ...")
            done = _run([*base, "--constraint", str(constraints)], cwd=root)
            if done.returncode == 0:
                return
            _log(f"the lock's versions clash with the server's pins, resolving freely:\n{done.stderr.strip()}")
        else:
            _log("installing azureml-inference-server-http, gunicorn and bankscore ...")
        done = _run(base, cwd=root)
        if done.returncode != 0:
            raise PeerError(
                "could not install the Azure ML inference server next to bankscore "
                f"(`{' '.join(base)}` exited {done.returncode}):\n{done.stderr.strip()}"
            )


def ensure_venv(root: Path | None = None) -> Path:
    """Build (once) the server's own venv at `<root>/.venv-azureml` and return its python.

    Reused while it imports and was built from the same pyproject.toml and uv.lock; otherwise
    the packages are (re)installed. A file lock makes concurrent callers wait for one build.
    """
    root = (root or REPO_ROOT).resolve()
    if root in _verified:
        return _verified[root]
    venv = root / VENV_NAME
    python = venv / "bin" / "python"
    with _file_lock(_lock_path(venv)):
        stamp = _stamp(root)
        if _read_stamp(venv) == stamp and _venv_works(python, root):
            _verified[root] = python
            return python
        started = time.monotonic()
        uv = _uv()
        if not python.is_file() or _run([str(python), "-c", "pass"]).returncode != 0:
            if venv.exists():
                _log(f"removing broken {venv}")
                shutil.rmtree(venv)
            _log(f"creating {venv} (Python {PYTHON_VERSION})")
            done = _run([uv, "venv", "--python", PYTHON_VERSION, str(venv)], cwd=root)
            if done.returncode != 0:
                raise PeerError(f"uv venv --python {PYTHON_VERSION} {venv} failed:\n{done.stderr.strip()}")
        (venv / _STAMP).unlink(missing_ok=True)
        _install(uv, python, root)
        if not _venv_works(python, root):
            raise PeerError(f"{venv} was built but the server or bankscore does not import in it")
        (venv / _STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
        _log(f"{venv} ready in {time.monotonic() - started:.1f}s")
    _verified[root] = python
    return python


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the peer retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@functools.cache
def _gunicorn_has_control_socket(python: Path) -> bool:
    # gunicorn 25+ opens ~/.gunicorn/gunicorn.ctl, shared by every instance; ours opt out.
    lib = python.parent.parent / "lib"
    configs = lib.glob("python3*/site-packages/gunicorn/config.py")
    return any("no-control-socket" in path.read_text() for path in configs)


def _die_with_parent() -> None:
    """Runs in the child before exec: if whoever started the peer dies, the master gets SIGTERM.

    The server runs in its own session (so a terminal's Ctrl-C reaches only us, and we stop it
    in order), which would otherwise leave it running after a crashed or killed test run.
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return text if len(text) <= limit else "...\n" + text[-limit:]


class AzureMLPeer:
    """One azureml-inference-server-http serving a bankscore model on 127.0.0.1.

    generation picks the AutoML score script: "A" (2020-21: {"data": rows} in, a JSON string
    {"result": [...]} out, errors as HTTP 200), "A'" (A plus a top-level "method") or "B"
    (2022+: {"Inputs": {"data": rows}, "GlobalParameters": {"method": ...}} in, {"Results": [...]}).
    The server's output (gunicorn, access log, score script) goes to `log_path`.
    """

    def __init__(
        self,
        model_dir: Path | str,
        generation: Generation,
        port: int | None = None,
        workers: int = 1,
        *,
        startup_timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
        root: Path | None = None,
    ) -> None:
        if generation not in SCORE_SCRIPTS:
            raise ValueError(f"generation must be one of {GENERATIONS}, not {generation!r}")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.model_dir = Path(model_dir).resolve()
        self.generation: Generation = generation
        self.workers = workers
        self.startup_timeout = startup_timeout
        self.script = SCORE_SCRIPTS[generation]
        self._requested_port = port
        self._extra_env = dict(env or {})
        self._root = root
        self._process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.log_path: Path | None = None

    # ------------------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise PeerError("the peer is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}"

    @property
    def scoring_uri(self) -> str:
        return f"{self.base_url}/score"

    @property
    def swagger_uri(self) -> str:
        return f"{self.base_url}/swagger.json"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def log_text(self) -> str:
        """Everything the server printed so far (gunicorn, access log, the score script)."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    # ------------------------------------------------------------------------------ lifecycle

    def _environment(self) -> dict[str, str]:
        # Drop inherited AML settings and the project's venv so the server sees only ours.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AML_", "AZUREML_")) and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
        }
        env.update(
            AZUREML_ENTRY_SCRIPT=str(self.script),
            AZUREML_MODEL_DIR=str(self.model_dir),
            AML_APP_ROOT=str(self.script.parent),
            # What `azmlinfsrv` sets before starting gunicorn: the version header and no telemetry.
            HTTP_X_MS_SERVER_VERSION=f"azmlinfsrv/{SERVER_VERSION}",
            AML_APP_INSIGHTS_ENABLED="false",
            PYTHONUNBUFFERED="1",
        )
        if self.generation == "A'":
            env[GEN_A_METHOD_ENV] = "1"
        env.update(self._extra_env)
        return env

    def _command(self, python: Path, port: int) -> list[str]:
        # The CLI's gunicorn arguments (amlserver_linux.py), bound to loopback instead of 0.0.0.0.
        cmd = [str(python), "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", str(self.workers)]
        cmd += ["--timeout", "300", "--access-logfile", "-"]
        if _gunicorn_has_control_socket(python):
            cmd.append("--no-control-socket")
        cmd.append("azureml_inference_server_http.server.entry:app")
        return cmd

    def start(self) -> Self:
        """Start gunicorn and wait until GET / answers "Healthy"."""
        if self._process is not None:
            raise PeerError("the peer is already running")
        if not self.model_dir.is_dir():
            raise PeerError(f"model directory {self.model_dir} does not exist")
        python = ensure_venv(self._root)
        attempts = 1 if self._requested_port else 3
        for attempt in range(attempts):
            port = self._requested_port or free_port()
            fd, name = tempfile.mkstemp(prefix=f"azureml-peer-gen{self.generation[0]}-", suffix=".log")
            self.log_path = Path(name)
            with os.fdopen(fd, "wb") as log:
                self._process = subprocess.Popen(
                    self._command(python, port),
                    cwd=self.script.parent,
                    env=self._environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            self.port = port
            try:
                self._wait_healthy()
            except PeerError:
                in_use = "Address already in use" in self.log_text()
                self.stop()
                if not (in_use and attempt + 1 < attempts):
                    raise
                _log(f"port {port} was taken, retrying on another")
                continue
            except BaseException:  # Ctrl-C while waiting: never leave a server behind
                self.stop()
                raise
            return self
        raise AssertionError("unreachable")

    def _wait_healthy(self) -> None:
        assert self._process is not None
        assert self.log_path is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise PeerError(
                    f"azureml-inference-server-http (gen {self.generation}) exited with {code} "
                    f"before it was healthy; its log {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                with _LOOPBACK.open(f"{self.base_url}/", timeout=2) as response:
                    if response.status == 200 and response.read() == b"Healthy":
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PeerError(
                    f"azureml-inference-server-http (gen {self.generation}) was not healthy within "
                    f"{self.startup_timeout:.0f}s; its log {self.log_path}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.2)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the gunicorn master (it stops its workers), SIGKILL its group after `grace` s."""
        process, self._process = self._process, None
        self.port = None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                # The master started its own session, so its group is exactly it and its workers.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------------- fixtures


def fetch_json(url: str) -> object:
    """GET a JSON document from a peer with the stdlib, so this module needs nothing installed."""
    with _LOOPBACK.open(url, timeout=30) as response:
        return json.loads(response.read())


FIXTURE_DOCUMENTS: Final[tuple[tuple[Generation, str, str], ...]] = (
    ("B", "", "swagger_gen_b.json"),
    ("A", "", "swagger_gen_a.json"),
    ("B", "3.1", "openapi31_gen_b.json"),
    ("MLflow", "3", "openapi3_mlflow.json"),
)
"""(generation, ?version=, file): the documents each server serves, saved for offline tests."""


def write_swagger_fixtures(model_dir: Path, dest: Path = FIXTURES) -> list[Path]:
    """Save the swagger.json each generation's server serves (version 2, and the OpenAPI 3 forms)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for generation in dict.fromkeys(g for g, _, _ in FIXTURE_DOCUMENTS):
        with AzureMLPeer(model_dir, generation) as peer:
            for _, version, name in (f for f in FIXTURE_DOCUMENTS if f[0] == generation):
                query = f"?version={version}" if version else ""
                path = dest / name
                path.write_text(json.dumps(fetch_json(peer.swagger_uri + query), indent=2) + "\n")
                written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("venv", help="build or check the server's virtual environment")
    serve = sub.add_parser("serve", help="serve a model until interrupted")
    serve.add_argument("--model-dir", type=Path, required=True)
    serve.add_argument("--generation", choices=GENERATIONS, default="B")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    fixtures = sub.add_parser("fixtures", help="rewrite the swagger and OpenAPI documents in fixtures/")
    fixtures.add_argument("--model-dir", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "venv":
        print(ensure_venv())
    elif args.command == "serve":
        # Stop cleanly on Ctrl-C and on kill (SIGINT is ignored in background jobs of scripts).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.default_int_handler)
        with AzureMLPeer(args.model_dir, args.generation, args.port, args.workers) as peer:
            print(f"gen {peer.generation} serving {peer.scoring_uri} (log: {peer.log_path})", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while peer._process is not None and peer._process.poll() is None:
                    time.sleep(0.5)
    else:
        for path in write_swagger_fixtures(args.model_dir):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
