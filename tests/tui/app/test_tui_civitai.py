"""Civitai in the TUI, against the fake Civitai: the look-up action records what the site says and
the detail shows it (page, version, line, license, deleted upstream) with the example images and
their prompts; a dead site is one line; escape cancels a slow look-up and the catalog keeps what
was committed."""

from __future__ import annotations

import shutil
import socket

import pytest

from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog
from loradex.tui.app import make_app
from loradex.tui.app.screens.detail import DetailScreen
from loradex.tui.app.screens.progress import ProgressDialog
from loradex.tui.app.widgets.previews import Previews
from tests.support.fakecivitai import file_hashes
from tests.support.tui_pilot import errors, notes, plain, sync, until

SIZE = (160, 48)
LORA = "sd1-kohya-lora"


@pytest.fixture
def library(zoo, tmp_path):
    """A SQLite catalog of one SD1 LoRA (a zoo copy); its engine and (sha256, AutoV3)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    copy = lib / zoo[LORA].path.name
    shutil.copy2(zoo[LORA].path, copy)
    engine = open_catalog(str(tmp_path / "catalog.db"), create=True)
    scan([lib], engine=engine)
    yield engine, file_hashes(copy)
    engine.dispose()


def civitai_state(engine) -> list[str]:
    with engine.connect() as conn:
        return [state for (state,) in conn.exec_driver_sql("SELECT state FROM civitai_record")]


async def open_detail(pilot) -> DetailScreen:
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen))
    await pilot.pause()
    return pilot.app.screen


@sync
async def test_looking_up_on_civitai_records_it_and_the_detail_shows_the_page_and_the_examples(library, fake_civitai):
    engine, hashes = library
    fake_civitai.add_version(
        *hashes, version_id=9, model_id=4, model_name="Cat", name="v3", base_model="Pony", trained_words=["sks cat"]
    )
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot)
        assert "not looked up: l asks Civitai" in plain(screen.query_one("#civitai"))
        await pilot.press("l")
        await until(pilot, lambda: any("on Civitai" in n for n in notes(app)))
        assert f"{LORA} is Cat / v3 (Pony) on Civitai, 2 example images." in notes(app)
        await until(pilot, lambda: "Cat" in plain(pilot.app.screen.query_one("#civitai")))  # redrawn
        screen = pilot.app.screen
        section = " ".join(plain(screen.query_one("#civitai")).split())
        assert f"{fake_civitai.url}/models/4?modelVersionId=9" in section
        assert "version v3 (id 9), published 2025-03-01" in section and "base model Pony (line pony)" in section
        assert "license no credit needed, commercial use: Image, RentCivit" in section
        previews = screen.query_one(Previews)
        assert previews.border_title == "previews (2, 2 from Civitai)"
        captions = [" ".join(plain(c).split()) for c in previews.query(".caption")]
        assert captions[0].startswith(
            "seed 1234, steps 28, CFG 7, 512x768 DPM++ 2M Karras from Civitai a photo of sks, example 0"
        )
        assert captions[0].endswith("negative: blurry")
        # gone upstream: asked again, it says so and keeps what was known
        fake_civitai.delete_version(9)
        await pilot.press("l")
        await until(pilot, lambda: any("deleted upstream" in n for n in notes(app)))
        await until(pilot, lambda: "deleted upstream" in plain(pilot.app.screen.query_one("#civitai")))
        section = plain(pilot.app.screen.query_one("#civitai"))
        assert "Cat" in section and pilot.app.screen.query_one(Previews).border_title == "previews (2, 2 from Civitai)"
    assert civitai_state(engine) == ["deleted"]


@sync
async def test_a_dead_site_is_one_line_and_the_catalog_unchanged(library, monkeypatch):
    engine, _ = library
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("CIVITAI_HOST", f"http://127.0.0.1:{s.getsockname()[1]}")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await until(pilot, lambda: bool(errors(app)))
        assert "is not reachable" in errors(app)[0] and "\n" not in errors(app)[0]
        assert not isinstance(app.screen, ProgressDialog)
    assert civitai_state(engine) == []


@sync
async def test_escape_cancels_a_slow_look_up_and_the_catalog_keeps_what_was_committed(library, fake_civitai):
    engine, hashes = library
    fake_civitai.add_version(*hashes, version_id=9, model_id=4, images=0)
    # Long enough that a loaded machine's pilot still sees the dialog while the site answers.
    fake_civitai.delay = 5.0
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, ProgressDialog))
        await pilot.press("escape")
        await until(pilot, lambda: any(n.startswith("Cancelled looking") for n in notes(app)))
        assert not isinstance(app.screen, ProgressDialog)
        assert not any(n.endswith("on Civitai.") for n in notes(app))
    assert civitai_state(engine) in ([], ["matched"])  # committed before the cancel took, or never asked
