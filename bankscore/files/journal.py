"""A journal beside the output, so a long scoring job never loses the chunks it has finished.

`OUT.partial/` holds the rows written so far and `manifest.json`: the input's fingerprint, the
options that change the output's bytes, and the chunks already written. A chunk counts only once
its bytes are fsync'd and the manifest naming it has replaced the previous one (fsync'd too), so
after a crash, a kill -9 or a Ctrl-C the next run with the same input and options continues after
the last chunk that counts, and the finished file is byte-identical to one written in one go.

CSV and JSONL append to `OUT.partial/data.csv` (cut back to the last chunk that counts on
resume), renamed over OUT at the end. Parquet writes each chunk as `part-NNNNNN.parquet` (a
Parquet file is unreadable until its footer is written), assembled into OUT at the end, one row
group per chunk, by fresh and resumed runs alike. XLSX is written whole at the end, not journaled.
No locks (fcntl) and only os.replace, so it works the same on Windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import orjson
import pandas as pd

from .._atomic import atomic_path, fsync_folder, replace_durably, replace_into_place, unwritable, writable_folder
from .._exceptions import FileFormatError
from ..contract import Contract
from .formats import _WRITERS, _ParquetWriter, file_format

VERSION: Final = 1
MANIFEST: Final = "manifest.json"
HEAD_BYTES: Final = 1 << 20  # the input's first MiB is hashed: a file edited in place changes it
JOURNALED: Final = frozenset({"csv", "jsonl", "parquet"})

# What each recorded option is called where a user sets it, for the refusal's words.
_OPTION_NAMES: Final = {
    "proba": "--proba (proba=)",
    "on_error": "--on-error (on_error=)",
    "chunk_rows": "--chunk-rows (chunk_rows=)",
    "format": "the output format",
    "engine": "--dask",
    "blocksize": "the Dask blocksize",
    "partitions": "the number of Dask partitions (another Dask version cuts the input differently)",
    "envelope": "the endpoint's request envelope",
    "contract_sha256": "the endpoint's contract (its columns, types, levels or classes)",
}


class JournalMismatch(FileFormatError):
    """A journal exists for this output but was started with another input or other options."""


class JobInterrupted(KeyboardInterrupt):
    """Ctrl-C while scoring into a journal: what is written is kept, and the same call resumes it."""

    def __init__(self, rows: int, journal: Path) -> None:
        self.rows = rows
        self.journal = journal
        super().__init__(f"interrupted: {rows:,} rows written are kept in {journal}")


@dataclass(frozen=True)
class Resumed:
    """What a resumed run found: rows and chunks already written, and the endpoint they came from."""

    rows: int
    chunks: int
    journal: Path
    endpoint_was: str | None = None  # set when the endpoint's address differs from this run's


def journal_path(target: Path) -> Path:
    return target.with_name(target.name + ".partial")


def fingerprint(source: Path) -> dict[str, Any]:
    """Path, size, modification time and a hash of the first MiB: cheap, and catches an edited or replaced file."""
    stat = source.stat()
    with source.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    return {"path": str(source.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


def output_options(contract: Contract, target: Path, **options: Any) -> dict[str, Any]:
    """The options that change the output's bytes (never a key): the caller's, the format, the contract."""
    columns = [[c.name, c.type, c.required, list(c.levels)] for c in contract.columns]
    document = {"envelope": contract.envelope, "columns": columns, "classes": list(contract.class_names() or ())}
    digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return {
        **options,
        "format": file_format(target),
        "envelope": contract.envelope,
        "contract_sha256": digest,
    }


def public_address(url: str) -> str:
    """The endpoint without credentials or query (a SAS token or code= would be a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class Journal:
    """The chunks of one output written so far; `write` appends one durably, `finish` puts OUT in place."""

    target: Path
    folder: Path
    manifest: dict[str, Any]
    resumed: Resumed | None = None
    _writer: Any = field(default=None, repr=False)
    _parquet_schema: Any = field(default=None, repr=False)

    # ---------------------------------------------------------------------------------------- opening

    @classmethod
    def open(
        cls, target: Path, *, source: Path, options: Mapping[str, Any], endpoint: str, resume: bool = True
    ) -> Journal:
        """Continue the journal of `target` when it matches `source` and `options`; else refuse, or start one.

        resume=False discards any journal first. A journal that does not match is never discarded
        silently: JournalMismatch names what changed.
        """
        fmt = file_format(target)
        if fmt not in JOURNALED:
            raise ValueError(f"{fmt} output is written whole, not journaled")
        folder = journal_path(target)
        writable_folder(target)
        manifest = {
            "bankscore_journal": VERSION,
            "output": target.name,
            "input": fingerprint(source),
            "options": dict(options),
            "endpoint": public_address(endpoint),
            "chunks": [],
        }
        if folder.exists() and not resume:
            shutil.rmtree(folder)
        if folder.exists():
            journal = cls(target, folder, cls._load(folder, target))
            journal._check(manifest)
            journal._recover()
            return journal
        try:
            folder.mkdir()
        except OSError as exc:
            raise unwritable(target, exc) from None
        fsync_folder(folder.parent)
        journal = cls(target, folder, manifest)
        journal._save()
        return journal

    @staticmethod
    def _load(folder: Path, target: Path) -> dict[str, Any]:
        try:
            manifest = orjson.loads((folder / MANIFEST).read_bytes())
            if not isinstance(manifest, dict) or not isinstance(manifest.get("chunks"), list):
                raise ValueError("not a journal manifest")
        except (OSError, ValueError) as exc:
            raise JournalMismatch(
                f"{folder} is not a journal bankscore can read ({exc}); "
                "start over with --restart (resume=False), which deletes it"
            ) from None
        return manifest

    def _check(self, wanted: Mapping[str, Any]) -> None:
        """Refuse to continue with another input or other options: the result would mix two jobs."""
        have = self.manifest
        restart = "; to start over (discarding it), add --restart (resume=False)"
        if have.get("bankscore_journal") != VERSION:
            raise JournalMismatch(
                f"{self.folder} was written by another bankscore version (journal format "
                f"{have.get('bankscore_journal')}, this one reads {VERSION}){restart}"
            )
        changed = [
            f"{name} {_shown(have['input'].get(name))} → {_shown(value)}"
            for name, value in wanted["input"].items()
            if have["input"].get(name) != value
        ]
        if changed:
            raise JournalMismatch(
                f"the input changed since {self.folder} was started ({', '.join(changed)}): "
                f"its {self.rows:,} rows written can't be continued{restart}"
            )
        options = wanted["options"]
        engines = have["options"].get("engine", "file"), options.get("engine", "file")
        if engines[0] != engines[1]:
            # Dask journals partitions, one process journals --chunk-rows chunks: the two can't be continued
            # by each other, so say that once rather than list every option the other engine records.
            started = "with --dask" if engines[0] == "dask" else "without --dask"
            this = "without" if engines[0] == "dask" else "with"
            raise JournalMismatch(
                f"{self.folder} was started {started} and this run is {this}: its {self.rows:,} rows are cut "
                f"into chunks the other can't continue; run the same command as before to resume{restart}"
            )
        differ = [
            f"{_OPTION_NAMES.get(name, name)} was {_shown(have['options'].get(name))}, now {_shown(value)}"
            for name, value in options.items()
            if have["options"].get(name) != value
        ]
        differ += [f"{_OPTION_NAMES.get(n, n)} was set" for n in have["options"] if n not in options]
        if differ:
            raise JournalMismatch(
                f"{self.folder} was started with other options ({'; '.join(differ)}): run the same command "
                f"as before to resume its {self.rows:,} rows{restart}"
            )
        was = have.get("endpoint")
        now = wanted["endpoint"]
        self.resumed = Resumed(self.rows, len(self.chunks), self.folder, was if was != now else None)
        self.manifest["endpoint"] = now

    def _recover(self) -> None:
        """Cut what a crash left after the last chunk that counts; check that every chunk that counts is there."""
        if self.streamed:
            data = self._data
            committed = self.chunks[-1]["bytes"] if self.chunks else 0
            if not data.exists() and not committed:
                return  # stopped before its first chunk was written
            size = data.stat().st_size if data.exists() else -1
            if size < committed:
                raise JournalMismatch(
                    f"{data} is shorter than its manifest says ({max(size, 0):,} of {committed:,} bytes): "
                    "the journal was damaged; start over with --restart (resume=False)"
                )
            with data.open("r+b") as handle:
                handle.truncate(committed)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            for chunk in self.chunks:
                part = self._part(chunk["index"])
                if not part.exists() or part.stat().st_size != chunk["bytes"]:
                    raise JournalMismatch(
                        f"{part} is missing or not the size its manifest says: the journal was damaged; "
                        "start over with --restart (resume=False)"
                    )

    # ---------------------------------------------------------------------------------------- state

    @property
    def chunks(self) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = self.manifest["chunks"]
        return chunks

    @property
    def rows(self) -> int:
        return sum(int(c["rows"]) for c in self.chunks)

    @property
    def failed(self) -> int:
        return sum(int(c["failed"]) for c in self.chunks)

    @property
    def streamed(self) -> bool:
        """CSV and JSONL: one file appended to; Parquet: one file per chunk."""
        return bool(self.manifest["options"]["format"] != "parquet")

    @property
    def _data(self) -> Path:
        return self.folder / f"data.{self.manifest['options']['format']}"

    def _part(self, index: int) -> Path:
        return self.folder / f"part-{index:06d}.parquet"

    def skip(self, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """The chunks of the input not written yet (those written are read again, and must be the same size)."""
        for index, frame in enumerate(frames):
            if index < len(self.chunks):
                if len(frame) != self.chunks[index]["rows"]:
                    raise JournalMismatch(
                        f"chunk {index} of the input has {len(frame):,} rows, but {self.folder} recorded "
                        f"{self.chunks[index]['rows']:,}; start over with --restart (resume=False)"
                    )
                continue
            yield frame

    # ---------------------------------------------------------------------------------------- writing

    def write(self, frame: pd.DataFrame) -> None:
        """Append one scored chunk; it counts once it is on disk and in the manifest (both fsync'd)."""
        index = len(self.chunks)
        fmt = self.manifest["options"]["format"]
        if self.streamed:
            if self._writer is None:
                self._writer = _WRITERS[fmt](self._data, rows=self.rows)
            self._writer.write(frame)
            size = self._writer.sync()
        else:
            part = self._part(index)
            writer = _ParquetWriter(part, rows=self.rows, schema=self._schema())
            try:
                writer.write(frame)
            finally:
                writer.close()
            with part.open("rb+") as handle:
                os.fsync(handle.fileno())
            size = part.stat().st_size
        failed = int(frame["error"].notna().sum()) if "error" in frame.columns else 0
        self.chunks.append({"index": index, "rows": len(frame), "failed": failed, "bytes": size})
        self._save()

    def _schema(self) -> Any:
        """The first part's schema, as read back from it: every later part, fresh or resumed, is cast to it."""
        if not self.chunks:
            return None
        if self._parquet_schema is None:
            import pyarrow.parquet as pq

            self._parquet_schema = pq.read_schema(self._part(0))
        return self._parquet_schema

    def _save(self) -> None:
        staged = self.folder / f"{MANIFEST}.new"
        with staged.open("wb") as handle:
            handle.write(orjson.dumps(self.manifest, option=orjson.OPT_INDENT_2))
            handle.flush()
            os.fsync(handle.fileno())
        replace_durably(staged, self.folder / MANIFEST)

    def finish(self) -> None:
        """Put the whole output in place of `target`, then delete the journal."""
        self.close()
        if not self.chunks:
            self.discard()
            return
        try:
            if self.streamed:
                replace_into_place(self._data, self.target)
            else:
                self._assemble()
        finally:
            if self.streamed and not self._data.exists():
                self.discard()  # the output is in place (or beside it, as the error says): the journal is done
        if not self.streamed:
            self.discard()

    def _assemble(self) -> None:
        import pyarrow.parquet as pq

        schema = self._schema()
        with atomic_path(self.target) as temporary:
            writer = pq.ParquetWriter(temporary, schema)
            try:
                for chunk in self.chunks:
                    writer.write_table(pq.read_table(self._part(chunk["index"]), schema=schema))
            finally:
                writer.close()

    def close(self) -> None:
        """Stop writing, keeping what counts for the next run (a journal with no chunk is not worth keeping)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @contextlib.contextmanager
    def kept(self, unresumable: Callable[[BaseException], bool]) -> Iterator[None]:
        """Whatever stops the job, the journal stays for the next run, except when `unresumable(error)` says the
        input itself must change (bad input): then it is discarded. Ctrl-C becomes JobInterrupted."""
        try:
            yield
        except JournalMismatch:
            self.keep()
            raise
        except KeyboardInterrupt:
            self.keep()
            if not self.chunks:
                raise
            raise JobInterrupted(self.rows, self.folder) from None
        except BaseException as exc:
            if unresumable(exc):
                self.discard()
            else:
                self.keep()
            raise

    def keep(self) -> None:
        self.close()
        if not self.chunks:
            self.discard()

    def discard(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _shown(value: Any) -> str:
    if value == "raise":
        return "fail"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str) and len(value) == 64:
        return value[:12] + "…"  # a sha256
    return str(value)
