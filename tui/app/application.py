"""The Textual app: :func:`make_app` builds it for ``loradex tui`` and for the tests alike."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from textual.app import App
from textual.binding import Binding

from loradex.adapters.words import printable

from .actions import Actions
from .catalog_view import CatalogView
from .commands import ActionCommands
from .screens.main import ACTION_BINDINGS, MainScreen
from .widgets import previews  # noqa: F401  (textual-image must ask the terminal its cell size before Textual starts)


class LoradexApp(Actions, App):
    """Browse the catalog, inspect an artifact, and act on it (the actions: :mod:`.actions`)."""

    TITLE = "loradex"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ActionCommands}
    # The action keys here too, so they work on the detail screen (the main screen has its own).
    BINDINGS = [Binding("question_mark", "show_keys", "keys", key_display="?", show=False), *ACTION_BINDINGS]

    def __init__(self, engine: Engine, *, label: str = "") -> None:
        super().__init__()
        self.catalog = CatalogView(engine)
        self.label = label
        self.init_actions()

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


def make_app(catalog: str | Path | Engine) -> LoradexApp:
    """The app on ``catalog`` (an engine, a catalog file or a SQLAlchemy URL; never created here)."""
    if isinstance(catalog, Engine):
        return LoradexApp(catalog, label=catalog.url.render_as_string(hide_password=True))
    from loradex.registry.store.db import open_catalog

    engine = open_catalog(str(catalog))
    return LoradexApp(engine, label=engine.url.render_as_string(hide_password=True))
