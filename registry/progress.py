"""Progress events of scan, discover and verify: plain data for a callback (nothing prints)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ScanProgress:
    """One progress event. ``phase``: ``discover`` (``total`` 0 while counting, then the number
    found), ``index`` (per examined artifact: ``total`` is the new and changed ones),
    ``verify`` (per re-hashed file), or ``done``."""

    phase: str
    done: int
    total: int
    path: str | None = None


Progress = Callable[[ScanProgress], None]
