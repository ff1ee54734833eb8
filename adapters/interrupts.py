"""The Ctrl-C policy, in one place for the library, the CLI and the TUI.

* Before an output is renamed into place, a Ctrl-C leaves everything as it was (atomic writes
  delete their temp): :func:`writing` turns it into :class:`NothingWritten`, which names the output.
* After the rename the output is complete: :func:`writing` runs what must follow it (recording it
  in the catalog) with Ctrl-C held, then raises :class:`~.errors.InterruptedAfterWrite` saying so.
* :func:`held` defers Ctrl-C over a section that must finish once begun (a catalog write).
* :func:`stop_requested` makes the first Ctrl-C a request to stop after the current step (renders
  keep the images made so far); a second one interrupts.

Front ends exit with :data:`EXIT_CODE`, as shells do for SIGINT. Python delivers signals to the
main thread only: elsewhere (a TUI worker) these change nothing, and the UI cancels its own way.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import InterruptedAfterWrite

__all__ = ["EXIT_CODE", "NothingWritten", "held", "stop_requested", "writing"]

EXIT_CODE = 130


class NothingWritten(KeyboardInterrupt):
    """Ctrl-C came before the output was renamed into place: ``path`` is as it was."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"nothing was written ({path} is as it was)")
        self.path = path


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def held() -> Iterator[list[int]]:
    """Hold Ctrl-C while the block runs; the list it yields holds the signals that came."""
    caught: list[int] = []
    if not _on_main_thread():
        yield caught
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def writing(target: Path | None, *, then: Callable[[], str] | None = None) -> Iterator[None]:
    """Around work that ends by renaming an output into ``target``: a Ctrl-C is reported for
    what it left on disk.

    Args:
        then: what must follow a complete output (run with Ctrl-C held); returns the words to add
            to the message (" and recorded in the catalog").

    Raises:
        NothingWritten: interrupted before the rename.
        InterruptedAfterWrite: interrupted after it; the output is complete.
    """
    before = _identity(target)
    try:
        yield
    except KeyboardInterrupt:
        if target is None or _identity(target) == before:
            raise NothingWritten(target or Path("the output")) from None
        done = ""
        if then is not None:
            with held():
                done = then()
        raise InterruptedAfterWrite(
            f"the output is complete{done} (the interrupt came after it was written)", path=target
        ) from None


def _identity(path: Path | None) -> tuple[int, int, int] | None:
    """What identifies the file at ``path`` now (an atomic rename changes the inode)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@contextmanager
def stop_requested(on_first: Callable[[], Any] = lambda: None) -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event it yields (and calls ``on_first``, to say so); a second
    one interrupts."""
    stop = threading.Event()
    if not _on_main_thread():
        yield stop
        return

    def first(signum: int, frame: Any) -> None:
        stop.set()
        on_first()
        signal.signal(signal.SIGINT, previous)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
