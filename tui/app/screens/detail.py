"""The detail of one artifact: what it is, its hashes, trigger words, layers, fit, lineage, previews."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


def _size(n: int) -> str:
    from loradex.adapters.words import size

    return size(n)


class DetailScreen(Screen):
    """Everything the catalog knows about one artifact; ``escape`` goes back, ``q`` quits."""

    CSS_PATH = "detail.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "back"),
        Binding("q", "app.quit", "quit"),
        Binding("question_mark", "app.show_keys", "keys", key_display="?"),
    ]

    def __init__(self, artifact_id: int) -> None:
        super().__init__()
        self.artifact_id = artifact_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        a, details = self.app.catalog.details(self.artifact_id)
        self.sub_title = a.name
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in (("name", a.name), ("path", a.path), ("kind", f"{a.kind} ({a.format})"),
                           ("base", a.base_override or a.base), ("status", a.status), ("size", _size(a.size)),
                           ("sha256", a.sha256 or ""), ("AutoV2", a.autov2 or ""),
                           ("trigger words", ", ".join(a.trigger_words[:10])), ("tags", ", ".join(details.tags)),
                           ("source", a.source)):
            if value:
                grid.add_row(key, Text(str(value)))
        self.query_one("#summary", Static).update(grid)
