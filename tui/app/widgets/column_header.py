"""The table's column titles; a click on a sortable title sorts by it (again: the other way)."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import Static

from .artifact_table import column_at, header_line


class ColumnHeader(Static):
    DEFAULT_CSS = """
    ColumnHeader { height: 1; text-style: bold; color: $text-muted; }
    """

    class SortAsked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(header_line(), id=id)
        self._sort: str | None = None

    def show_sort(self, sort: str) -> None:
        """Mark the sorted column with an arrow (a new sort only: an update lays out the whole
        screen again, which every filter keystroke would pay for)."""
        if sort == self._sort:
            return
        self._sort = sort
        key, arrow = sort.lstrip("-"), "▼" if sort.startswith("-") else "▲"
        line = header_line()
        start = 0
        from .artifact_table import COLUMNS

        for column in COLUMNS:
            if column.key == key:
                title = f"{column.title} {arrow}"
                line = line[:start] + title.ljust(column.width)[: column.width] + line[start + column.width :]
            start += column.width + 1
        self.update(line)

    def on_click(self, event) -> None:
        offset = getattr(self.parent, "scroll_offset", None)  # the table's horizontal scroll, if any
        column = column_at(event.x + (offset.x if offset is not None else 0))
        if column is not None and column.key:
            self.post_message(self.SortAsked(column.key))
