"""Tables in and out of files — CSV, Parquet, XLSX, JSONL by extension — written atomically.

Output goes to a temporary file beside the target and is renamed over it only when complete,
so a failed or interrupted run never leaves a half-written file where the user expects results.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

import orjson
import pandas as pd
from pandas.api.types import is_numeric_dtype

from ._exceptions import BankscoreError

FORMATS: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".jsonl": "jsonl"}


class FileFormatError(BankscoreError, ValueError):
    """A file we can't read or write: unknown extension, bad encoding, malformed content."""


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise FileFormatError(f"{path.name}: unknown file type {path.suffix or '(none)'}; use one of {known}")
    return fmt


def read_table(path: Path, *, types: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a table, typed by the contract where given.

    Text columns stay text (so '001' stays '001'). A number column with one bad cell would come
    back as all text; its numbers are restored, so only the bad cell is reported later.
    """
    fmt = file_format(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    types = types or {}
    dtype = {name: "object" for name, kind in types.items() if kind == "string"}
    try:
        if fmt == "csv":
            frame = pd.read_csv(path, dtype=dtype, encoding="utf-8", na_values=[""], keep_default_na=False)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        elif fmt == "xlsx":
            frame = pd.read_excel(path, dtype=dtype, engine="openpyxl")
        else:
            frame = _read_jsonl(path)
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{path.name} is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise FileFormatError(f"{path.name} is empty: expected a header row and data rows") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise FileFormatError(f"{path.name} can't be read as {fmt}: {_first_line(exc)}") from None
    if frame.empty:
        raise FileFormatError(f"{path.name} has no data rows")
    for name, kind in types.items():
        if kind in ("int64", "double") and name in frame.columns and not is_numeric_dtype(frame[name]):
            numbers = pd.to_numeric(frame[name], errors="coerce")
            parsed = numbers.notna()
            frame[name] = frame[name].astype(object).where(~parsed, numbers.astype(object))
    return frame


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise FileFormatError(f"{path.name} line {number} is not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise FileFormatError(f"{path.name} line {number} is not a JSON object")
            records.append(record)
    return pd.DataFrame.from_records(records)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it over `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_table(frame: pd.DataFrame, target: Path) -> None:
    fmt = file_format(target)
    with atomic_path(target) as temporary:
        if fmt == "csv":
            _write_csv(frame, temporary)
        elif fmt == "parquet":
            frame.to_parquet(temporary, index=False)
        elif fmt == "xlsx":
            frame.to_excel(temporary, index=False, engine="openpyxl")
        else:
            with temporary.open("wb") as handle:
                names = [str(c) for c in frame.columns]
                for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True):
                    record = {
                        k: (None if isinstance(v, float) and v != v else v) for k, v in zip(names, values, strict=True)
                    }
                    handle.write(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Arrow's CSV writer is about 5× pandas'; mixed-type object columns it can't type fall back to pandas."""
    import pyarrow as pa
    from pyarrow import csv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        frame.to_csv(path, index=False)
        return
    plain_header = not any(set(str(c)) & set(',"\r\n') for c in frame.columns)
    options = csv.WriteOptions(quoting_style="needed", quoting_header="none" if plain_header else "needed")
    csv.write_csv(table, path, options)
