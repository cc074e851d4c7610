"""What a `pip install bankscore` user pays: install size and start-up time, side by side in one run.

    uv run python benchmarks/bench_install.py [--runs 5] [--python 3.11] [--no-all-too] [--pytest] [--keep]

1. A fresh venv (`uv venv`, --python) with `uv pip install <repo>` and no extras: the size of its
   site-packages (the sum of file sizes, as `du -sh --apparent-size` adds them), its ten biggest distributions,
   and the size once the files are byte-compiled as pip does when it installs. Target ≤ 150 MB.
   With --all-too (the default), a second venv with `bankscore[all]` for contrast.
2. `python -c "import bankscore"` ÷ `python -c "import httpx, pydantic"` (what the SDK is built on),
   and `from bankscore import ScoringClient` ÷ the same: the clients load lazily, so the second is
   what a program that scores pays. Target ≤ 1.5×.
3. `bankscore --version` ÷ `python -c "import typer"` (what the CLI is built on). Target ≤ 2.5×.
   `bankscore --help` for information.
4. Which heavy modules each of those loads, and how many modules in all.
5. With --pytest, the wall time of `uv run pytest -q` (the whole suite, about 5 minutes).
2-4 run in the core venv (what a user has) and in the project's venv (this interpreter), from
compiled modules as an installed package runs (cached in the temporary directory through
PYTHONPYCACHEPREFIX, even where PYTHONDONTWRITEBYTECODE is set). Each timing is the minimum of
--runs fresh processes after one warm-up, the commands of both venvs taking turns, so drift hits
all of them alike. About 1-2 minutes on 2 cores once uv's cache holds the wheels. The
exit code is 0 whether the targets are met or not (this is a report), 1 when a command fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from _common import REPO_ROOT, BenchError, bankscore_cli, raise_on_sigterm

TARGET_CORE_MB: Final = 150.0
TARGET_IMPORT_RATIO: Final = 1.5
TARGET_CLI_RATIO: Final = 2.5
HEAVY: Final = (
    "pandas",
    "numpy",
    "pyarrow",
    "lightgbm",
    "sklearn",
    "uvicorn",
    "typer",
    "click",  # httpx imports its own CLI (click, rich, pygments) whenever click is installed
    "rich",
    "httpx",
    "pydantic",
)
INSTALL_TIMEOUT_S: Final = 900
MB: Final = 1_000_000
MIB: Final = 1024 * 1024

# Run by each venv's python: the bytes of every distribution's RECORD files inside site-packages.
DIST_SIZES: Final = """
import importlib.metadata as md, json, os, sys, sysconfig
root = os.path.realpath(sysconfig.get_paths()["purelib"])
sizes = {}
for dist in md.distributions():
    total = 0
    for entry in dist.files or ():
        path = os.path.realpath(dist.locate_file(entry))
        if path.startswith(root + os.sep) and os.path.isfile(path):
            total += os.lstat(path).st_size
    sizes[f"{dist.metadata['Name']} {dist.version}"] = total
print(json.dumps({"site_packages": root, "sizes": sizes}))
"""

# Run by each venv's python: do one thing, then report which heavy modules it loaded (last stdout line).
LOADED: Final = """
import json, sys
action, watched = sys.argv[1], sys.argv[2].split(",")
if action == "import":
    import bankscore
elif action == "client":
    from bankscore import ScoringClient
else:
    sys.argv = ["bankscore", action]
    from bankscore.cli import main
    try:
        main()
    except SystemExit:
        pass
heavy = [name for name in watched if name in sys.modules]
print("\\nLOADED " + json.dumps({"heavy": heavy, "count": len(sys.modules)}))
"""


@dataclass(frozen=True)
class Venv:
    name: str
    python: Path
    cli: Path


@dataclass(frozen=True)
class Install:
    label: str
    site_packages: Path
    installed_bytes: int
    compiled_bytes: int
    distributions: dict[str, int]


def child_env(pycache: Path | None = None) -> dict[str, str]:
    """The environment for what we start: no active venv, no extra import path, so each venv stands alone.

    With `pycache`, compiled modules are written and read there (PYTHONPYCACHEPREFIX), even where
    PYTHONDONTWRITEBYTECODE is set: an installed package runs from bytecode, and without it every start
    would compile every module again and time the compiler.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["UV_NO_PROGRESS"] = "1"
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run(command: Sequence[str], cwd: Path, timeout: float = 120, pycache: Path | None = None) -> str:
    done = subprocess.run(
        list(command), cwd=cwd, env=child_env(pycache), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"`{shlex.join(command)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def tree_bytes(root: Path) -> int:
    """Sum of the sizes of the files under `root`, symlinks not followed (what `du -sh --apparent-size` adds)."""
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            total += os.lstat(os.path.join(directory, name)).st_size
    return total


def make_venv(uv: str, path: Path, name: str, python: str, spec: str, label: str) -> tuple[Venv, Install]:
    """A fresh venv holding `spec` alone, installed as a user would (latest versions, not the lock file)."""
    work = path.parent
    run([uv, "venv", "--quiet", "--python", python, str(path)], cwd=work)
    interpreter = path / "bin" / "python"
    started = time.perf_counter()
    run(
        [uv, "pip", "install", "--quiet", "--python", str(interpreter), spec],
        cwd=work,
        timeout=INSTALL_TIMEOUT_S,
    )
    print(f"  {name}: `uv pip install {spec}` in {time.perf_counter() - started:.0f} s", flush=True)
    report = json.loads(run([str(interpreter), "-c", DIST_SIZES], cwd=work))
    site_packages = Path(report["site_packages"])
    installed = tree_bytes(site_packages)
    # pip byte-compiles what it installs (uv does not, by default): that is the size a pip user sees.
    run([str(interpreter), "-m", "compileall", "-q", "-j", "0", str(site_packages)], cwd=work, timeout=900)
    compiled = tree_bytes(site_packages)
    venv = Venv(name, interpreter, path / "bin" / "bankscore")
    return venv, Install(label, site_packages, installed, compiled, report["sizes"])


def min_times(commands: dict[str, list[str]], runs: int, cwd: Path, pycache: Path) -> dict[str, float]:
    """Minimum wall time of `runs` fresh processes per command, after one warm-up each, taking turns."""
    for command in commands.values():
        run(command, cwd, pycache=pycache)  # warm-up: page cache, and the bytecode of every module it imports
    best = dict.fromkeys(commands, float("inf"))
    env = child_env(pycache)
    for _ in range(runs):
        for label, command in commands.items():
            started = time.perf_counter()
            done = subprocess.run(
                command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
            )
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                raise BenchError(f"`{shlex.join(command)}` exited {done.returncode}")
            best[label] = min(best[label], elapsed)
    return best


def loaded_modules(venv: Venv, action: str, cwd: Path, pycache: Path) -> tuple[list[str], int]:
    output = run([str(venv.python), "-c", LOADED, action, ",".join(HEAVY)], cwd, pycache=pycache)
    line = next(x for x in reversed(output.splitlines()) if x.startswith("LOADED "))
    report = json.loads(line.removeprefix("LOADED "))
    return report["heavy"], report["count"]


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  " + "  ".join(cells).rstrip())


def report_sizes(core: Install, full: Install | None) -> None:
    print("\n1. site-packages size (sum of file sizes; MB = 10^6 bytes)")
    rows = []
    for install in (core, full):
        if install is None:
            continue
        rows.append(
            [
                install.label,
                f"{install.installed_bytes / MB:.1f} MB ({install.installed_bytes / MIB:.1f} MiB)",
                f"{install.compiled_bytes / MB:.1f} MB",
                str(len(install.distributions)),
            ]
        )
    print_table(["install", "as uv installs it", "byte-compiled (as pip)", "distributions"], rows)
    core_mb = core.installed_bytes / MB
    passed = "PASS" if core_mb <= TARGET_CORE_MB else "FAIL"
    print(f"  core install: {core_mb:.1f} MB, target ≤ {TARGET_CORE_MB:g} MB {passed}")
    if full is not None:
        print(f"  bankscore[all] ÷ core: {full.installed_bytes / core.installed_bytes:.1f}×")
    print("  the core install's 10 biggest distributions (files in each RECORD):")
    biggest = sorted(core.distributions.items(), key=lambda item: item[1], reverse=True)[:10]
    print_table(
        ["distribution", "MB", "share"],
        [[name, f"{size / MB:.1f}", f"{size / core.installed_bytes:.0%}"] for name, size in biggest],
    )


def report_startup(venvs: Sequence[Venv], runs: int, cwd: Path, pycache: Path) -> None:
    """Figures 2 and 3, for each venv; one round runs every command of every venv, so load hits all alike."""
    commands: dict[str, list[str]] = {}
    for venv in venvs:
        python, cli = str(venv.python), str(venv.cli)
        mine = {
            "import httpx, pydantic": [python, "-c", "import httpx, pydantic"],
            "import bankscore": [python, "-c", "import bankscore"],
            "from bankscore import ScoringClient": [python, "-c", "from bankscore import ScoringClient"],
            "import typer": [python, "-c", "import typer"],
            "bankscore --version": [cli, "--version"],
            "bankscore --help": [cli, "--help"],
            "python -c pass": [python, "-c", "pass"],
        }
        commands.update({f"{venv.name}\t{label}": command for label, command in mine.items()})
    print(f"  timing {len(commands)} commands, {runs} runs each...", flush=True)
    measured = min_times(commands, runs, cwd, pycache)
    timings: dict[str, dict[str, float]] = {venv.name: {} for venv in venvs}
    for key, seconds in measured.items():
        name, label = key.split("\t")
        timings[name][label] = seconds

    print(f"\n2-3. start-up, minimum of {runs} fresh processes after one warm-up, interleaved (ms; ratio)")
    baselines = {
        "import bankscore": ("import httpx, pydantic", TARGET_IMPORT_RATIO),
        "from bankscore import ScoringClient": ("import httpx, pydantic", None),
        "bankscore --version": ("import typer", TARGET_CLI_RATIO),
        "bankscore --help": ("import typer", None),
    }
    labels = list(next(iter(timings.values())))
    rows = []
    for label in labels:
        row = [label]
        for venv in venvs:
            seconds = timings[venv.name][label]
            cell = f"{seconds * 1000:.0f}"
            if label in baselines:
                base, target = baselines[label]
                ratio = seconds / timings[venv.name][base]
                cell += f"  {ratio:.2f}×" + (f" {'PASS' if ratio <= target else 'FAIL'}" if target else "")
            row.append(cell)
        rows.append(row)
    print_table(["command", *(v.name for v in venvs)], rows)
    print(
        f"  ratios: import bankscore ÷ import httpx, pydantic (target ≤ {TARGET_IMPORT_RATIO}×); "
        f"from bankscore import ScoringClient ÷ the same; bankscore --version and --help ÷ import typer "
        f"(target ≤ {TARGET_CLI_RATIO}× for --version)"
    )


def report_modules(venvs: Sequence[Venv], cwd: Path, pycache: Path) -> None:
    print(f"\n4. heavy modules loaded (of {', '.join(HEAVY)}), and modules in sys.modules")
    actions = {
        "import bankscore": "import",
        "from bankscore import ScoringClient": "client",
        "bankscore --version": "--version",
        "bankscore --help": "--help",
    }
    rows = []
    for label, action in actions.items():
        row = [label]
        for venv in venvs:
            heavy, count = loaded_modules(venv, action, cwd, pycache)
            row.append(f"{', '.join(heavy) or 'none'} ({count})")
        rows.append(row)
    print_table(["what runs", *(v.name for v in venvs)], rows)


def report_pytest(uv: str) -> None:
    command = [uv, "run", "pytest", "-q"]
    print("\n5. `uv run pytest -q` (the whole suite)...", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    summary = next((x for x in reversed(done.stdout.splitlines()) if x.strip()), "")
    print(f"  {elapsed:.0f} s wall, exit {done.returncode}: {summary}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed processes per command (default 5)")
    parser.add_argument("--python", default="3.11", help="interpreter request for `uv venv` (default 3.11)")
    parser.add_argument(
        "--all-too",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also install bankscore[all] in a venv of its own, for contrast (default on)",
    )
    parser.add_argument("--pytest", action="store_true", help="also time `uv run pytest -q` (about 5 minutes)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary venvs and print where they are")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    uv = shutil.which("uv")
    if uv is None:
        print("uv not found: `python3 -m pip install uv`", file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        print(f"fresh venvs in {work} (Python {args.python}); project venv {sys.executable}", flush=True)
        core_venv, core = make_venv(uv, work / "core", "core venv", args.python, str(REPO_ROOT), "bankscore (core)")
        full = None
        if args.all_too:
            _, full = make_venv(
                uv, work / "all", "all venv", args.python, f"bankscore[all] @ {REPO_ROOT.as_uri()}", "bankscore[all]"
            )
        project = Venv("project venv", Path(sys.executable), Path(bankscore_cli()))
        version = run([str(core_venv.cli), "--version"], work).strip()
        print(f"  {version}; core venv {run([str(core_venv.python), '-V'], work).strip()}")

        report_sizes(core, full)
        pycache = work / "pycache"  # one prefix for both venvs: their paths differ, so do their entries
        report_startup([core_venv, project], args.runs, work, pycache)
        report_modules([core_venv, project], work, pycache)
        if args.pytest:
            report_pytest(uv)
        print(f"\nreproduce: uv run python benchmarks/bench_install.py --runs {args.runs} --python {args.python}")
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
