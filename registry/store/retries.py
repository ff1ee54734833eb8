"""A catalog write tried again while another writer (a TUI, a second scan) holds the lock past
the busy timeout: the same few tries, with growing pauses, for every writer that retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["TRIES", "retried"]

TRIES = 5
T = TypeVar("T")


def retried(work: Callable[[], T], transient: tuple[type[BaseException], ...]) -> T:
    """``work()``, run again after a pause when it raises one of ``transient``, :data:`TRIES` times
    at most (the last try's error is raised). ``work`` must leave nothing behind when it fails."""
    for attempt in range(TRIES - 1):
        try:
            return work()
        except transient:
            time.sleep(0.2 * (attempt + 1))
    return work()
