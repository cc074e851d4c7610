"""Tables in and out of files — CSV, Parquet, XLSX, JSONL by extension — written atomically.

Output goes to a temporary file beside the target and is renamed over it only when complete,
so a failed or interrupted run never leaves a half-written file where the user expects results.
CSV and JSONL need only the core install; Parquet needs pyarrow and XLSX openpyxl (`bankscore[files]`),
imported when such a file is first read or written. With pyarrow present, CSV is written by Arrow
(about 5× pandas).
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import orjson
import pandas as pd
from pandas.api.types import is_numeric_dtype

from .._atomic import atomic_path
from .._exceptions import FileFormatError
from .._extras import installed, require
from ..validation import as_plain

DEFAULT_CHUNK_ROWS: Final = 50_000
FORMATS: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".jsonl": "jsonl"}


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise FileFormatError(f"{path.name}: unknown file type {path.suffix or '(none)'}; use one of {known}")
    return fmt


def read_table(path: Path, *, types: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a whole table, typed by the contract where given (see `iter_frames`)."""
    frames = list(iter_frames(path, types=types, chunk_rows=None))
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def iter_frames(
    path: Path, *, types: Mapping[str, str] | None = None, chunk_rows: int | None = DEFAULT_CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """Read a table in chunks of `chunk_rows` (None: all at once), so memory stays bounded.

    Each chunk is indexed by its rows' 0-based positions in the file, so errors name the same row
    whatever the chunk size. Text columns stay text (so '001' stays '001'). A number column with one
    bad cell comes back as text; its numbers are restored, so only the bad cell is reported later.
    XLSX is read whole (openpyxl has no cheap chunked reader) and then handed out in chunks.
    """
    fmt = file_format(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    types = types or {}
    seen = 0
    unreadable: tuple[type[BaseException], ...] = (
        pd.errors.ParserError,
        ValueError,
        OSError,
        zipfile.BadZipFile,
        *_reader_errors(fmt),
    )
    try:
        for frame in _raw_frames(path, fmt, types, chunk_rows):
            if frame.empty:
                continue
            frame.index = pd.RangeIndex(seen, seen + len(frame))
            seen += len(frame)
            yield restore_numbers(frame, types)
    except FileFormatError:
        raise
    except UnicodeDecodeError as exc:
        raise FileFormatError(
            f"{path.name} is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    except pd.errors.EmptyDataError:
        raise FileFormatError(f"{path.name} is empty: expected a header row and data rows") from None
    except unreadable as exc:
        raise FileFormatError(f"{path.name} can't be read as {fmt}: {_first_line(exc)}") from None
    if not seen:
        raise FileFormatError(f"{path.name} has no data rows")


def _raw_frames(path: Path, fmt: str, types: Mapping[str, str], chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    dtype = {name: "object" for name, kind in types.items() if kind == "string"}
    if fmt == "csv":
        _check_csv_header(path)
        options: dict[str, Any] = {"dtype": dtype, "encoding": "utf-8", "na_values": [""], "keep_default_na": False}
        if chunk_rows is None:
            yield pd.read_csv(path, **options)
        else:
            with pd.read_csv(path, chunksize=chunk_rows, **options) as reader:
                yield from reader
    elif fmt == "parquet":
        pq = _pyarrow("parquet", "Reading Parquet files")
        if chunk_rows is None:
            yield pd.read_parquet(path)
        else:
            with pq.ParquetFile(path) as parquet:
                for batch in parquet.iter_batches(batch_size=chunk_rows):
                    yield batch.to_pandas()
    elif fmt == "xlsx":
        require("openpyxl", "files", "Reading XLSX files")
        whole = pd.read_excel(path, dtype=dtype, engine="openpyxl")
        step = chunk_rows or max(len(whole), 1)
        for start in range(0, max(len(whole), 1), step):
            yield whole.iloc[start : start + step]
    else:
        yield from _read_jsonl(path, chunk_rows)


def _check_csv_header(path: Path) -> None:
    """pandas renames a repeated header (`age`, `age.1`) and one of the two would silently be ignored."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    seen: set[str] = set()
    for position, name in enumerate(header, 1):
        if name in seen:
            raise FileFormatError(
                f"{path.name}: the header {name!r} appears twice (again in column {position}); "
                "rename or remove one of them"
            )
        seen.add(name)


def restore_numbers(frame: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Number columns that arrived as text get their numbers back.

    A column that is all numbers becomes a number column (as if read as one); with one bad cell the
    others are restored and the bad cell stays text, so only it is reported. Text arrives from a
    file column with a bad cell, or from Dask, which turns object columns into strings.
    """
    for name, kind in types.items():
        if kind in ("int64", "double") and name in frame.columns and not is_numeric_dtype(frame[name]):
            try:
                frame[name] = pd.to_numeric(frame[name])
                continue
            except (ValueError, TypeError):
                pass
            # Cell by cell, by the SDK's rules: exact (no big int through a float), the bad cells left as they are.
            frame[name] = pd.Series(
                [as_plain(value, kind) for value in frame[name].tolist()], index=frame.index, dtype=object
            )
    return frame


def _read_jsonl(path: Path, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    records: list[dict[str, Any]] = []
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
            if chunk_rows is not None and len(records) >= chunk_rows:
                yield pd.DataFrame.from_records(records)
                records = []
    if records:
        yield pd.DataFrame.from_records(records)


def _pyarrow(submodule: str, feature: str) -> ModuleType:
    """pyarrow.<submodule>, or MissingDependencyError naming `bankscore[files]`."""
    require("pyarrow", "files", feature)
    return require(f"pyarrow.{submodule}", "files", feature)


def _reader_errors(fmt: str) -> tuple[type[BaseException], ...]:
    """The exception types of the readers this format uses, where installed (openpyxl only for XLSX: importing
    it costs a fifth of a second, every run)."""
    errors: list[type[BaseException]] = []
    if installed("pyarrow"):
        import pyarrow

        errors.append(pyarrow.ArrowException)
    if fmt == "xlsx" and installed("openpyxl"):
        from openpyxl.utils.exceptions import InvalidFileException

        errors.append(InvalidFileException)
    return tuple(errors)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def write_table(frame: pd.DataFrame, target: Path) -> None:
    with open_writer(target) as writer:
        writer.write(frame)


@contextlib.contextmanager
def open_writer(target: Path) -> Iterator[TableWriter]:
    """A writer that appends chunks to a temporary file, renamed over `target` only if the block succeeds."""
    fmt = file_format(target)
    with atomic_path(target) as temporary:
        writer = _WRITERS[fmt](temporary)
        try:
            yield writer
            writer.close()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.close()
            raise


class TableWriter:
    """Appends DataFrame chunks (same columns each time) to one file.

    `rows` is how many rows the file already holds (a resumed journal appends to it), so what a
    chunk's bytes are depends only on where the chunk is in the file, never on this process.
    """

    def __init__(self, path: Path, *, rows: int = 0) -> None:
        self.path = path
        self.rows = rows

    def write(self, frame: pd.DataFrame) -> None:
        self._write(frame)
        self.rows += len(frame)

    def _write(self, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file; called once, after the last chunk."""

    def sync(self) -> int:
        """Make what was written durable (flush + fsync); the file's length in bytes after it."""
        raise NotImplementedError(f"{type(self).__name__} writes its file whole at the end")


class _AppendingWriter(TableWriter):
    """A byte stream: opened for appending after `rows` rows, so a resumed journal continues the file."""

    def __init__(self, path: Path, *, rows: int = 0) -> None:
        super().__init__(path, rows=rows)
        self._handle = path.open("ab" if rows else "wb")

    def sync(self) -> int:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return os.fstat(self._handle.fileno()).st_size

    def close(self) -> None:
        self._handle.close()


class _CsvWriter(_AppendingWriter):
    """Arrow's CSV writer is about 5× pandas'; without pyarrow, or for mixed-type object columns it can't
    type, pandas writes the chunk."""

    def __init__(self, path: Path, *, rows: int = 0) -> None:
        super().__init__(path, rows=rows)
        self._arrow = installed("pyarrow")

    def _write(self, frame: pd.DataFrame) -> None:
        header = self.rows == 0
        if not self._arrow:
            self._handle.write(frame.to_csv(index=False, header=header, lineterminator="\n").encode())
            return
        import pyarrow as pa
        from pyarrow import csv

        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            self._handle.write(frame.to_csv(index=False, header=header, lineterminator="\n").encode())
            return
        plain_header = not any(set(str(c)) & set(',"\r\n') for c in frame.columns)
        options = csv.WriteOptions(
            include_header=header, quoting_style="needed", quoting_header="none" if plain_header else "needed"
        )
        csv.write_csv(table, self._handle, options)


class _JsonlWriter(_AppendingWriter):
    def _write(self, frame: pd.DataFrame) -> None:
        names = [str(c) for c in frame.columns]
        lines = []
        for values in zip(*(frame[c].tolist() for c in frame.columns), strict=True):
            record = {k: (None if isinstance(v, float) and v != v else v) for k, v in zip(names, values, strict=True)}
            lines.append(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))
        self._handle.write(b"\n".join(lines) + b"\n")


class _ParquetWriter(TableWriter):
    """One row group per chunk; the first chunk fixes the schema and later chunks are cast to it.

    `schema` is a schema fixed earlier (a journal's first part), for a file that continues that output.
    """

    def __init__(self, path: Path, *, rows: int = 0, schema: Any = None) -> None:
        super().__init__(path, rows=rows)
        _pyarrow("parquet", "Writing Parquet files")
        self._writer: Any = None
        self.schema: Any = schema

    def _write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.schema is None:
            # A column empty throughout the first chunk has no type yet: text takes whatever comes later.
            fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            self.schema = pa.schema(fields, metadata=table.schema.metadata)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        schema = self.schema
        if not table.schema.equals(schema, check_metadata=False):
            try:
                table = table.select(schema.names).cast(schema)
            except (pa.ArrowException, KeyError) as exc:
                raise FileFormatError(
                    f"a column changes type after row {self.rows:,} ({_first_line(exc)}); "
                    "write CSV or JSONL instead, or make the column's type the same throughout"
                ) from None
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _XlsxWriter(TableWriter):
    """Excel files are written whole (and hold at most 1,048,576 rows anyway)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        require("openpyxl", "files", "Writing XLSX files")
        self._frames: list[pd.DataFrame] = []

    def _write(self, frame: pd.DataFrame) -> None:
        self._frames.append(frame)

    def close(self) -> None:
        if self._frames:
            pd.concat(self._frames).to_excel(self.path, index=False, engine="openpyxl")


_WRITERS: Final[dict[str, type[TableWriter]]] = {
    "csv": _CsvWriter,
    "jsonl": _JsonlWriter,
    "parquet": _ParquetWriter,
    "xlsx": _XlsxWriter,
}
