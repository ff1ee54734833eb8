"""Names and metadata from files never drive the terminal: every control character (C0, DEL, C1)
and bidi override that reaches the CLI's output or the TUI is shown escaped; ``--json`` keeps the
exact value."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from loradex.adapters.words import printable
from tests.support.ops_cli import cli

#: Clear the screen, set the title, write the clipboard (OSC 52), a link (OSC 8), a C1 CSI, a bidi override.
HOSTILE = "\x1b]0;TITLE\x07\x1b[2Jcat\x1b]52;c;cm0gLXJm\x07\x1b]8;;http://evil\x1b\\link\u009b31m\u202egnp.exe"
#: Bytes that must not reach a terminal: C0 but newline and tab, DEL, C1, bidi overrides.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(result) -> None:
    for stream in (result.stdout, result.stderr):
        assert not RAW.search(stream), repr(stream)


@pytest.fixture
def hostile(zoo, tmp_path) -> Path:
    """A real LoRA whose trigger phrase and file name carry terminal escapes, twice (a duplicate)."""
    source = zoo["sd1-kohya-lora"].path
    with safe_open(source, "pt") as f:
        metadata = f.metadata() or {}
    lib = tmp_path / "lib"
    lib.mkdir()
    path = lib / "evil\x1b]0;pwned\x07\x1b[2J.safetensors"
    save_file(load_file(source), path, {**metadata, "modelspec.trigger_phrase": HOSTILE, "ss_output_name": HOSTILE})
    shutil.copy(path, lib / "copy\x1b[2J\u202e.safetensors")
    (lib / "broken\x1b]52;c;eA==\x07.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{nope}\x1b[2J")
    return path


def test_printable_escapes_controls_and_bidi_and_keeps_text():
    assert printable("a\x1b[2Jb\x07\x9b\u202e\u2066é漢\n\t") == "a\\x1b[2Jb\\x07\\x9b\\u202e\\u2066é漢\n\t"
    assert printable("a\nb\tc", one_line=True) == "a\\x0ab\\x09c"


def test_probe_prints_hostile_metadata_and_names_escaped(hostile):
    result = cli("probe", *sorted(hostile.parent.iterdir()))
    assert result.exit_code == 1  # the broken file is one error line; the others are in the table
    _clean(result)
    assert "\\x1b]0;TITLE" in result.stdout
    assert "broken\\x1b]52" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_probe_json_keeps_the_exact_values(hostile):
    result = cli("probe", hostile, "--json")
    assert result.exit_code == 0, result.output
    assert not RAW.search(result.stdout)  # JSON escapes controls itself
    info = json.loads(result.stdout)["artifacts"][0]
    assert info["path"] == str(hostile)
    assert HOSTILE.split(",")[0].strip() in info["trigger_words"]


def test_inspect_and_its_errors_print_escaped(hostile):
    result = cli("inspect", hostile, "--layers")
    assert result.exit_code == 0, result.output
    _clean(result)
    broken = cli("inspect", next(hostile.parent.glob("broken*")))
    assert broken.exit_code == 1
    _clean(broken)


def test_scan_show_list_and_duplicates_print_escaped(hostile, tmp_path):
    catalog = str(tmp_path / "c.db")
    for args in [("scan", hostile.parent), ("list",), ("show", hostile), ("dupes",), ("show", "nothing\x1b[2J")]:
        result = cli(*args, catalog=catalog)
        assert result.exit_code in (0, 1), result.output
        _clean(result)
    shown = cli("show", hostile, catalog=catalog)
    assert "\\x1b]0;TITLE" in shown.stdout and "evil\\x1b]0;pwned" in shown.stdout
    assert (
        json.loads(cli("show", hostile, "--json", catalog=catalog).stdout)["trigger_words"][0]
        == HOSTILE.split(",")[0].strip()
    )


def test_the_tui_shows_hostile_names_and_metadata_escaped(hostile, tmp_path):
    import asyncio

    from textual.widgets import Static

    from loradex.tui.app import make_app
    from loradex.tui.app.screens.detail import DetailScreen
    from loradex.tui.app.widgets.artifact_table import ArtifactTable
    from tests.support.tui_pilot import plain

    catalog = tmp_path / "c.db"
    assert cli("scan", hostile.parent, catalog=str(catalog)).exit_code == 0
    artifact_id = json.loads(cli("show", hostile, "--json", catalog=str(catalog)).stdout)["id"]
    app = make_app(catalog)
    shown: list[str] = []

    async def run() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.pause()
            table = app.screen.query_one(ArtifactTable)
            shown.extend(table.render_line(y).text for y in range(len(table.rows)))
            await app.push_screen(DetailScreen(artifact_id))
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            shown.append(app.screen.sub_title)
            shown.extend(plain(widget) for widget in app.screen.query(Static))
            app.exit()

    asyncio.run(run())
    text = "\n".join(shown)
    assert "\\x1b]0;TITLE" in text and "evil\\x1b]0;pwned" in text
    assert not RAW.search(text), [line for line in shown if RAW.search(line)]


#: Rich markup in a file's metadata and name: a closing tag never opened, a link, a style.
MARKUP = ("[/red]", "[link=x]", "[bold]x")


def test_show_list_and_probe_print_rich_markup_and_emoji_codes_from_a_file_as_text(zoo, tmp_path):
    source = zoo["sd1-kohya-lora"].path
    with safe_open(source, "pt") as f:
        metadata = f.metadata() or {}
    lib = tmp_path / "lib"
    lib.mkdir()
    path = lib / "odd [link=x] [bold] :fire:.safetensors"
    save_file(
        load_file(source),
        path,
        {
            **metadata,
            "modelspec.trigger_phrase": "a [/red] cat, [link=x]here :smile:",
            "ss_output_name": "[bold]x",
            "ss_sd_model_name": "[/red]ponyDiffusionV6XL[link=x]",
            "ss_training_comment": "[/] [link=x]",
        },
    )
    catalog = str(tmp_path / "c.db")
    assert cli("scan", lib, catalog=catalog).exit_code == 0
    for args in [("show", path), ("list",), ("probe", path), ("inspect", path, "--layers")]:
        result = cli(*args, catalog=catalog)
        assert result.exit_code == 0, (args, result.output)
        assert "[link=x]" in result.stdout and ":fire:" in result.stdout, (args, result.stdout)
    shown = cli("show", path, catalog=catalog).stdout
    assert all(text in shown for text in ("a [/red] cat", "[bold]x", "[/] [link=x]", "odd [link=x] [bold]", ":smile:"))
