"""What --help says."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from loradex.tui.cli import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_boolean_option_reads_as_a_flag(command):
    text = _help(command)
    assert "<bool>" not in text
    assert re.search(r"^\s+--json\s+Machine-readable JSON", text, re.MULTILINE), text


def test_help_texts_keep_their_bracketed_defaults():
    assert "[default: as the base]" in _help("bake")
    assert "[default: concat, svd when --rank is given]" in " ".join(_help("mix").split())
