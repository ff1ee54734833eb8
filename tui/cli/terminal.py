"""``loradex tui``: the Textual app on the catalog (also what ``loradex`` alone opens on a terminal)."""

from __future__ import annotations

import typer

from ..app.keymap import keys_help
from .options import catalog_of, commands

group = commands()


def open_tui(ctx: typer.Context) -> None:
    # textual-image picks its renderer (sixel, kitty, half-cell) from the terminal: it must be
    # imported before the app takes over the terminal.
    import textual_image.widget  # noqa: F401  (the widget module measures the cell size once)

    from loradex.registry.store.location import catalog_url

    from ..app import make_app

    app = make_app(catalog_url(catalog_of(ctx)))  # a SQLite catalog at the current schema: no SQLAlchemy to paint
    try:
        app.run()
    finally:
        app.catalog.close()


@group.command(
    "tui",
    help=f"Browse the catalog in the terminal: filter, inspect, preview, mix, bake, tag, publish.\n\n{keys_help()}",
)
def tui_cmd(ctx: typer.Context) -> None:
    open_tui(ctx)
