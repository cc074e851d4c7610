"""What the benchmark scripts share: processes we start and stop, machine CPU, the model they measure."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
TRAIN_TIMEOUT_S: Final = 1800
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark cannot run (missing tool or script, server that does not start, wrong answers)."""


def die_with_parent() -> None:
    """In the child before exec: SIGTERM it if this script dies, so no server outlives a crash."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception so the `with` blocks stop what we started."""
    raise KeyboardInterrupt(f"signal {signum}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def busy_cpu_seconds() -> float:
    """CPU the whole machine spent outside idle and I/O wait, from /proc/stat (steal included)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bankscore_cli() -> str:
    """The project's console script next to the interpreter `uv run` picked."""
    candidate = Path(sys.executable).with_name("bankscore")
    found = str(candidate) if candidate.is_file() else shutil.which("bankscore")
    if not found:
        raise BenchError("the `bankscore` console script is not installed; run `uv sync` in the repository")
    return found


def ensure_model(model: Path | None, default: Path, data: Path | None = None) -> Path:
    """--model as given, else `default`, trained once (on `data` when given) if missing."""
    from bankscore.server.model import MODEL_FILE

    if model is not None:
        if not (model / MODEL_FILE).is_file():
            raise BenchError(f"{model} is not a model directory (no {MODEL_FILE}); train one with `bankscore train`")
        return model.resolve()
    if (default / MODEL_FILE).is_file():
        return default
    command = [bankscore_cli(), "train", "--out", str(default)]
    if data is not None:
        command += ["--data", str(data)]
    print(f"training the benchmark model: {shlex.join(command)}", flush=True)
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=TRAIN_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BenchError(f"training failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    print(f"trained in {time.monotonic() - started:.0f}s", flush=True)
    return default


def describe_model(model_dir: Path) -> str:
    try:
        document = json.loads((model_dir / "model.json").read_text())
        metrics = json.loads((model_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return str(model_dir)
    return (
        f"{model_dir} ({metrics.get('winner')}, version {document.get('version')}, "
        f"trained on {metrics.get('source')}, {metrics.get('rows')} rows)"
    )
