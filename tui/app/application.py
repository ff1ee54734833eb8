"""The Textual app: :func:`make_app` builds it for ``loradex tui`` and for the tests alike.

The app wires: its keys come from :mod:`.keymap`, each action's flow from :mod:`.flows` (started
by :meth:`LoradexApp.action_flow`), its jobs run through its :class:`~.jobs.JobRunner`, and it
keeps what the flows share between runs (the mix tray, the warm quick-test base, the last answers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from textual.app import App
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from loradex.adapters.words import printable
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details

from .catalog_view import CatalogView
from .commands import ActionCommands
from .jobs import JobRunner, error_line
from .keymap import APP, BY_NAME, bindings
from .messages import PublishRequest, TrayItem
from .screens.main import MainScreen
from .warm_bench import WarmBench
from .widgets import previews  # noqa: F401  (textual-image must ask the terminal its cell size before Textual starts)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class LoradexApp(App):
    """Browse the catalog, inspect an artifact, and act on it (the actions: :mod:`.keymap`)."""

    TITLE = "loradex"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ActionCommands}
    # The actions on artifacts are bound here, so they work on every screen.
    BINDINGS = bindings(APP)

    def __init__(self, catalog: CatalogView, *, label: str = "") -> None:
        super().__init__()
        self.catalog = catalog
        self.label = label
        self.jobs = JobRunner(self)
        self.tray: list[TrayItem] = []
        self.warm = WarmBench()
        self.quick_test_values: dict[str, Any] = {}
        self.quick_test_base: str | None = None
        self.quick_test_root = Path(platformdirs.user_data_dir("loradex")) / "quick-tests"
        self.publish_last: PublishRequest | None = None
        #: The Hub the publish action talks to (None: HF_ENDPOINT / the Hub), and its token
        #: (None: huggingface_hub's own resolution); set by tests.
        self.hub_endpoint: str | None = None
        self.hub_token: str | None = None

    def notify(self, message: str, *, title: str = "", **kwargs) -> None:
        """Every notice the app shows, its names from files with their control characters escaped."""
        super().notify(printable(message), title=printable(title, one_line=True), **kwargs)

    def on_mount(self) -> None:
        self.sub_title = self.label
        self.push_screen(MainScreen())

    def action_show_keys(self) -> None:
        """Show (or hide) the key bindings of whatever has focus."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    # -- the flows --------------------------------------------------------------------

    def action_flow(self, name: str) -> None:
        """Start the flow of the action ``name``, on the current artifact where it needs one."""
        action = BY_NAME[name]
        flow = action.flow_function()
        if not action.needs_artifact:
            flow(self)
            return
        current = self.current()
        if current is not None:
            flow(self, *current)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A flow that failed is a notification; the app keeps running."""
        worker = event.worker
        if worker.group == "flow" and event.state == WorkerState.ERROR and worker.error is not None:
            self.notify(error_line(worker.error), severity="error")

    # -- the current artifact ---------------------------------------------------------

    def _base_screen(self) -> Screen:
        """The topmost screen that is not a dialog (the main or a detail screen)."""
        for screen in reversed(self.screen_stack):
            if not isinstance(screen, ModalScreen):
                return screen
        return self.screen

    def _main(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def current_artifact_id(self) -> int | None:
        """The artifact a detail screen shows, else the table's highlighted row."""
        screen = self._base_screen()
        ident = getattr(screen, "artifact_id", None)
        if ident is not None:
            return int(ident)
        from .widgets.artifact_table import ArtifactTable

        tables = screen.query(ArtifactTable)
        row = tables.first().current if tables else None
        return row.id if row is not None else None

    def current(self) -> tuple[ArtifactRow, Details] | None:
        """The current artifact and its details, or None (with a warning) when there is none."""
        ident = self.current_artifact_id()
        if ident is None:
            self.notify("No artifact is selected.", severity="warning")
            return None
        try:
            return self.catalog.details(ident)
        except Exception as exc:
            self.notify(error_line(exc), severity="error")
            return None

    def reload(self, keep: int | None = None) -> None:
        """Show the catalog as it is now: the main screen's facets and rows (``keep`` selected) and
        the detail screen on top, if any."""
        main = self._main()
        if main is not None:
            main.refill(keep=keep)
        screen = self._base_screen()
        if screen is not main and hasattr(screen, "show"):
            try:
                screen.show()
            except Exception:  # the artifact it shows is gone: go back to the table
                self.pop_screen()


def make_app(catalog: str | os.PathLike[str] | Engine) -> LoradexApp:
    """The app on ``catalog``: an engine (its owner disposes of it), or a catalog file or SQLAlchemy
    URL (never created here; an older schema is upgraded first), which the app's
    :meth:`CatalogView.close` lets go. A SQLite file at the current schema is read with plain
    ``sqlite3``: SQLAlchemy is imported only when a flow needs the engine."""
    if not isinstance(catalog, (str, os.PathLike)):
        return LoradexApp(CatalogView(catalog), label=catalog.url.render_as_string(hide_password=True))
    from loradex.registry.queries.reading import hold_sqlite
    from loradex.registry.store.location import catalog_url

    held = hold_sqlite(catalog)
    if held is not None:
        return LoradexApp(CatalogView(held), label=catalog_url(catalog))
    from loradex.registry.store.db import open_catalog

    engine = open_catalog(catalog, create=False)
    return LoradexApp(CatalogView(engine, owned=True), label=engine.url.render_as_string(hide_password=True))
