"""The main screen as a user drives it (Textual's pilot): the filter, the keys, opening and quitting."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog
from loradex.tui.app import make_app
from loradex.tui.app.widgets.artifact_table import COLUMNS
from tests.support.ops_cli import cli_json

EXAMPLE = Path(__file__).parents[3] / "catalog.db.example"
SIZE = (160, 45)


@pytest.fixture
def example(tmp_path) -> Path:
    """A copy of the example catalog (the app must never change the file it was given)."""
    return Path(shutil.copy2(EXAMPLE, tmp_path / "catalog.db"))


def names(app) -> list[str]:
    return [r.name for r in app.screen.query_one("#table").rows]


async def test_the_table_has_focus_and_the_filter_is_empty_on_start(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.focused is app.screen.query_one("#table")
        assert app.screen.query_one("#filter").value == ""
        assert len(names(app)) == len(cli_json("list", catalog=str(example))["artifacts"])


@pytest.mark.parametrize("text", ["kohya", "sdxl", "orange cat", "lora"])
async def test_plain_text_in_the_filter_shows_exactly_the_rows_of_list_text(example, text):
    expected = [a["name"] for a in cli_json("list", "--text", text, catalog=str(example))["artifacts"]]
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *text)
        await pilot.pause()
        assert names(app) == expected and 0 < len(expected) < 28


async def test_keys_that_arrive_in_one_burst_after_slash_are_typed_in_the_filter(example):
    """A terminal delivers a pasted or fast-typed ``/portrait`` at once: the keys after ``/`` are
    already queued when it is handled, and must reach the filter, not the table (``p`` publishes)."""
    from textual import events

    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in ["slash", *"portrait"]:
            app.post_message(events.Key(key, "/" if key == "slash" else key))
        await pilot.pause()
        assert app.screen.query_one("#filter").value == "portrait"
        assert type(app.screen).__name__ == "MainScreen" and app.focused is app.screen.query_one("#filter")


async def test_a_slash_typed_in_the_filter_is_text(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"sd", "slash", "x", "slash")
        await pilot.pause()
        assert app.screen.query_one("#filter").value == "sd/x/"


async def test_filter_words_narrow_like_list_options(example):
    expected = [
        a["name"] for a in cli_json("list", "--kind", "lora", "--base", "sdxl", catalog=str(example))["artifacts"]
    ]
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"kind:lora base:sdxl")
        await pilot.pause()
        assert names(app) == expected


async def test_an_unknown_filter_word_is_said_under_the_filter_and_the_last_rows_stay(example):
    loras = [a["name"] for a in cli_json("list", "--kind", "lora", catalog=str(example))["artifacts"]]
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"kind:loras")  # "kind:lora" was a valid filter one key before
        await pilot.pause()
        assert "unknown kind" in str(app.screen.query_one("#filter").border_subtitle)
        assert names(app) == loras


async def test_escape_leaves_the_filter_and_enter_there_opens_the_first_match(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"sdxl-kohya", "escape")
        assert app.focused is app.screen.query_one("#table")
        await pilot.press("slash", "enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "DetailScreen" and app.screen.sub_title == "sdxl-kohya-lora"


async def test_enter_opens_the_selected_row_and_escape_comes_back(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        third = names(app)[2]
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "DetailScreen" and app.screen.sub_title == third
        await pilot.press("escape")
        assert type(app.screen).__name__ == "MainScreen"


async def test_clicking_a_column_title_sorts_by_it_and_again_reverses(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one("#columns")
        before = [c.title for c in COLUMNS].index("size")
        size_x = sum(c.width + 1 for c in COLUMNS[:before]) + 2  # inside the "size" title
        await pilot.click(header, offset=(size_x, 0))
        await pilot.pause()
        rows = app.screen.query_one("#table").rows
        assert [r.size for r in rows] == sorted(r.size for r in rows)
        await pilot.click(header, offset=(size_x, 0))
        await pilot.pause()
        rows = app.screen.query_one("#table").rows
        assert [r.size for r in rows] == sorted((r.size for r in rows), reverse=True)


async def test_names_up_to_28_characters_show_whole_at_160_columns(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#table")
        lines = [table.render_line(y).text for y in range(min(len(table.rows), table.size.height))]
        # Only the rows on screen have a line: the table may hold more.
        for row, line in zip(table.rows, lines, strict=False):
            if len(row.name) <= 28:
                assert row.name in line


@pytest.mark.parametrize("where", ["main", "detail"])
async def test_q_quits_from_the_main_and_the_detail_screen(example, where):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        if where == "detail":
            await pilot.press("enter")
            await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code in (0, None) and not app.is_running


async def test_q_typed_in_the_filter_is_text_not_quit(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", "q")
        await pilot.pause()
        assert app.is_running and app.screen.query_one("#filter").value == "q"


async def test_question_mark_shows_the_key_bindings(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")


async def test_browsing_leaves_the_catalog_file_unchanged(example):
    before = example.read_bytes()
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"lora", "enter")
        await pilot.pause()
        await pilot.press("q")
    with sqlite3.connect(example) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert example.read_bytes() == before


async def test_a_catalog_url_shows_its_rows_and_details_on_either_backend(catalog_url, zoo, tmp_path):
    """A SQLite file at the current schema is read with sqlite3, a PostgreSQL catalog through its
    engine: the same rows, and an artifact's details."""
    library = tmp_path / "lib"
    library.mkdir()
    shutil.copy2(zoo["sd1-kohya-lora"].path, library)
    engine = open_catalog(catalog_url)
    scan([library], engine=engine)
    engine.dispose()
    app = make_app(catalog_url)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        name = zoo["sd1-kohya-lora"].path.stem
        assert names(app) == [name]
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "DetailScreen" and app.screen.artifact.name == name
        assert app.screen.details.layers.layers > 0
    app.catalog.close()


def test_opening_the_app_and_an_artifact_imports_neither_torch_nor_sqlalchemy(example):
    """Torch loads when an action needs it; SQLAlchemy and SQLModel (~0.5 s) when a flow writes: a
    catalog file at the current schema is read with plain sqlite3, its first screen and an
    artifact's details included."""
    code = f"""
import asyncio, sys
from loradex.tui.app import make_app
async def main():
    app = make_app({str(example)!r})
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("slash", "k", "enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "DetailScreen", app.screen
asyncio.run(main())
print(sorted(name for name in ("torch", "sqlalchemy", "sqlmodel", "pydantic") if name in sys.modules))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


async def test_the_command_palette_opens_the_selected_artifact(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Open the selected")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ == "DetailScreen" and app.screen.sub_title == names_of_first(example)


def names_of_first(example) -> str:
    return cli_json("list", catalog=str(example))["artifacts"][0]["name"]
