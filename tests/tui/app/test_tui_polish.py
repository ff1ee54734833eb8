"""The app where users notice polish: the filter (an exact name, quoted tags, a bad value, facet
counts), rows of one name told apart, the publish card's YAML, the mix tray's method, rank and
output folder and block weights, the rank bars' colour, and contact-sheet labels as text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from rich.syntax import Syntax
from textual.widgets import Input, Label, Markdown, Select, Static
from textual_image.widget import HalfcellImage

from loradex.adapters.ops.recipe_sources import read_recipe
from loradex.registry.queries import orm
from loradex.registry.services import edits
from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.tui.app import make_app
from loradex.tui.app.screens.mix_tray import MixTrayScreen
from loradex.tui.app.screens.publish import PublishPreview
from loradex.tui.app.screens.sheet import SheetScreen
from loradex.tui.app.widgets.artifact_table import COLUMNS, ArtifactTable, fit
from loradex.tui.app.widgets.block_chart import BlockChart
from loradex.tui.app.widgets.facets import Facet
from tests.support.ops_cli import cli_json
from tests.support.tui_catalog import example_catalog
from tests.support.tui_pilot import add_to_tray, errors, notes, until

SIZE = (160, 45)


@pytest.fixture
def example(tmp_path) -> Path:
    return example_catalog(tmp_path / "example", extras=False)


def names(app) -> list[str]:
    return [r.name for r in app.screen.query_one(ArtifactTable).rows]


def facet_counts(app, facet: str) -> list[str]:
    return [str(o.prompt) for o in app.screen.query_one(f"#facet-{facet}", Facet).options]


async def test_enter_in_the_filter_opens_the_artifact_of_that_exact_name(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"sd1-kohya-lora sort:-size")
        await pilot.pause()
        assert names(app)[0] == "sd1-kohya-lora-mislabelled"  # the first match is another artifact
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "DetailScreen" and app.screen.sub_title == "sd1-kohya-lora"


async def test_a_quoted_tag_with_blanks_filters_like_list_tag(example):
    engine = open_catalog(str(example))
    with open_session(engine) as session:
        for name in ("sd1-kohya-lora", "sdxl-kohya-lora"):
            edits.set_tags(session, orm.resolve(session, name), add=["Dark Fantasy"])
        edits.set_tags(session, orm.resolve(session, "sd1-kohya-locon"), add=["dark"])
    engine.dispose()
    expected = [a["name"] for a in cli_json("list", "--tag", "dark fantasy", catalog=str(example))["artifacts"]]
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *'tag:"dark fantasy"')
        await pilot.pause()
        assert names(app) == expected == ["sd1-kohya-lora", "sdxl-kohya-lora"]
        assert not app.screen.query_one("#filter", Input).border_subtitle


@pytest.mark.parametrize(
    ("typed", "why"), [("rank>=abc", "rank takes a whole number"), ("rank<=", "rank takes a whole number")]
)
async def test_a_value_the_filter_cannot_read_is_said_under_it_and_the_rows_stay(example, typed, why):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *typed[:-1])
        await pilot.pause()
        before = names(app)
        await pilot.press(typed[-1])
        await pilot.pause()
        assert why in str(app.screen.query_one("#filter", Input).border_subtitle)
        assert names(app) == before


async def counted(app, pilot) -> None:
    """Wait for the facet counts of what was typed (counted off the UI thread)."""
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_facet_counts_follow_the_filter(example):
    def counts(*args: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for a in cli_json("list", *args, catalog=str(example))["artifacts"]:
            found[a["kind"]] = found.get(a["kind"], 0) + 1
        return found

    sdxl = counts("--text", "sdxl")
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"sdxl")
        await counted(app, pilot)
        shown = facet_counts(app, "kind")
        assert shown[0] == f"all ({sum(sdxl.values())})"
        assert sorted(shown[1:]) == sorted(f"{kind} ({n})" for kind, n in sdxl.items())
        # a facet counts without its own condition: with kind:lora, the other kinds stay to switch to
        await pilot.press(*" kind:lora")
        await counted(app, pilot)
        assert facet_counts(app, "kind") == shown
        assert facet_counts(app, "base")[0] == f"all ({counts('--text', 'sdxl', '--kind', 'lora')['lora']})"


async def test_rows_of_one_name_show_their_id_format_and_path(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"tiny-sd1 kind:checkpoint")
        await pilot.pause()
        table = app.screen.query_one(ArtifactTable)
        twins = [(row, table.render_line(y).text) for y, row in enumerate(table.rows) if row.name == "tiny-sd1"]
        assert len(twins) == 2
        width = next(c.width for c in COLUMNS if c.title == "format")
        for row, line in twins:
            assert line.split()[0] == str(row.id) and fit(row.format, width).strip() in line
            assert line.rstrip().endswith(row.path[-14:])  # the path's end: bases/….ckpt or ….safetensors
        assert twins[0][1] != twins[1][1]


CARD = """---
license: mit
base_model: runwayml/stable-diffusion-v1-5
tags:
- lora
- stable-diffusion
---

# sd1-kohya-lora

A LoRA.
"""


async def test_the_publish_preview_shows_the_front_matter_as_yaml(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(PublishPreview("alice/x", CARD, [{"path_in_repo": "x.safetensors", "size": 1000}]))
        await pilot.pause()
        front = app.screen.query_one("#front-matter", Static).content
        assert isinstance(front, Syntax) and front.lexer.name == "YAML"
        assert (
            front.code == "---\nlicense: mit\nbase_model: runwayml/stable-diffusion-v1-5\ntags:\n- lora\n"
            "- stable-diffusion\n---"
        )
        body = app.screen.query_one("#markdown", Markdown).source
        assert body.lstrip().startswith("# sd1-kohya-lora") and "license" not in body


@pytest.fixture
def library(zoo, tmp_path):
    """A catalog beside (not inside) a folder of two SD1 LoRAs, as a downloads folder."""
    lib = tmp_path / "downloads"
    lib.mkdir()
    for name in ("sd1-kohya-lora", "sd1-kohya-locon"):
        shutil.copy2(zoo[name].path, lib / zoo[name].path.name)
    db = tmp_path / "catalogs" / "catalog.db"
    db.parent.mkdir()
    engine = open_catalog(str(db), create=True)
    scan([lib], engine=engine)
    yield engine, lib, db
    engine.dispose()


async def test_the_mix_tray_mixes_by_svd_at_a_rank_into_the_catalogs_outputs_folder(library):
    engine, lib, db = library
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await add_to_tray(pilot, "sd1-kohya-lora", "0.8")
        await add_to_tray(pilot, "sd1-kohya-locon", "0.5")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MixTrayScreen))
        tray = app.screen
        out = db.parent / "outputs" / "mix-sd1-kohya-lora+sd1-kohya-locon.safetensors"
        assert tray.query_one("#output", Input).value == str(out)
        assert tray.query_one("#rank", Input).disabled
        tray.query_one("#method", Select).value = "svd"
        await pilot.pause()
        assert not tray.query_one("#rank", Input).disabled
        await pilot.click("#mix")
        assert "the svd method needs a rank" in str(tray.query_one("#error", Static).content)
        tray.query_one("#rank", Input).value = "2"
        await pilot.pause(0.3)  # a button ignores a second click while it still shows the first
        await pilot.click("#mix")
        await until(pilot, lambda: any(n.startswith("Mixed") for n in notes(app)), timeout=120)
        assert (
            not errors(app)
            and out.is_file()
            and sorted(p.name for p in lib.iterdir()) == ["sd1-kohya-locon.safetensors", "sd1-kohya-lora.safetensors"]
        )
    recipe = read_recipe(out)
    assert recipe.params["method"] == "svd" and recipe.params["rank"] == 2
    assert [(Path(i.ref).name, i.weight) for i in recipe.loras] == [
        ("sd1-kohya-lora.safetensors", 0.8),
        ("sd1-kohya-locon.safetensors", 0.5),
    ]


async def test_the_mix_tray_takes_block_weights_as_the_command_line_does(library):
    engine, _, db = library
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await add_to_tray(pilot, "sd1-kohya-lora", "1")
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MixTrayScreen))
        tray = app.screen
        tray.query_one("#block-weights", Input).value = "OUTWARDS"
        await pilot.click("#mix")
        assert "unknown block-weight preset 'OUTWARDS'" in str(tray.query_one("#error", Static).content)
        tray.query_one("#block-weights", Input).value = "outall"
        await pilot.pause(0.3)  # a button ignores a second click while it still shows the first
        await pilot.click("#mix")
        await until(pilot, lambda: any(n.startswith("Mixed") for n in notes(app)), timeout=120)
        assert not errors(app)
    assert read_recipe(db.parent / "outputs" / "mix-sd1-kohya-lora.safetensors").params["block_weights"] == "OUTALL"


async def test_the_rank_bars_are_drawn_in_the_themes_primary_colour_not_the_error_colour(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(ArtifactTable)
        table.cursor = names(app).index("sd1-kohya-lora")
        await pilot.press("enter")
        await until(pilot, lambda: app.screen.query(BlockChart) and app.screen.query_one(BlockChart).block_layers)
        text = app.screen.query_one(BlockChart).content
        bars = {str(span.style) for span in text.spans if "█" in text.plain[span.start : span.end]}
        theme = app.current_theme
        assert str(theme.primary) in bars and not {str(theme.error), "magenta"} & bars


async def test_the_contact_sheet_labels_seeds_and_scales_as_text_beside_the_images(example, tmp_path):
    from loradex.tui.app.screens.sheet import SheetImage

    images = []
    for seed in (1, 2):
        for scale in (0.0, 0.5, 1.0):
            path = tmp_path / f"seed{seed}-scale{scale:g}.png"
            Image.new("RGB", (32, 32), (int(200 * scale), 80, 40 * seed)).save(path)
            images.append(SheetImage(seed, scale, str(path)))
    sheet = tmp_path / "contact-sheet.png"
    Image.new("RGB", (300, 200), "white").save(sheet)
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(SheetScreen(sheet, "sd1-kohya-lora on tiny-sd1", images[:-1]))  # the last one: not rendered
        await pilot.pause()
        labels = [str(label.content) for label in app.screen.query(Label)]
        assert [t for t in labels if t.startswith("seed:")] == ["seed: 1", "seed: 2"]
        assert [t for t in labels if t.startswith("scale:")] == ["scale: 0", "scale: 0.5", "scale: 1"]
        assert len(app.screen.query(HalfcellImage)) == 5
        assert [str(s.content) for s in app.screen.query(".missing")] == ["not rendered"]
