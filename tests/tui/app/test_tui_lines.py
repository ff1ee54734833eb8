"""Model lines in the terminal app: a facet that counts them and keeps one, the filter word
``line:``, the table's line column and the detail's line with its evidence, on the example catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from loradex.tui.app import make_app
from loradex.tui.app.widgets.artifact_table import ArtifactTable
from loradex.tui.app.widgets.facets import Facet
from tests.support.ops_cli import cli_json
from tests.support.tui_catalog import example_catalog
from tests.support.tui_pilot import plain, until

SIZE = (160, 45)


@pytest.fixture
def example(tmp_path) -> Path:
    return example_catalog(tmp_path / "example", extras=False)


def names(app) -> list[str]:
    return [r.name for r in app.screen.query_one(ArtifactTable).rows]


def listed(example: Path, *args: str) -> list[str]:
    return [a["name"] for a in cli_json("list", *args, catalog=str(example))["artifacts"]]


async def test_the_line_facet_counts_each_line_and_keeps_the_one_chosen(example):
    every = cli_json("list", catalog=str(example))["artifacts"]
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        facet = app.screen.query_one("#facet-line", Facet)
        assert [str(o.prompt) for o in facet.options] == [
            f"all ({len(every)})",
            f"none ({sum(a['line'] is None for a in every)})",
            "dev (3)",  # the FLUX.1 [dev] LoRAs whose modelspec names it
            "illustrious (2)",
            "pony (2)",
        ]
        facet.focus()
        facet.highlighted = next(i for i, o in enumerate(facet.options) if o.id == "pony")
        await pilot.press("enter")
        await pilot.pause()
        assert names(app) == listed(example, "--line", "pony") == ["sdxl-pony-lora", "tiny-ponyDiffusionV6XL"]
        # the other facets now count within the line: its two artifacts are a LoRA and a checkpoint
        kinds = [str(o.prompt) for o in app.screen.query_one("#facet-kind", Facet).options]
        assert kinds[0] == "all (2)" and sorted(kinds[1:]) == ["checkpoint (1)", "lora (1)"]


async def test_the_filter_word_line_narrows_like_list_line(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"kind:lora line:illustrious")
        await pilot.pause()
        assert names(app) == listed(example, "--kind", "lora", "--line", "illustrious") == ["sdxl-illustrious-lora"]
        await pilot.press(*"x")  # line:illustriousx
        await pilot.pause()
        assert "unknown line" in str(app.screen.query_one("#filter").border_subtitle)


async def test_the_table_shows_each_row_s_line_and_the_detail_its_evidence(example):
    app = make_app(example)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"sdxl-pony-lora")
        await pilot.pause()
        table = app.screen.query_one(ArtifactTable)
        line = table.render_line(0).text.split()
        assert line[:5] == [str(table.rows[0].id), "sdxl-pony-lora", "lora", "kohya", "pony"]  # base/line
        await pilot.press("enter")
        await pilot.pause()
        text = " ".join(plain(app.screen.query_one("#metadata")).split())
        assert "line pony (exact)" in text
        assert "line evidence trained on tiny-ponyDiffusionV6XL (id" in text
        assert "trained on tiny-ponyDiffusionV6XL (id" in text and ", pony)" in text
        await until(pilot, lambda: "tiny-illustriousXL" in plain(app.screen.query_one("#fits")))
        fits = {line.split()[0]: line for line in plain(app.screen.query_one("#fits")).splitlines() if line.strip()}
        assert fits["tiny-illustriousXL_v01"].rstrip().endswith("compatible  another line: illustrious")
        assert fits["tiny-ponyDiffusionV6XL"].rstrip().endswith("compatible")
