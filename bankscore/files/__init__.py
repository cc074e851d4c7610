"""Files in and out: formats by extension (CSV, JSONL, Parquet, XLSX), written atomically, scored as a stream.

CSV and JSONL work with the core install; Parquet and XLSX need `pip install "bankscore[files]"`.
"""

from .._atomic import atomic_path
from .._exceptions import FileFormatError
from .formats import (
    DEFAULT_CHUNK_ROWS,
    FORMATS,
    TableWriter,
    file_format,
    iter_frames,
    open_writer,
    read_table,
    restore_numbers,
    write_table,
)
from .journal import JobInterrupted, JournalMismatch, Resumed, journal_path
from .scoring import FileScore, score_file, score_frames

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "FileFormatError",
    "FileScore",
    "JobInterrupted",
    "JournalMismatch",
    "Resumed",
    "TableWriter",
    "atomic_path",
    "file_format",
    "iter_frames",
    "journal_path",
    "open_writer",
    "read_table",
    "restore_numbers",
    "score_file",
    "score_frames",
    "write_table",
]
