"""The file's training metadata (kohya ``ss_*``, ``modelspec.*`` …), key by key, long values cut."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from loradex.adapters.words import printable

from .section import Section

WIDTH = 90
#: Shown elsewhere (trigger words: tag counts) or too long to read here.
SKIPPED = ("ss_tag_frequency",)


class TrainingMetadata(Section):
    TITLE = "training metadata"

    def show(self, metadata: dict) -> None:
        items = [(k, v) for k, v in sorted(metadata.items()) if k not in SKIPPED]
        if not items:
            self.display = False
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in items:
            value = printable(str(value))
            grid.add_row(
                Text(printable(key, one_line=True)), Text(value if len(value) <= WIDTH else value[: WIDTH - 1] + "…")
            )
        self.update(grid)
