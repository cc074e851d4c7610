"""Overlap I/O with scoring: a reader that runs ahead on its own thread and a writer that runs behind.

Both are bounded queues, so memory holds a few chunks whatever the file size, and an error on
either thread surfaces in the caller's thread at the next hand-off.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

T = TypeVar("T")


class _ReadAhead(Iterator[T]):
    """Runs an iterator on a background thread, `depth` items ahead; its errors surface in the consumer."""

    _END: Final = object()

    def __init__(self, source: Iterator[T], depth: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(source,), name="bankscore-read", daemon=True)
        self._thread.start()

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:
            self._put(_Failure(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is self._END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.error
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        self._stop.set()
        self._done = True
        self._thread.join(timeout=5)


@dataclass
class _Failure:
    error: BaseException


def read_ahead(source: Iterator[T], depth: int) -> _ReadAhead[T]:
    return _ReadAhead(source, depth)


@contextlib.contextmanager
def write_behind(write: Callable[[T], None], depth: int) -> Iterator[Callable[[T], None]]:
    """Hand items to `write` on a background thread; a write error surfaces at the next hand-off or the end."""
    items: queue.Queue[Any] = queue.Queue(depth)
    failure: list[BaseException] = []
    end = object()

    def run() -> None:
        while True:
            item = items.get()
            if item is end:
                return
            if failure:
                continue  # drain what is queued so the producer never blocks on a dead writer
            try:
                write(item)
            except BaseException as exc:
                failure.append(exc)

    thread = threading.Thread(target=run, name="bankscore-write", daemon=True)
    thread.start()

    def hand_off(item: T) -> None:
        if failure:
            raise failure[0]
        items.put(item)

    try:
        yield hand_off
    finally:
        items.put(end)
        thread.join()
    if failure:
        raise failure[0]
