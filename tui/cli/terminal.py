"""``loradex tui``: the Textual app on the catalog (also what ``loradex`` alone opens on a terminal)."""

from __future__ import annotations

import typer

from ..app.keymap import keys_help
from .options import catalog_engine, commands

group = commands()


def open_tui(ctx: typer.Context) -> None:
    # textual-image picks its renderer (sixel, kitty, half-cell) from the terminal: it must be
    # imported before the app takes over the terminal.
    import textual_image.widget  # noqa: F401  (the widget module measures the cell size once)

    from ..app import make_app

    with catalog_engine(ctx) as engine:
        make_app(engine).run()


@group.command(
    "tui",
    help=f"Browse the catalog in the terminal: filter, inspect, preview, mix, bake, tag, publish.\n\n{keys_help()}",
)
def tui_cmd(ctx: typer.Context) -> None:
    open_tui(ctx)
