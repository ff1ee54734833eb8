"""The artifact table: a virtual table that draws only the rows on screen.

Written on Textual's line API rather than with the stock ``DataTable``: that one builds every
row's renderables up front, which for 10,000 artifacts takes seconds per refill (every filter
keystroke); here a refill hands over the filter's ids (:class:`~..paged_rows.PagedRows`), and a
paint reads and draws the ~40 rows on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from loradex.adapters.words import printable
from loradex.adapters.words import size as size_text
from loradex.registry.queries.table import BrowseRow

from ..paged_rows import PagedRows


@dataclass(frozen=True)
class Column:
    key: str  #: the sort key (registry.queries.sort_keys) or "" when the column does not sort
    title: str
    width: int


#: Id, format and path tell apart artifacts of one name (``tiny-sd1`` as .ckpt and .safetensors).
#: The path comes last and takes the rest of the line, cut from the left: its end tells most.
#: "base/line" is the model line where one is known (it names its family, as Civitai's "Base
#: Model" does: Pony, Illustrious), else the family; it sorts by the family.
COLUMNS: tuple[Column, ...] = (
    Column("", "id", 5),
    Column("name", "name", 28),
    Column("kind", "kind", 10),
    Column("", "format", 12),
    Column("base", "base/line", 11),
    Column("rank", "rank", 5),
    Column("size", "size", 8),
    Column("", "tags", 10),
    Column("", "status", 7),
    Column("", "weight", 6),
    Column("", "img", 3),
)
FIXED_WIDTH = sum(c.width + 1 for c in COLUMNS)
PATH_MIN = 16


def cells(row: BrowseRow) -> tuple[str, ...]:
    """The text of each fixed column for ``row``."""
    return (
        str(row.id),
        row.name,
        row.kind,
        row.format,
        row.line or row.base,
        row.ranks,
        size_text(row.size),
        ", ".join(row.tags),
        row.status,
        f"{row.weight:g}" if row.weight is not None else "",
        "▣" if row.previews else "",
    )


def fit(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def fit_left(text: str, width: int) -> str:
    """``text`` in ``width`` cells, cut at the start ("…/bases/tiny-sd1.ckpt")."""
    return text.ljust(width) if len(text) <= width else "…" + text[len(text) - width + 1 :]


def header_line() -> str:
    return " ".join(fit(c.title, c.width) for c in COLUMNS) + " path"


def column_at(x: int) -> Column | None:
    """The column under horizontal offset ``x`` of a line."""
    start = 0
    for column in COLUMNS:
        if start <= x < start + column.width:
            return column
        start += column.width + 1
    return None


class ArtifactTable(ScrollView, can_focus=True):
    """Rows of :class:`BrowseRow`, a cursor, and ``enter`` to open one."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
        Binding("enter", "open", "open"),
    ]
    DEFAULT_CSS = """
    ArtifactTable { height: 1fr; }
    """
    cursor: reactive[int] = reactive(0)

    class Opened(Message):
        """The user asked for a row's detail."""

        def __init__(self, row: BrowseRow) -> None:
            super().__init__()
            self.row = row

    class Highlighted(Message):
        def __init__(self, row: BrowseRow | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, shown_path: Callable[[str], str] = str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = PagedRows([], lambda ids: [])
        self.shown_path = shown_path  #: a stored path as the app shows it (relative to the catalog)
        self._line_width = FIXED_WIDTH + PATH_MIN

    # -- data -------------------------------------------------------------------------

    def set_rows(self, rows: PagedRows, keep: int | None = None) -> None:
        """Show ``rows``; the cursor goes to the row with id ``keep`` if it is there, else to the top."""
        self.rows = rows
        rows.on_shrink = self._shrunk
        index = (rows.index_of(keep) if keep is not None else None) or 0
        self.virtual_size = Size(self._line_width, len(rows))
        self.cursor = index
        self.scroll_to(y=max(0, index - 2), animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self.current))

    def _shrunk(self) -> None:
        """Rows removed by another process dropped out as they were read: fit the new length."""
        self.virtual_size = Size(self._line_width, len(self.rows))
        self.cursor = max(0, min(self.cursor, len(self.rows) - 1))
        self.refresh()

    @property
    def current(self) -> BrowseRow | None:
        try:
            return self.rows[self.cursor] if self.cursor >= 0 else None
        except IndexError:
            return None

    # -- drawing ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        try:
            row = self.rows[index]
        except IndexError:
            return Strip.blank(self.size.width, self.rich_style)
        text = " ".join(
            fit(printable(value, one_line=True), c.width) for value, c in zip(cells(row), COLUMNS, strict=True)
        )
        text += " " + fit_left(
            printable(self.shown_path(row.path), one_line=True), max(PATH_MIN, self.size.width - FIXED_WIDTH)
        )
        style = self.rich_style
        if index == self.cursor:
            style = style + (Style(reverse=True) if self.has_focus else Style(bgcolor="grey23"))
        strip = Strip([Segment(text.ljust(max(self.size.width, len(text))), style)])
        return strip.crop(self.scroll_offset.x, self.scroll_offset.x + self.size.width)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        if new < self.scroll_offset.y:
            self.scroll_to(y=new, animate=False)
        elif new >= self.scroll_offset.y + self.size.height:
            self.scroll_to(y=new - self.size.height + 1, animate=False)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- keys -------------------------------------------------------------------------

    def _move(self, to: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, to))
            self.post_message(self.Highlighted(self.current))

    def action_cursor(self, step: int) -> None:
        self._move(self.cursor + step)

    def action_page(self, pages: int) -> None:
        self._move(self.cursor + pages * max(1, self.size.height - 1))

    def action_jump(self, to: int) -> None:
        self._move(to if to >= 0 else len(self.rows) - 1)

    def action_open(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self.current))

    def on_click(self, event) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.rows):
            self._move(index)
            if event.chain >= 2:
                self.action_open()
