"""The one table of the app's actions (tui/app/keymap.py): the bindings, the command palette and
``loradex tui --help`` all come from it, and every flow it names exists."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from loradex.tui.app.keymap import ACTIONS, APP, DETAIL, MAIN, bindings, palette
from loradex.tui.cli import app as cli


def test_every_flow_the_table_names_is_a_worker_of_the_flows_package():
    for action in ACTIONS:
        if action.flow is not None:
            flow = action.flow_function()
            assert callable(flow) and flow.__name__ == action.flow.rsplit(".", 1)[1], action.name


def test_each_place_binds_the_keys_the_table_gives_it_in_table_order():
    for place in (MAIN, DETAIL, APP):
        assert [b.key for b in bindings(place)] == [a.key for a in ACTIONS if place in a.bound]
    assert [b.show for b in bindings(APP) if b.key == "question_mark"] == [False]  # the screens' ? shows


def test_the_palette_offers_every_titled_action_with_its_key():
    offered = {title: help_text for title, help_text, _ in palette()}
    for action in ACTIONS:
        if action.title:
            assert offered[action.title].endswith(f"({action.key_display or action.key})")


def test_loradex_tui_help_lists_every_key_the_table_says():
    text = " ".join(CliRunner().invoke(cli, ["tui", "--help"], terminal_width=400).output.split())
    for action in ACTIONS:
        if action.said:
            assert f"{action.key_display or action.key} {action.said}" in text


def test_the_cli_reads_the_table_without_importing_textual():
    code = "import sys, loradex.tui.app.keymap, loradex.tui.cli.terminal; print('textual' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
