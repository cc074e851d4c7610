"""Write a file so that it appears whole or not at all: a temporary file beside it, renamed over it at the end.

A failed or interrupted run never leaves a half-written file where the user expects results. Plain
standard library, so the commands that only write a small file (codegen, the Excel template) stay light.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from ._exceptions import FileFormatError


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only if the block succeeds.

    The temporary file is created with the user's umask (as a plain open would), not mkstemp's 0600,
    so the finished file has the permissions the user expects.
    """
    writable_folder(target)
    for _ in range(100):
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part{target.suffix}")
        try:
            os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise unwritable(target, exc) from None
    else:
        raise FileExistsError(f"no free temporary name beside {target}")
    try:
        yield temporary
        replace_into_place(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def writable_folder(target: Path) -> None:
    """Create `target`'s folder if needed; a clear error (not a traceback) when it can't be made."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise unwritable(target, exc) from None


def unwritable(target: Path, exc: OSError) -> FileFormatError:
    """The error for an output that can't be written where asked, said before anything is scored."""
    reason = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(target) else ""
    return FileFormatError(
        f"can't write {target}: {reason}{where}; choose an output in a folder you can write to (-o PATH)"
    )


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable (POSIX; Windows has no handle on a folder to sync)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(finished: Path, target: Path, *, wait: float = 0.05) -> None:
    """os.replace, then the folder synced; a short hold on `target` (Windows, a virus scanner) is waited out."""
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            os.replace(finished, target)
            break
        except PermissionError:
            if attempt + 1 == REPLACE_ATTEMPTS:
                raise
            time.sleep(wait * (attempt + 1))
    fsync_folder(target.parent)


REPLACE_ATTEMPTS: Final = 5


def replace_into_place(finished: Path, target: Path, *, wait: float = 0.2) -> None:
    """Rename a finished file over `target`, as atomically as the platform allows.

    POSIX renames over a file that is open elsewhere; Windows refuses while another program holds it
    (Excel locks the workbooks and CSVs it has open; a virus scanner may hold a new file for a moment).
    A short hold is waited out; a lasting one keeps the finished output beside the target, under a name
    the error gives, so no scored row is lost.
    """
    for attempt in range(REPLACE_ATTEMPTS):
        try:
            os.replace(finished, target)
            return
        except PermissionError:
            if attempt + 1 < REPLACE_ATTEMPTS:
                time.sleep(wait * (attempt + 1))
    kept = target.with_name(f"{target.stem}.new{target.suffix}")
    os.replace(finished, kept)  # a name nobody has open: this rename is not refused
    raise FileFormatError(
        f"can't replace {target}: another program has it open (Excel locks the files it shows). "
        f"The finished output is in {kept}: close {target.name} and rename it, or score again."
    )
