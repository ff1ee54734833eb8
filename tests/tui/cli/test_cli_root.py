"""One root for the command line: the groups share their options and never import the root, which
adds them and applies the one table of failures to every command."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import loradex.tui.cli
from loradex.tui.cli import app
from loradex.tui.cli.app import FAILURES

CLI = Path(loradex.tui.cli.__file__).parent
GROUPS = sorted(p for p in CLI.glob("*.py") if p.stem not in {"__init__", "__main__", "app", "options"})


@pytest.mark.parametrize("path", GROUPS, ids=lambda p: p.stem)
def test_a_command_group_never_imports_the_root(path):
    imported = {
        ("." * node.level) + (node.module or "")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom)
    }
    assert not imported & {".app", ".", "loradex.tui.cli.app", "loradex.tui.cli"}


def test_every_loradex_error_ends_in_one_line_through_the_one_table():
    from loradex.adapters.errors import InterruptedAfterWrite, LoradexError

    kinds = [kind for kind, _ in FAILURES]
    # The more specific first: an InterruptedAfterWrite is a LoradexError with its own exit code.
    assert kinds.index(InterruptedAfterWrite) < kinds.index(LoradexError) and KeyboardInterrupt in kinds


def test_the_root_holds_every_group_s_commands_flat():
    import typer.main

    names = typer.main.get_command(app).list_commands(None)  # type: ignore[arg-type]
    assert {"probe", "list", "mix", "try", "publish", "tui"} <= set(names)
