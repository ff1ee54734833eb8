"""The streaming writer's two helper threads: :class:`WriteBehind`, which runs queued writes in
order within a byte budget, and :class:`HashFollower`, which hashes the file as it is written."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import Any

from .hashing import FileHashes, StreamHasher
from .reader import pread_into


class HashFollower:
    """A thread that hashes a file being written, reading each range back (from the page cache)
    as soon as the writer says it is there; it trails the writer by at most a few chunks, so
    the hashes are ready about when the last byte is written."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._hasher = StreamHasher(size, parallel=True)
        self._available = 0
        self._stopped = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="safetensors-hash", daemon=True)
        self._thread.start()

    def advance(self, end: int) -> None:
        """The file now holds its first ``end`` bytes."""
        with self._cond:
            self._available = end
            self._cond.notify()

    def finish(self) -> FileHashes:
        """Wait for the last byte to be hashed; the hashes of the whole file."""
        self._thread.join()
        os.close(self._fd)
        if self._error is not None:
            raise self._error
        return self._hasher.result()

    def stop(self) -> None:
        """Abandon the file (safe after :meth:`finish`)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join()
        self._hasher.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _work(self) -> None:
        buf = bytearray(_HASH_CHUNK)
        view, pos = memoryview(buf), 0
        try:
            while pos < self._hasher.size:
                with self._cond:
                    while self._available <= pos and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    end = self._available
                while pos < end:
                    n = pread_into(self._fd, view[: min(_HASH_CHUNK, end - pos)], pos)
                    if n == 0:
                        raise OSError(f"read back {pos} of {end} written bytes")
                    self._hasher.update(view[:n])
                    pos += n
        except BaseException as exc:  # handed to the writer's thread by finish()
            self._error = exc


_HASH_CHUNK = 8 << 20


class WriteBehind:
    """One thread that runs queued file operations in order, with a budget on queued bytes.

    After an operation fails the rest are skipped, and the error is raised in the caller's
    thread by the next :meth:`submit` or by :meth:`drain`.
    """

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._queued = 0
        self._jobs: queue.SimpleQueue[tuple[Any, int] | None] = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._discard = False
        self._thread = threading.Thread(target=self._work, name="safetensors-write-behind", daemon=True)
        self._thread.start()

    def submit(self, job: Any, nbytes: int) -> None:
        with self._cond:
            # A tensor over the whole budget still goes through, alone.
            while self._error is None and self._queued and self._queued + nbytes > self._budget:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            self._queued += nbytes
        self._jobs.put((job, nbytes))

    def drain(self) -> None:
        """Wait until every queued operation has run and end the thread."""
        self.stop()
        if self._error is not None:
            raise self._error

    def stop(self, *, discard: bool = False) -> None:
        """End the thread after the running operation; ``discard`` skips the queued ones.
        Safe to call twice."""
        self._discard = self._discard or discard
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _work(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, nbytes = item
            if self._error is None and not self._discard:
                try:
                    job()
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc
            with self._cond:
                self._queued -= nbytes
                self._cond.notify_all()
