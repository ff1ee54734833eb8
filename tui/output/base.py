"""The core of the one output sink: JSON or human, the consoles, notes, progress bars."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress, ProgressEvent


class BaseSink:
    """Whether output is ``--json`` (JSON on stdout, nothing else) or human (Rich on stdout,
    notes and progress on stderr). Each command group adds its renderings in a subclass."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        # Piped output gets a wide console: a table wrapped at 80 columns helps nobody.
        self.out = Console()
        if not self.out.is_terminal:
            self.out = Console(width=160)
        self.err = Console(stderr=True)

    def emit_json(self, data: Any) -> None:
        print(jsonlib.dumps(data, indent=2, default=str))

    def note(self, text: str) -> None:
        if not self.as_json:
            self.err.print(text, style="dim", soft_wrap=True, markup=False, highlight=False)

    @contextmanager
    def progress(self, label: str) -> Iterator[Progress | None]:
        r"""A callback that draws a progress bar from :class:`ProgressEvent`\ s — only on a
        terminal and never under ``--json``."""
        if self.as_json or not self.err.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as ProgressBar

        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("[dim]{task.fields[item]}"))
        with ProgressBar(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=None, item="")

            def update(event: ProgressEvent) -> None:
                item = Path(event.item).name if event.item else ""
                bar.update(task, description=f"{label}: {event.phase}", completed=event.done,
                           total=event.total or None, item=item)

            yield update
