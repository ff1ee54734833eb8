"""A titled, bordered block of the detail screen; the other detail widgets are sections."""

from __future__ import annotations

from textual.widgets import Static


class Section(Static):
    DEFAULT_CSS = """
    Section { height: auto; border: round $primary-background; padding: 0 1; }
    """
    TITLE = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = self.TITLE


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of ``value`` out of ``top`` in ``width`` cells, in eighths of a cell."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(min(1.0, value / top) * width * 8)
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
