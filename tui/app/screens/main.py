"""The main screen: the artifact table, the live filter, the kind, base and line facets."""

from __future__ import annotations

from collections import Counter
from typing import cast

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Input
from textual.worker import get_current_worker

from loradex.adapters.errors import LoradexError
from loradex.registry.queries.filters import Filter

from ..catalog_view import CatalogApp, CatalogView
from ..keymap import MAIN, bindings
from ..widgets.artifact_table import ArtifactTable
from ..widgets.column_header import ColumnHeader
from ..widgets.facets import Facet

FILTER_HINT = "/ to filter: text, or kind:lora base:sdxl line:pony tag:… rank>=16 status:ok sort:-size"


class MainScreen(Screen):
    """The catalog as a table; ``/`` filters, ``enter`` opens, ``q`` quits."""

    CSS_PATH = "main.tcss"
    # Its own keys; the footer follows them with the app's (the actions on artifacts).
    BINDINGS = bindings(MAIN)

    @property
    def catalog(self) -> CatalogView:
        return cast(CatalogApp, self.app).catalog

    def __init__(self) -> None:
        super().__init__()
        self.sort = "name"
        self.kind: str | None = None
        self.base: str | None = None
        self.line: str | None = None
        self.filter: Filter | None = None  #: the last filter that parsed

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="facets"):  # counted by the first refill, with the rows
                yield Facet("kind", id="facet-kind")
                yield Facet("base", id="facet-base")
                yield Facet("line", id="facet-line")
            with Vertical(id="browser"):
                yield Input(placeholder=FILTER_HINT, id="filter")
                yield ColumnHeader(id="columns")
                yield ArtifactTable(shown_path=self.catalog.shown_path, id="table")
        yield Footer()

    def on_mount(self) -> None:
        self.refill()
        self.query_one(ArtifactTable).focus()

    # -- filtering --------------------------------------------------------------------

    def refill(self, keep: int | None = None, *, counts_later: bool = False) -> None:
        """Query the catalog for the filter and facets now in force and show the rows (again, after
        an action changed the catalog: ``keep`` stays selected), then the facet counts: at once, or
        with ``counts_later`` from a thread once the rows are on screen (a keystroke in the filter:
        the counts of a one-character text cost as much again as its rows)."""
        table = self.query_one(ArtifactTable)
        text = self.query_one("#filter", Input).value
        try:
            shown = self.catalog.select(text, kind=self.kind, base=self.base, line=self.line, sort=self.sort)
        except LoradexError as exc:
            self.query_one("#filter", Input).border_subtitle = str(exc)
            return
        self.query_one("#filter", Input).border_subtitle = ""
        self.filter = shown.filter
        table.set_rows(shown.rows, keep=keep if keep is not None else (table.current.id if table.current else None))
        self.query_one(ColumnHeader).show_sort(shown.filter.sort)
        self.sub_title = f"{len(shown.rows)} of {self.catalog.total()} artifacts"
        if counts_later:
            self._count_facets(shown.filter)
        else:
            self._show_counts(shown.filter, self.catalog.facets(shown.filter))

    @work(thread=True, exclusive=True, group="facets")
    def _count_facets(self, flt: Filter) -> None:
        """The facet counts of ``flt``, off the UI thread (a newer keystroke cancels these)."""
        counts = self.catalog.facets(flt)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_counts, flt, counts)

    def _show_counts(self, flt: Filter, counts: dict[str, Counter]) -> None:
        if flt != self.filter:  # counted for a filter since replaced: its successor's are coming
            return
        for facet in self.query(Facet):
            facet.show_counts(counts[facet.facet], getattr(self, facet.facet))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.refill(counts_later=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the filter opens the artifact named exactly so (in any case), else the first match."""
        if event.input.id == "filter":
            table = self.query_one(ArtifactTable)
            if table.rows:
                named = self.catalog.named(self.filter, (self.filter.text or "").strip()) if self.filter else set()
                table.cursor = next((i for i, ident in enumerate(table.rows.ids) if ident in named), 0)
                table.action_open()

    def on_facet_chosen(self, event: Facet.Chosen) -> None:
        setattr(self, event.facet, event.value)
        self.refill()

    def on_column_header_sort_asked(self, event: ColumnHeader.SortAsked) -> None:
        self.sort = f"-{event.key}" if self.sort == event.key else event.key
        self.refill()

    def action_cycle_sort(self) -> None:
        keys = ["name", "-name", "size", "-size", "rank", "-rank", "kind", "base", "-created"]
        self.sort = keys[(keys.index(self.sort) + 1) % len(keys)] if self.sort in keys else "name"
        self.refill()

    def action_open_selected(self) -> None:
        self.query_one(ArtifactTable).action_open()

    def action_focus_filter(self) -> None:
        # A priority binding (keymap): run as `/` arrives, so the focus moves at once (set_focus;
        # Widget.focus() would move it later, behind the keys already received). In the filter,
        # `/` is text.
        field = self.query_one("#filter", Input)
        if field.has_focus:
            field.insert_text_at_cursor("/")
        else:
            self.set_focus(field)

    def action_leave_filter(self) -> None:
        self.query_one(ArtifactTable).focus()

    def on_artifact_table_opened(self, event: ArtifactTable.Opened) -> None:
        from .detail import DetailScreen

        self.app.push_screen(DetailScreen(event.row.id))
