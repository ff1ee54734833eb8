"""Progress events: plain data for a callback that a front end renders (nothing here prints).

One event type serves every long-running job, scans and operations alike, so a front end
draws one kind of progress bar and a script writes one kind of callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .words import size


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a job.

    Attributes:
        phase: what is running: ``discover`` (``total`` 0 while counting), ``index`` (per
            examined artifact), ``verify`` (per re-hashed file), ``done`` for scans; the
            operation's name (``mix``, ``resize``, ``bake``, ``extract``) for operations.
        done: steps finished (bytes, with ``unit`` "bytes").
        total: steps in all (0 while unknown).
        item: the file, layer or tensor the step was about.
        unit: ``"bytes"`` when ``done`` and ``total`` count bytes (a scan's ``index``: one
            multi-GB checkpoint weighs as much as it takes to hash), else ``""`` (steps).
    """

    phase: str
    done: int
    total: int
    item: str | None = None
    unit: str = ""

    def amount(self) -> str:
        """How far, as a front end shows it: ``3/12``, ``1.2 GB/6.9 GB``; ``""`` while the total is unknown."""
        if not self.total:
            return ""
        if self.unit == "bytes":
            return f"{size(self.done)}/{size(self.total)}"
        return f"{self.done}/{self.total}"


#: A progress callback; an exception it raises cancels the job (outputs are left as they were).
Progress = Callable[[ProgressEvent], None]
