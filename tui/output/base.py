"""The core of the one output sink: JSON or human, the consoles, notes, progress bars."""

from __future__ import annotations

import io
import json as jsonlib
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markup import escape

from loradex.adapters.jsonable import jsonable
from loradex.adapters.words import printable

if TYPE_CHECKING:
    from rich.text import Text

    from loradex.adapters.progress import Progress, ProgressEvent


class TrimmedLines(io.TextIOBase):
    """A text stream that writes each line to ``stream`` without its trailing blanks (Rich pads
    every line of a table or grid to the console's width)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._line = ""  # written, not yet ended by a newline

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        *lines, self._line = (self._line + text).split("\n")
        for line in lines:
            self.stream.write(line.rstrip(" ") + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class SafeConsole(Console):
    """A console that prints every string with its control characters escaped (:func:`printable`):
    names, metadata and messages come from files and must not drive the terminal. Rich turns each
    string it prints — a cell, a title, a line — into Text here, so the escapes are also measured.
    Emoji codes are left as written: a name's ``:fire:`` is text from a file, not a picture (and
    Rich's table of codes is not imported: ≈ 2 ms of ``show``)."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs | {"emoji": False})


class BaseSink:
    """Whether output is ``--json`` (JSON on stdout, nothing else) or human (Rich on stdout,
    notes and progress on stderr). Each command group adds its renderings in a subclass."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.out = SafeConsole()
        if not self.out.is_terminal:
            # Piped output: $COLUMNS when given, else wide (a table wrapped at 80 columns helps
            # nobody), and no line padded with blanks up to that width.
            # typeshed's io.TextIOBase is no typing.IO[str], though Rich only calls write and flush.
            trimmed = TrimmedLines(sys.stdout)
            self.out = SafeConsole(file=trimmed, width=None if os.environ.get("COLUMNS") else 160)  # type: ignore[arg-type]
        self.err = SafeConsole(stderr=True)

    def emit_json(self, data: Any) -> None:
        """``data`` (a report, a row, a view, or plain values holding them) as indented JSON."""
        print(jsonlib.dumps(jsonable(data), indent=2))

    def emit_json_items(self, key: str, items: Iterable[Any]) -> None:
        """``{key: [items]}``, as :meth:`emit_json` would hold it, written item by item, one item
        a line: a listing of 100,000 rows starts at once, is never held whole, and is written by
        the C encoder (an indented dump goes through the pure-Python one, 3× slower)."""
        write = sys.stdout.write
        write("{\n  " + jsonlib.dumps(key) + ": [")
        separator = "\n"
        for item in items:
            write(separator + "    " + jsonlib.dumps(item, default=str))
            separator = ",\n"
        write(("]" if separator == "\n" else "\n  ]") + "\n}\n")

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
        from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as ProgressBar

        columns = (
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[item]}"),
        )
        with ProgressBar(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=None, item="", amount="")

            def update(event: ProgressEvent) -> None:
                item = escape(printable(Path(event.item).name)) if event.item else ""  # a column of markup
                bar.update(
                    task,
                    description=f"{label}: {event.phase}",
                    completed=event.done,
                    total=event.total or None,
                    item=item,
                    amount=event.amount(),
                )

            yield update
