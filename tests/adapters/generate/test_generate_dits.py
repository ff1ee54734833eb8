"""Quick-test on the DiT families: SD3 and FLUX.1 render with their own pipelines on the zoo's tiny
bases, a LoRA goes through diffusers or is patched onto the loaded transformer (a kohya file's fused
stems split by the base's own widths), and every PNG's record re-renders in plain diffusers.

As in test_generate_peers: 32×32, 4 steps, on the CPU; the zoo's factors are small, so the weights
are large (48 moves a tiny DiT's pixels by 20-30 levels), and each comparison first asserts the
adapter's effect is well above the tolerance."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.generate import Workbench, read_record
from loradex.adapters.generate.preflight import preflight
from loradex.adapters.model.layermap import build_layer_map
from loradex.adapters.zoo import TINY
from loradex.adapters.zoo.dit_loras import kohya_lora
from tests.support.peers import diffusers_render, png
from tests.support.pictures import EFFECT, TOLERANCE, max_diff

KW = dict(prompt="a photo of an orange cat", seeds=[1], scales=[1.0], steps=4, size=(32, 32))
WEIGHT = 48.0
FAMILIES = ["sd3", "flux"]


@pytest.fixture(scope="module")
def benches(zoo) -> dict[str, Workbench]:
    return {family: Workbench(zoo[f"{family}-diffusers"].path) for family in FAMILIES}


@pytest.fixture(scope="module")
def alone(zoo) -> dict:
    """Each tiny base alone, in a workbench that never loaded a LoRA."""
    return {family: Workbench(zoo[f"{family}-diffusers"].path).render(**KW).pictures[0] for family in FAMILIES}


@pytest.fixture(scope="module")
def fused_kohya(tmp_path_factory) -> Path:
    """A kohya FLUX.1 LoRA of the tiny base's double blocks: fused ``img_attn.qkv`` and
    ``txt_attn.qkv`` stems that diffusers' converter splits in thirds (its ``linear1`` split assumes
    the full 3072 width, so the zoo's whole-model kohya file is patched instead)."""
    path = tmp_path_factory.mktemp("fused") / "flux-double-blocks.safetensors"
    lm = build_layer_map(TINY["flux"])
    return kohya_lora(
        lm,
        path,
        rank=4,
        alpha=4.0,
        scale=0.15,
        select=lambda layer: layer.name.startswith("transformer.transformer_blocks."),
        metadata={"ss_base_model_version": "flux1"},
    )


def transformer_tensors(bench: Workbench) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in bench.pipe.transformer.state_dict().items()}


# ---------------------------------------------------------------------------------------
# The family's pipeline, scale 0, the record


@pytest.mark.parametrize(("family", "pipeline"), [("sd3", "StableDiffusion3Pipeline"), ("flux", "FluxPipeline")])
def test_a_dit_renders_with_its_pipeline_and_scale_zero_is_the_base_alone(zoo, benches, alone, family, pipeline):
    grid = benches[family].render([(zoo[f"{family}-diffusers-lora"].path, WEIGHT)], **{**KW, "scales": [0.0, 1.0]})
    assert grid.images[0].pipeline == pipeline
    assert max_diff(grid.pictures[0], alone[family]) == 0
    assert max_diff(grid.pictures[1], alone[family]) > EFFECT


def test_scale_zero_is_the_base_alone_when_the_lora_is_patched(zoo, benches, alone):
    path = zoo["flux-kohya-lora"].path
    grid = benches["flux"].render([(path, WEIGHT)], **{**KW, "scales": [0.0, 1.0]})
    assert benches["flux"].loras.loaded[path].route == "patch"
    assert max_diff(grid.pictures[0], alone["flux"]) == 0
    assert max_diff(grid.pictures[1], alone["flux"]) > EFFECT


@pytest.mark.parametrize("family", FAMILIES)
def test_png_record_reproduces_a_dit_lora_in_plain_diffusers(zoo, benches, alone, family, tmp_path):
    path = zoo[f"{family}-diffusers-lora"].path
    grid = benches[family].render([(path, WEIGHT)], **KW, out=tmp_path)
    assert benches[family].loras.loaded[path].route == "diffusers"
    image = png(grid)
    assert max_diff(image, alone[family]) > EFFECT
    assert max_diff(diffusers_render(grid.images[0].path), image) <= TOLERANCE


def test_png_record_of_a_patched_fused_kohya_lora_reproduces_in_plain_diffusers(zoo, alone, fused_kohya, tmp_path):
    bench = Workbench(zoo["flux-diffusers"].path, patch_only=True)
    grid = bench.render([(fused_kohya, 1.0)], **KW, out=tmp_path)
    lora = bench.loras.loaded[fused_kohya]
    assert lora.route == "patch" and lora.info.unmatched == []
    image = png(grid)
    assert max_diff(image, alone["flux"]) > EFFECT
    assert max_diff(diffusers_render(grid.images[0].path), image) <= TOLERANCE


def test_a_flux_record_names_its_distilled_guidance_and_no_negative_prompt(benches, tmp_path):
    grid = benches["flux"].render(**KW, out=tmp_path)
    rec = read_record(grid.images[0].path)
    assert (rec["guidance_scale"], rec["scheduler"]) == (
        3.5,
        {"class": "FlowMatchEulerDiscreteScheduler", "overrides": {}},
    )
    assert "negative_prompt" not in rec
    with Image.open(grid.images[0].path) as im:
        settings = im.text["parameters"].splitlines()[-1]
    assert "Sampler: Euler, Schedule type: Simple, CFG scale: 1, Distilled CFG Scale: 3.5," in settings


def test_an_sd3_record_names_its_cfg_and_its_negative_prompt(benches, tmp_path):
    grid = benches["sd3"].render(**KW, negative_prompt="blurry", out=tmp_path)
    rec = read_record(grid.images[0].path)
    assert (rec["pipeline"], rec["guidance_scale"], rec["negative_prompt"]) == (
        "StableDiffusion3Pipeline",
        7.0,
        "blurry",
    )


# ---------------------------------------------------------------------------------------
# Every producer's file on its tiny base


@pytest.mark.parametrize(
    "name",
    [
        "sd3-kohya-lora",
        "sd3-diffusers-lora",
        "sd3-onetrainer-lora",
        "sd3-comfy-lora",
        "flux-kohya-lora",
        "flux-diffusers-lora",
        "flux-onetrainer-lora",
        "flux-comfy-lora",
        "flux-xlabs-lora",
        "flux-lycoris-lokr",
    ],
)
def test_every_producer_s_dit_lora_places_all_its_layers_and_changes_the_image(zoo, benches, alone, name):
    family = name.split("-")[0]
    path = zoo[name].path
    grid = benches[family].render([(path, WEIGHT)], **{**KW, "scales": [0.0, 1.0]})
    lora = benches[family].loras.loaded[path]
    assert lora.layers > 0 and lora.info.unmatched == [], lora.info.unmatched
    assert max_diff(grid.pictures[0], alone[family]) == 0
    assert max_diff(grid.pictures[1], alone[family]) > 0


def test_patching_a_dit_then_restoring_leaves_every_transformer_tensor_bit_identical(zoo):
    bench = Workbench(zoo["flux-diffusers"].path, patch_only=True)
    before = transformer_tensors(bench)
    bench.render([(zoo["flux-kohya-lora"].path, WEIGHT), (zoo["flux-lycoris-lokr"].path, 8.0)], **KW)
    assert not torch.equal(
        bench.pipe.transformer.transformer_blocks[0].attn.to_q.weight, before["transformer_blocks.0.attn.to_q.weight"]
    )
    bench.loras.restore()
    after = transformer_tensors(bench)
    assert [k for k in before if not torch.equal(before[k], after[k])] == []


def test_a_patched_fused_stem_matches_diffusers_splitting_it(zoo, alone, fused_kohya):
    through_diffusers = Workbench(zoo["flux-diffusers"].path)
    patched = Workbench(zoo["flux-diffusers"].path, patch_only=True)
    a = through_diffusers.render([(fused_kohya, 1.0)], **KW).pictures[0]
    b = patched.render([(fused_kohya, 1.0)], **KW).pictures[0]
    assert through_diffusers.loras.loaded[fused_kohya].route == "diffusers"
    assert max_diff(a, alone["flux"]) > EFFECT
    assert max_diff(a, b) <= TOLERANCE


# ---------------------------------------------------------------------------------------
# What the family's pipeline does not take, refused in one line before anything loads


@pytest.mark.parametrize(
    ("family", "options", "message"),
    [
        ("flux", dict(negative="blurry"), "takes no negative prompt"),
        ("flux", dict(prompt="a (cat:1.2)"), "A1111's emphasis"),
        ("sd3", dict(clip_skip=2), "--clip-skip is for SD1.x, SD2.x and SDXL bases"),
        ("sd3", dict(sampler="DPM++ 2M Karras"), "unknown sampler 'DPM++ 2M Karras' for SD3 and FLUX.1 bases"),
    ],
)
def test_what_a_dit_pipeline_does_not_take_is_refused_before_the_base_loads(zoo, family, options, message, tmp_path):
    with pytest.raises(UnsupportedError, match=re.escape(message)):
        preflight(zoo[f"{family}-diffusers"].path, [], out=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_a_dit_single_file_base_is_refused_saying_to_give_its_diffusers_folder(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "flux1-dev.safetensors"
    save_file(
        {"model.diffusion_model.double_blocks.0.img_attn.qkv.weight": torch.zeros(6, 2)},
        path,
        metadata={"modelspec.architecture": "flux-1-dev"},
    )
    with pytest.raises(UnsupportedError, match="loads a flux base from a diffusers folder"):
        preflight(path, [])
