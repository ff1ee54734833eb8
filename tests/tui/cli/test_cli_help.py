"""What --help, -h and --version say."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer
from typer.testing import CliRunner

from loradex.tui.cli import app

runner = CliRunner()
_ROOT = typer.main.get_command(app)
COMMANDS = sorted(_ROOT.commands)  # type: ignore[attr-defined]
#: The commands that print a result (so take --json): all but the full-screen app; a group's
#: (``civitai``) one by one.
PRINTING = [
    " ".join((c, *sub))
    for c in COMMANDS
    if c != "tui"
    for sub in ([(s,) for s in sorted(_ROOT.commands[c].commands)] if hasattr(_ROOT.commands[c], "commands") else [()])
]


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", PRINTING)
def test_every_boolean_option_reads_as_a_flag(command):
    text = _help(*command.split())
    assert "<bool>" not in text
    assert re.search(r"^\s+--json\s+Machine-readable JSON", text, re.MULTILINE), text
    help_names = "--help" if command == "tag" else "-h, --help"  # tag's -h would be a removal ("-sketch")
    assert re.search(rf"^\s+{help_names}\s+Show this message and exit", text, re.MULTILINE), text


def test_help_texts_keep_their_bracketed_defaults():
    assert "[default: as the base]" in _help("bake")
    assert "[default: concat, svd when --rank is given]" in " ".join(_help("mix").split())


def test_the_app_lists_version_and_help_as_flags():
    text = _help()
    assert re.search(r"^\s+--version\s+Print the version and exit", text, re.MULTILINE), text
    assert re.search(r"^\s+-h, --help\s+Show this message and exit", text, re.MULTILINE), text


def test_dash_h_is_help():
    for args in ([], ["probe"], ["bake"]):
        assert runner.invoke(app, [*args, "-h"], terminal_width=100).stdout == _help(*args)


def test_version_prints_the_installed_version_and_exits_0():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"loradex {version('loradex')}\n"
