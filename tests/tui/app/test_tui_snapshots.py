"""Snapshots of the TUI on the example catalog at 160×45 (pytest-textual-snapshot).

Stable across machines: the catalog is ``catalog.db.example`` moved under ``tmp/loradex``
(tests/support/tui_catalog.py), and the app shows paths relative to the catalog's folder, so no absolute
(tmp, clone or home) path reaches the screen; the fixture's rows carry fixed dates and none is
shown; previews are flat-coloured PNGs drawn by the half-cell renderer (no terminal graphics
protocol, no cell-size query); the block norms come from the zoo's seeded LoRA and are waited for.

Regenerate after a deliberate change with ``pytest tests/tui/app/test_tui_snapshots.py --snapshot-update``
and look at the SVGs in ``__snapshots__`` before committing them.
"""

from __future__ import annotations

from loradex.tui.app import make_app
from tests.support.tui_catalog import LORA, example_catalog

SIZE = (160, 45)


def test_main_screen(snap_compare, tmp_path):
    app = make_app(example_catalog(tmp_path / "loradex", extras=False))
    assert snap_compare(app, terminal_size=SIZE)


def test_detail_of_a_lora_with_previews(snap_compare, tmp_path, zoo):
    app = make_app(example_catalog(tmp_path / "loradex", lora_file=zoo[LORA].path))

    async def open_the_lora(pilot):
        await pilot.press("slash", *LORA, "enter")  # the filter's first row: sd1-kohya-lora
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()  # the block norms
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_the_lora)
