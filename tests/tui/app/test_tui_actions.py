"""The TUI's actions, driven through Textual's pilot on real catalogs of zoo copies: the mix tray
bakes a real checkpoint, edits persist, forget keeps the file unless asked twice, errors are
notifications, a quick-test renders on the tiny diffusers base, publish shows the card first."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input, Select, TextArea

from loradex.adapters.progress import ProgressEvent
from loradex.registry.queries import artifact_detail, lookup, orm
from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.tui.app import make_app
from loradex.tui.app.jobs import Job
from loradex.tui.app.screens.confirm import ConfirmDialog
from loradex.tui.app.screens.mix_tray import MixTrayScreen, WeightDialog
from loradex.tui.app.screens.progress import ProgressDialog
from loradex.tui.app.widgets.artifact_table import ArtifactTable
from tests.support.tui_pilot import add_to_tray, errors, notes, select, sync, until

SIZE = (160, 48)


@pytest.fixture
def library(zoo, tmp_path):
    """A SQLite catalog file of zoo copies: the SD1 single file and diffusers folder, two SD1 LoRAs, an SDXL LoRA."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("sd1-single", "sd1-kohya-lora", "sd1-kohya-locon", "sdxl-kohya-lora"):
        shutil.copy2(zoo[name].path, lib / zoo[name].path.name)
    shutil.copytree(zoo["sd1-diffusers"].path, lib / "tiny-sd1-diffusers")
    db = tmp_path / "catalog.db"
    engine = open_catalog(str(db), create=True)
    scan([lib], engine=engine)
    yield engine, lib, db
    engine.dispose()


async def run_tray(pilot, button: str, output: Path, base: Path | None = None) -> None:
    await pilot.press("m")
    await until(pilot, lambda: isinstance(pilot.app.screen, MixTrayScreen))
    tray = pilot.app.screen
    if base is not None:
        tray.query_one("#base", Select).value = str(base)
        await pilot.pause()
    tray.query_one("#output", Input).value = str(output)
    await pilot.pause()
    await pilot.click(f"#{button}")


def row_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM artifact").fetchone()[0]


@sync
async def test_the_tray_bakes_two_loras_into_the_checkpoint_and_the_result_is_selected_with_its_lineage(library):
    engine, lib, db = library
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await add_to_tray(pilot, "sd1-kohya-lora", "0.8")
        await add_to_tray(pilot, "sd1-kohya-locon")
        assert [(i.name, i.weight) for i in app.tray] == [("sd1-kohya-lora", 0.8), ("sd1-kohya-locon", 1.0)]
        out = lib / "baked.safetensors"
        await run_tray(pilot, "bake", out, base=lib / "tiny-sd1.safetensors")
        await until(pilot, lambda: any(n.startswith("Baked") for n in notes(app)))
        assert not errors(app) and out.is_file()
        table = app.screen.query_one(ArtifactTable)
        assert table.current is not None and table.current.name == "baked" and table.current.kind == "checkpoint"
    with open_session(engine) as session:
        (made,) = artifact_detail.lineage(session, orm.resolve(session, "baked")).made_by
        assert made.op == "bake"
        used = [(i.role, i.weight, i.artifact.name if i.artifact else None) for i in made.inputs]
    assert used == [("base", 1.0, "tiny-sd1"), ("input", 0.8, "sd1-kohya-lora"), ("input", 1.0, "sd1-kohya-locon")]


@sync
async def test_a_failing_bake_or_mix_is_a_notification_and_the_app_keeps_running(library, tmp_path):
    engine, lib, db = library
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await add_to_tray(pilot, "sdxl-kohya-lora")
        await run_tray(pilot, "bake", tmp_path / "wrong.safetensors", base=lib / "tiny-sd1.safetensors")
        await until(pilot, lambda: errors(app))
        assert not (tmp_path / "wrong.safetensors").exists()
        assert not isinstance(app.screen, ProgressDialog)
        await run_tray(pilot, "mix", tmp_path / "no" / "such" / "folder" / "mix.safetensors")
        await until(pilot, lambda: len(errors(app)) == 2)
        # the app still answers keys: sort, then the tray again
        main = app.screen
        await pilot.press("s")
        assert main.sort == "-name"
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MixTrayScreen))
        await pilot.press("escape")
        assert app.is_running


@sync
async def test_editing_tags_note_and_weight_persists(library):
    engine, lib, db = library
    app = make_app(db)  # the file, read with plain sqlite3: the edit opens the engine
    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-lora")
        await pilot.press("e")
        await until(pilot, lambda: app.screen.query("#tags"))
        app.screen.query_one("#tags", Input).value = "Style, cats , style"
        app.screen.query_one("#weight", Input).value = "0.7"
        app.screen.query_one("#notes", TextArea).text = "good at 0.7"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(n.startswith("Tagged") for n in notes(app)))
        table = app.screen.query_one(ArtifactTable)
        assert table.current.name == "sd1-kohya-lora" and table.current.tags == ("cats", "style")
    app.catalog.close()
    with open_session(engine) as session:
        artifact = orm.resolve(session, "sd1-kohya-lora")
        assert lookup.tags_of(session, artifact) == ["cats", "style"]
        assert artifact.preferred_weight == 0.7 and artifact.notes == "good at 0.7"
    # a bad weight is refused in the dialog; the next add to the tray starts from the preferred weight
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-lora")
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, WeightDialog))
        assert app.screen.query_one(Input).value == "0.7"
        await pilot.press("escape")
        # the action keys work on the detail screen too (through the app's bindings)
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "artifact_id", None) is not None)
        await pilot.press("e")
        await until(pilot, lambda: app.screen.query("#tags"))
        assert app.screen.artifact_name == "sd1-kohya-lora"


@sync
async def test_the_table_shows_what_another_process_committed_while_the_app_was_open(library):
    engine, lib, db = library
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-lora")
        cli = [sys.executable, "-m", "loradex.tui.cli", "--catalog", str(db), "tag", "sd1-kohya-lora", "+fresh"]
        subprocess.run(cli, check=True, capture_output=True)
        app.reload()
        await pilot.pause()
        assert app.screen.query_one(ArtifactTable).current.tags == ("fresh",)
    app.catalog.close()


@sync
async def test_forget_removes_the_row_but_keeps_the_file_unless_confirmed_twice(library):
    engine, lib, db = library
    before = row_count(db)
    locon, lora = lib / "sd1-kohya-locon.safetensors", lib / "sd1-kohya-lora.safetensors"
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-locon")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: any(n.startswith("Forgot") for n in notes(app)))
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))  # the second question
        await pilot.press("n")
        await pilot.pause()
        names = [r.name for r in app.screen.query_one(ArtifactTable).rows]
        assert "sd1-kohya-locon" not in names and locon.is_file()
        select(app, "sd1-kohya-lora")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: sum(n.startswith("Forgot") for n in notes(app)) == 2)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: any(n.startswith("Deleted") for n in notes(app)))
        assert not lora.exists() and not errors(app)
    assert row_count(db) == before - 2


@sync
async def test_rescan_then_quit_leaves_the_catalog_intact(library):
    engine, lib, db = library
    before = row_count(db)
    shutil.copy2(lib / "sd1-kohya-lora.safetensors", lib / "copy.safetensors")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await until(pilot, lambda: any(n.startswith("Rescanned") for n in notes(app)))
        assert "1 added" in notes(app)[-1]
        assert "copy" in [r.name for r in app.screen.query_one(ArtifactTable).rows]
        # the same action from the command palette
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"rescan the")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: sum(n.startswith("Rescanned") for n in notes(app)) == 2)
        assert "0 added" in notes(app)[-1]
        await pilot.press("q")
    engine.dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert row_count(db) == before + 1


@sync
async def test_a_running_job_shows_progress_and_escape_cancels_it(library):
    engine, lib, db = library
    app = make_app(engine)

    def slow(progress):
        for i in range(1000):
            progress(ProgressEvent("count", i, 1000, f"step {i}"))
            time.sleep(0.01)
        return "finished"

    async def count(job: Job) -> None:  # a flow: await the job, say its result
        result = await app.jobs.run(job)
        if result is not None:
            app.notify(result)

    async with app.run_test(size=SIZE) as pilot:
        app.run_worker(count(Job("Counting…", slow, cancelled="Cancelled counting.")))
        await until(pilot, lambda: isinstance(app.screen, ProgressDialog))
        await pilot.pause(0.3)
        assert app.screen.query_one("ProgressBar").total == 1000
        await pilot.press("escape")
        await until(pilot, lambda: "Cancelled counting." in notes(app))
        assert "finished" not in notes(app) and not isinstance(app.screen, ProgressDialog)
        await pilot.press("s")  # the app answers again
        assert app.screen.sort == "-name"
        # quitting while a job runs stops it too (the worker is cancelled, its thread ends at the next step)
        app.run_worker(count(Job("Counting…", slow)))
        await until(pilot, lambda: isinstance(app.screen, ProgressDialog))
        started = time.monotonic()
        await pilot.press("ctrl+q")
    assert time.monotonic() - started < 5 and app.return_code in (0, None)


@sync
async def test_publish_shows_the_dry_run_card_first_and_sends_only_when_confirmed(library, fake_hub):
    from tests.support.fakehub import ALICE_TOKEN

    engine, lib, db = library
    app = make_app(engine)
    app.hub_endpoint, app.hub_token = fake_hub.url, ALICE_TOKEN
    from loradex.tui.app.screens.publish import PublishForm, PublishPreview

    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-lora")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PublishForm))
        app.screen.query_one("#repo", Input).value = "alice/kohya"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PublishPreview))
        assert "sd1-kohya-lora" in app.screen.card and fake_hub.commit_posts == []
        await pilot.press("escape")  # not sent
        await pilot.pause()
        assert fake_hub.commit_posts == []
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PublishForm))
        assert app.screen.query_one("#repo", Input).value == "alice/kohya"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PublishPreview))
        await pilot.click("#publish")
        await until(pilot, lambda: any(n.startswith("Published") for n in notes(app)))
        assert notes(app)[-1].startswith(f"Published sd1-kohya-lora to {fake_hub.url}/alice/kohya")
        assert len(fake_hub.commit_posts) == 1


@sync
async def test_quick_test_renders_on_the_tiny_base_shows_the_sheet_and_records_previews(library):
    engine, lib, db = library
    base = lib / "tiny-sd1-diffusers"
    app = make_app(engine)
    from loradex.tui.app.screens.quick_test import QuickTestDialog
    from loradex.tui.app.screens.sheet import SheetScreen

    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-lora")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, QuickTestDialog))
        form = app.screen
        assert form.query_one("#base", Select).value == str(base)  # the diffusers folder of the LoRA's family
        for key, value in {
            "prompt": "an orange cat",
            "seeds": "1",
            "scales": "0,1",
            "steps": "2",
            "size": "32x32",
        }.items():
            form.query_one(f"#{key}", Input).value = value
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, SheetScreen), timeout=60)
        sheet = app.screen.sheet
        await until(pilot, lambda: notes(app))  # notify() posts a message: it may land after the sheet is up
        assert sheet.is_file() and "Tested sd1-kohya-lora: rendered 2 images, recorded 2 previews." in notes(app)
        assert [(i.seed, i.scale) for i in app.screen.images] == [(1, 0.0), (1, 1.0)]
        assert app.warm.base == str(base)
        bench = app.warm.bench
        await pilot.press("escape")
        assert app.screen.query_one(ArtifactTable).current.previews == 2
        # again, on the same base: no reload
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, QuickTestDialog))
        assert app.screen.query_one("#steps", Input).value == "2"  # the last run's values
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, SheetScreen), timeout=60)
        await until(pilot, lambda: len(notes(app)) == 2)
        assert app.warm.bench is bench and "already loaded" in notes(app)[-1]


@sync
async def test_the_quick_test_form_renders_a_controlnet_from_a_control_image_with_canny(library, zoo, tmp_path):
    from PIL import Image, ImageDraw
    from textual.widgets import Checkbox

    from loradex.adapters.generate import read_record
    from loradex.tui.app.screens.quick_test import QuickTestDialog
    from loradex.tui.app.screens.sheet import SheetScreen

    engine, lib, db = library
    shutil.copytree(zoo["sd1-controlnet-diffusers"].path, lib / "sd1-controlnet-diffusers")
    scan([lib], engine=engine)
    photo = tmp_path / "photo.png"
    im = Image.new("RGB", (64, 48), (128, 120, 110))
    ImageDraw.Draw(im).rectangle([8, 8, 32, 24], fill=(20, 30, 40))
    im.save(photo)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-controlnet-diffusers")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, QuickTestDialog))
        form = app.screen
        for key, value in {
            "prompt": "a house",
            "seeds": "1",
            "scales": "1",
            "steps": "2",
            "size": "32x32",
            "control": str(photo),
        }.items():
            form.query_one(f"#{key}", Input).value = value
        form.query_one("#canny", Checkbox).value = True
        out = tmp_path / "cn"
        form.query_one("#out", Input).value = str(out)
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, SheetScreen), timeout=120)
    (png,) = out.glob("0*.png")
    record = read_record(png)["controlnet"]
    assert record["image"] == str(photo) and record["preprocessor"] == "canny"


@sync
async def test_an_edit_on_the_detail_screen_shows_there_and_forgetting_goes_back_to_the_table(library):
    engine, lib, db = library
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        select(app, "sd1-kohya-lora")
        await pilot.press("enter")
        await until(pilot, lambda: getattr(app.screen, "artifact_id", None) is not None)
        detail = app.screen
        await pilot.press("e")
        await until(pilot, lambda: app.screen.query("#tags"))
        app.screen.query_one("#tags", Input).value = "fresh"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen is detail and detail.details.tags == ["fresh"])
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: any(n.startswith("Forgot") for n in notes(app)))
        await until(pilot, lambda: type(app.screen).__name__ == "MainScreen" or isinstance(app.screen, ConfirmDialog))
        if isinstance(app.screen, ConfirmDialog):  # the second question (delete the file too?): no
            await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ == "MainScreen")
        assert "sd1-kohya-lora" not in [r.name for r in app.screen.query_one(ArtifactTable).rows]
