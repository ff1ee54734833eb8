"""The detail screen, driven with Textual's pilot on the example catalog (tests/support/tui_catalog.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from textual_image.widget import HalfcellImage

from loradex.adapters.model.blocks import block_order
from loradex.tui.app import make_app
from loradex.tui.app.screens.detail import DetailScreen
from loradex.tui.app.screens.main import MainScreen
from loradex.tui.app.widgets.block_chart import BlockChart, chart_block
from loradex.tui.app.widgets.previews import PreviewCard
from tests.support.tui_catalog import LORA, PROMPT, example_catalog
from tests.support.tui_pilot import plain

SIZE = (160, 45)


async def open_detail(pilot, name: str, query: str | None = None) -> DetailScreen:
    """Type ``name`` into the main screen's filter (emptied first) and open the first row."""
    if pilot.app.focused is pilot.app.screen.query_one("#filter"):  # back from a detail: focus stays there
        pilot.app.focused.value = ""
    else:
        await pilot.press("slash")
    await pilot.press(*(query or name), "enter")
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, DetailScreen) and screen.artifact.name == name
    return screen


@pytest.fixture
def catalog(tmp_path, zoo) -> Path:
    return example_catalog(tmp_path / "loradex", lora_file=zoo[LORA].path)


def test_the_detail_of_a_lora_shows_every_section(catalog):
    app = make_app(catalog)
    asyncio.run(_every_section(app, catalog))
    assert app.return_code == 0


async def _every_section(app, catalog):
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, LORA)
        text = {
            name: plain(screen.query_one(f"#{name}"))
            for name in (
                "metadata",
                "hashes",
                "trigger-words",
                "blocks",
                "fits",
                "lineage",
                "publications",
                "training-metadata",
            )
        }
        a = screen.artifact

        meta = text["metadata"]
        assert "zoo/adapters/sd1-kohya-lora.safetensors" in meta and "file missing" not in meta
        assert str(catalog.parent) not in meta  # shown relative to the catalog's folder
        for shown in (
            "lora (kohya)",
            "sd1",
            "cross-attention input width 768",
            "ss_base_model_version=sd_v1",
            "292.1 KB",
            "F16",
            "ranks",
            "84 (text_encoder 12, unet 72)",
        ):
            assert shown in meta, shown

        assert a.sha256 in text["hashes"] and a.autov2 in text["hashes"] and a.tensor_hash in text["hashes"]
        assert "model hash" in text["hashes"]

        words = text["trigger-words"].splitlines()
        assert words[0].split() == ["1.", "orange", "cat"]  # Artifact.trigger_words, ranked
        assert "cat  ×40" in text["trigger-words"] and "ss_tag_frequency, 3 tags" in text["trigger-words"]

        assert "ss_network_dim" in text["training-metadata"] and "ss_tag_frequency" not in text["training-metadata"]

        chart = screen.query_one(BlockChart)
        assert list(chart.block_layers) == ["TE", "IN01", "IN02", "MID", "OUT03", "OUT04", "OUT05"]
        assert chart.norms is not None and set(chart.norms) == set(chart.block_layers)  # filled by the worker
        assert all(n > 0 for n in chart.norms.values()) and "…" not in text["blocks"]
        rows = [line.split() for line in text["blocks"].splitlines()[1:]]
        assert [r[0] for r in rows] == ["IN01", "IN02", "MID", "OUT03", "OUT04", "OUT05", "TE"]
        assert all(r[1] == "12" and r[2] == "4" for r in rows)

        fits = text["fits"].splitlines()
        assert fits[0].split()[0] in ("tiny-sd1.ckpt", "tiny-sd1.safetensors") and fits[0].split()[-2:] == [
            "84/84",
            "compatible",
        ]
        assert any(line.startswith("tiny-sdxl ") and "20/84" in line and "incompatible" in line for line in fits)

        assert "used in mix (×0.6) → not catalogued" in text["lineage"]
        assert "example/sd1-kohya-lora @ 0123456789abcdef" in text["publications"]

        cards = list(screen.query(PreviewCard))
        assert len(cards) == 4 and len(screen.query(HalfcellImage)) == 3
        captions = [plain(card.query_one(".caption")) for card in cards]
        assert captions[1].startswith("seed 42, scale 0.5") and PROMPT[:15] in captions[1]
        missing = plain(cards[3].query_one(".missing"))
        assert "file missing" in missing and "zoo/previews/deleted.png" in missing

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("escape", "q")  # the filter had focus: back to the table, then quit


def test_missing_files_and_other_kinds_are_shown_not_crashed_on(catalog):
    asyncio.run(_other_kinds(make_app(catalog)))


async def _other_kinds(app):
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, "sd1-kohya-locon")  # its file is not there
        assert "(file missing)" in plain(screen.query_one("#metadata"))
        assert "norms: the file is missing" in plain(screen.query_one("#blocks"))
        assert "no previews" in plain(screen.query_one("#previews Static"))
        assert "used in mix (×0.4)" in plain(screen.query_one("#lineage"))
        await pilot.press("escape")

        screen = await open_detail(pilot, "sd1-ti-a1111")  # no layers: judged by family, no chart
        assert not screen.query_one(BlockChart).display
        fits = plain(screen.query_one("#fits"))
        assert "family compatible" in fits and "family incompatible" in fits
        await pilot.press("escape")

        screen = await open_detail(
            pilot, "tiny-sd2", "kind:checkpoint tiny-sd2"
        )  # a checkpoint: the adapters that fit it
        fits = screen.query_one("#fits")
        assert fits.border_title == "adapters that fit this checkpoint"
        assert "sd2-kohya-lora" in plain(fits) and "sd1-kohya-lora" not in plain(fits)
        await pilot.press("q")  # from the detail screen
    assert app.return_code == 0


def test_the_fits_section_says_which_layers_a_unet_only_checkpoint_does_not_hold(catalog, sd1_unet_only):
    """As ``check`` says it: the LoRA's text-encoder layers are not judged against a file without them."""
    from loradex.registry.services.scan import scan
    from loradex.registry.store.db import open_catalog

    scan([sd1_unet_only.parent], engine=open_catalog(str(catalog)), remember=False)
    app = make_app(catalog)
    fits = asyncio.run(_fits_of(app, LORA))
    (row,) = [line for line in fits.splitlines() if line.startswith("sd1-unet-only")]
    assert "72/72" in row and "compatible  12 text-encoder layers not in this file" in row
    whole = [line for line in fits.splitlines() if line.startswith("tiny-sd1")]
    assert whole and all("84/84" in line and "not in this file" not in line for line in whole)


async def _fits_of(app, name: str) -> str:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, name)
        fits = plain(screen.query_one("#fits"))
        await pilot.press("q")
    return fits


def test_the_detail_screen_paints_without_torch(tmp_path):
    """Opening a detail (here of a LoRA whose file is missing: no worker) imports no torch."""
    db = example_catalog(tmp_path / "loradex")
    script = f"""
import asyncio, json, sys
from loradex.adapters.model.blocks import block_order
from loradex.tui.app import make_app
app = make_app({str(db)!r})
async def main():
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("slash", *"sd1-kohya-locon", "enter")
        await pilot.pause()
        print(json.dumps([type(app.screen).__name__, "torch" in sys.modules]))
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["DetailScreen", False]


def test_a_preview_caption_names_every_adapter_applied_with_its_weight(catalog):
    from sqlmodel import select

    from loradex.registry.store.db import open_catalog
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact, Preview

    engine = open_catalog(catalog)
    with open_session(engine) as session:
        ids = {a.name: a.id for a in session.exec(select(Artifact).where(Artifact.name.in_([LORA, "sd1-kohya-locon"])))}
        first = session.exec(select(Preview).where(Preview.artifact_id == ids[LORA]).order_by(Preview.id)).first()
        session.add(
            Preview(
                artifact_id=ids[LORA],
                path=first.path,
                prompt=PROMPT,
                seed=1,
                scale=1.0,
                source="quicktest",
                base_family="sd1",
                adapters=[
                    {"artifact_id": ids[LORA], "name": LORA, "kind": "lora", "sha256": "", "weight": 3.2},
                    {
                        "artifact_id": ids["sd1-kohya-locon"],
                        "name": "sd1-kohya-locon",
                        "kind": "lora",
                        "sha256": "",
                        "weight": -2.0,
                    },
                ],
            )
        )
        session.commit()
    engine.dispose()
    captions = asyncio.run(_captions(make_app(catalog)))
    shown = [" ".join(c.split()) for c in captions]
    assert any(c.startswith("seed 1, scale 1 sd1-kohya-lora:3.2, sd1-kohya-locon:-2") for c in shown), shown


async def _captions(app) -> list[str]:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, LORA)
        captions = [plain(card.query_one(".caption")) for card in screen.query(PreviewCard)]
        await pilot.press("escape", "escape", "q")
    return captions


def test_the_block_chart_folds_a_dits_encoders_by_family_and_orders_its_blocks_by_number():
    rows = [
        ("text_encoder_2.encoder.block.3.layer.0.SelfAttention.q", "text_encoder_2"),
        ("transformer.single_transformer_blocks.0.proj_mlp", "transformer"),
        ("transformer.transformer_blocks.10.attn.to_q", "transformer"),
        ("transformer.transformer_blocks.2.attn.to_q", "transformer"),
        ("transformer.proj_out", "transformer"),
        ("transformer.x_embedder", "transformer"),
    ]
    flux = sorted({chart_block(c, component, "flux") for c, component in rows}, key=block_order)
    assert flux == ["IN", "D2", "D10", "S0", "OUT", "TE3"]
    assert chart_block(rows[2][0], "transformer", "sd3") == "J10"
