"""The workbench against its peers: plain diffusers rendering from nothing but a PNG's
``loradex`` record, loradex's own ``bake``, and the base's own tensors after patching.

Everything renders the tiny random-weight zoo bases on the CPU at 32×32 with 4 steps. The zoo
LoRAs have small random factors, so the weights here are large (8-16): at weight 16 the LoRA
moves pixels by 10-30 levels, far above the tolerance the peer comparisons allow, so a wrong
weight, route or scale shows up. Each comparison first asserts that the adapter's effect is
well above the tolerance, so no comparison passes because the adapter did nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from loradex.adapters.generate import Workbench, read_record
from tests.support.peers import diffusers_render, png
from tests.support.pictures import EFFECT, TOLERANCE, max_diff

KW = dict(prompt="a photo of an orange cat", seeds=[1], scales=[1.0], steps=4, size=(32, 32))


def base_tensors(bench: Workbench) -> dict[str, torch.Tensor]:
    """Every tensor of the UNet and text encoders, cloned."""
    out = {}
    for component in ("unet", "text_encoder", "text_encoder_2"):
        model = getattr(bench.pipe, component, None)
        if model is not None:
            out |= {f"{component}.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    return out


def assert_bit_identical(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> None:
    assert after.keys() == before.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f"{len(changed)} tensors differ, e.g. {changed[:3]}"


@pytest.fixture(scope="module")
def sd1(zoo) -> Path:
    return zoo["sd1-diffusers"].path


@pytest.fixture(scope="module")
def bench(sd1) -> Workbench:
    """The default workbench: LoRAs through diffusers adapters where diffusers loads them whole."""
    return Workbench(sd1)


@pytest.fixture(scope="module")
def patched(sd1) -> tuple[Workbench, dict[str, torch.Tensor]]:
    """A weight-patching workbench, and its base tensors before any LoRA touched them."""
    bench = Workbench(sd1, patch_only=True)
    return bench, base_tensors(bench)


@pytest.fixture(scope="module")
def base_image(sd1) -> Image.Image:
    """The tiny SD1 base alone, in a workbench that never loaded a LoRA."""
    return Workbench(sd1).render(**KW).pictures[0]


# ---------------------------------------------------------------------------------------
# Scale


def test_scale_zero_is_the_base_alone_and_scale_one_is_not(bench, zoo, base_image):
    grid = bench.render([(zoo["sd1-kohya-lora"].path, 16.0)], **{**KW, "scales": [0.0, 1.0]})
    assert max_diff(grid.pictures[0], base_image) == 0
    assert max_diff(grid.pictures[1], base_image) > EFFECT


def test_scale_zero_stays_the_base_alone_when_a_lora_is_loaded_after_others_were_switched_off(sd1, zoo, base_image):
    bench = Workbench(sd1)
    bench.render([(zoo["sd1-kohya-lora"].path, 16.0)], **{**KW, "scales": [0.0]})  # loaded, then switched off
    grid = bench.render([(zoo["sd1-kohya-locon"].path, 16.0)], **{**KW, "scales": [0.0, 1.0]})  # loaded now
    assert max_diff(grid.pictures[0], base_image) == 0
    assert max_diff(grid.pictures[1], base_image) > EFFECT
    assert max_diff(bench.render(**KW).pictures[0], base_image) == 0


# ---------------------------------------------------------------------------------------
# Peer reproduction: plain diffusers from the record alone


def test_png_record_reproduces_one_lora_in_plain_diffusers(bench, zoo, base_image, tmp_path):
    grid = bench.render([(zoo["sd1-kohya-lora"].path, 16.0)], **KW, out=tmp_path)
    image = png(grid)
    assert max_diff(image, base_image) > EFFECT
    assert max_diff(diffusers_render(grid.images[0].path), image) <= TOLERANCE


def test_png_record_reproduces_two_loras_one_negative_in_plain_diffusers(bench, zoo, base_image, tmp_path):
    grid = bench.render(
        [(zoo["sd1-kohya-locon"].path, 12.0), (zoo["sd1-diffusers-lora"].path, -16.0)],
        **{**KW, "scales": [0.75]},
        negative_prompt="blurry",
        out=tmp_path,
    )
    rec = read_record(grid.images[0].path)
    assert [a["weight"] for a in rec["adapters"]] == [9.0, -12.0]
    image = png(grid)
    assert max_diff(image, base_image) > EFFECT
    assert max_diff(diffusers_render(grid.images[0].path), image) <= TOLERANCE


def test_png_record_reproduces_an_sdxl_lora_in_plain_diffusers(zoo, tmp_path):
    xl = Workbench(zoo["sdxl-diffusers"].path)
    alone = xl.render(**KW).pictures[0]
    grid = xl.render([(zoo["sdxl-kohya-lora"].path, 16.0)], **KW, out=tmp_path)
    assert xl.loras.loaded[zoo["sdxl-kohya-lora"].path].route == "diffusers"
    image = png(grid)
    assert max_diff(image, alone) > EFFECT
    assert max_diff(diffusers_render(grid.images[0].path), image) <= TOLERANCE


# ---------------------------------------------------------------------------------------
# Weight patching


def test_patching_two_loras_matches_diffusers_adapters(bench, patched, zoo, base_image):
    mix = [(zoo["sd1-kohya-locon"].path, 12.0), (zoo["sd1-kohya-lora"].path, -16.0)]
    through_diffusers = bench.render(mix, **KW).pictures[0]
    by_patching = patched[0].render(mix, **KW).pictures[0]
    assert {bench.loras.loaded[p].route for p, _ in mix} == {"diffusers"}
    assert {patched[0].loras.loaded[p].route for p, _ in mix} == {"patch"}
    assert max_diff(through_diffusers, base_image) > EFFECT
    assert max_diff(by_patching, through_diffusers) <= TOLERANCE


@pytest.mark.parametrize("undo", ["apply-none", "restore"])
def test_patching_then_restoring_leaves_every_base_tensor_bit_identical(patched, zoo, undo):
    bench, before = patched
    bench.render([(zoo["sd1-kohya-locon"].path, 12.0), (zoo["sd1-kohya-lora"].path, -16.0)], **KW)
    assert not torch.equal(
        bench.pipe.unet.down_blocks[0].attentions[0].proj_in.weight,
        before["unet.down_blocks.0.attentions.0.proj_in.weight"],
    )  # it was patched
    bench.loras.apply([]) if undo == "apply-none" else bench.loras.restore()
    assert_bit_identical(before, base_tensors(bench))


@pytest.mark.parametrize("name", ["sd1-lycoris-loha", "sd1-lycoris-lokr", "sd1-lycoris-dora"])
def test_lycoris_patch_changes_the_image_and_restores_bit_identical(patched, zoo, base_image, name):
    bench, before = patched
    image = bench.render([(zoo[name].path, 16.0)], **KW).pictures[0]
    assert bench.loras.loaded[zoo[name].path].route == "patch"
    assert max_diff(image, base_image) > EFFECT
    bench.loras.apply([])
    assert_bit_identical(before, base_tensors(bench))


def test_patched_loha_matches_loha_baked_by_loradex(patched, sd1, zoo, tmp_path):
    from loradex.adapters.ops.bake import bake

    loha = zoo["sd1-lycoris-loha"].path
    # A diffusers folder bakes into a folder (configs copied); fp32, so the baked weights are
    # W + ΔW unrounded, as the patch computes them on the fp32-loaded base.
    bake(sd1, [(loha, 16.0)], tmp_path / "baked", dtype="fp32")
    baked = Workbench(tmp_path / "baked").render(**KW).pictures[0]
    image = patched[0].render([(loha, 16.0)], **KW).pictures[0]
    assert max_diff(image, patched[0].render(**KW).pictures[0]) > EFFECT
    assert max_diff(image, baked) <= TOLERANCE


# ---------------------------------------------------------------------------------------
# Files diffusers loads as a silent no-op


#: Weights at which each file moves pixels well above the tolerance (the PEFT folder's factors
#: are PEFT's random init, ~100x the zoo's other files; the legacy file has no alpha, scale 1).
NO_OP_WEIGHTS = {"sd1-peft-lora": 1.0, "sd1-legacy-lora": 48.0}


@pytest.mark.parametrize("name", list(NO_OP_WEIGHTS))
def test_file_diffusers_loads_with_no_layer_is_patched_and_changes_the_image(bench, zoo, base_image, name):
    path = zoo[name].path
    lora = bench.loras.load(path)
    assert lora.route == "patch"
    assert lora.why_patched == f"diffusers applied 0 of its {lora.layers} layers"
    assert lora.name not in bench.pipe.get_list_adapters().get("unet", [])
    image = bench.render([(path, NO_OP_WEIGHTS[name])], **KW).pictures[0]
    assert max_diff(image, base_image) > EFFECT


def _peer_pipeline(folder: Path):
    """Plain diffusers, set up as the workbench's defaults say (DPM++ 2M Karras, fp32)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, use_karras_sigmas=True)
    return pipe


def _peer_image(pipe) -> Image.Image:
    with torch.inference_mode():
        return pipe(
            prompt=KW["prompt"],
            negative_prompt="",
            num_inference_steps=KW["steps"],
            guidance_scale=7.0,
            width=32,
            height=32,
            generator=torch.Generator("cpu").manual_seed(1),
        ).images[0]


def test_patched_peft_folder_matches_peft_merging_it(bench, sd1, zoo):
    from peft import PeftModel

    folder = zoo["sd1-peft-lora"].path
    pipe = _peer_pipeline(sd1)
    pipe.unet = PeftModel.from_pretrained(pipe.unet, folder).merge_and_unload()
    assert max_diff(bench.render([(folder, 1.0)], **KW).pictures[0], _peer_image(pipe)) <= TOLERANCE


def test_patched_legacy_file_matches_diffusers_given_its_keys_without_processor(bench, sd1, zoo):
    """diffusers once read ``…attn1.processor.to_q_lora.down.weight``; today it converts the same
    keys without ``.processor.`` (and injects nothing with it): that is the peer."""
    path = zoo["sd1-legacy-lora"].path
    renamed = {"unet." + k.replace(".processor.", "."): v for k, v in torch.load(path, weights_only=True).items()}
    pipe = _peer_pipeline(sd1)
    pipe.load_lora_weights(renamed, adapter_name="legacy")
    pipe.set_adapters(["legacy"], adapter_weights=[48.0])
    image = bench.render([(path, 48.0)], **KW).pictures[0]
    assert max_diff(image, _peer_image(pipe)) <= TOLERANCE


# ---------------------------------------------------------------------------------------
# Switching


def test_switching_mixes_never_reloads_the_base_and_a_mix_renders_the_same_again(bench, zoo):
    a = [(zoo["sd1-kohya-lora"].path, 16.0), (zoo["sd1-lycoris-loha"].path, 8.0)]
    b = [(zoo["sd1-kohya-locon"].path, -12.0), (zoo["sd1-lycoris-dora"].path, 16.0)]
    first = bench.render(a, **KW).pictures[0]
    other = bench.render(b, **KW).pictures[0]
    bench.render([(zoo["sd1-kohya-lora"].path, 4.0)], **KW)
    again = bench.render(a, **KW).pictures[0]
    assert bench.loads == 1
    assert max_diff(first, other) > EFFECT
    assert max_diff(first, again) == 0


def test_beyond_its_limit_the_least_recently_used_lora_is_unloaded_and_reloads_the_same(sd1, zoo):
    bench = Workbench(sd1)
    bench.loras.keep = 2
    names = ["sd1-kohya-lora", "sd1-diffusers-lora", "sd1-lycoris-loha"]
    first = bench.render([(zoo[names[0]].path, 16.0)], **KW).pictures[0]
    for name in names[1:]:
        bench.render([(zoo[name].path, 16.0)], **KW)

    assert zoo[names[0]].path not in bench.loras.loaded
    assert not any(name.endswith("sd1_kohya_lora") for name in bench.pipe.get_list_adapters().get("unet", []))
    assert max_diff(bench.render([(zoo[names[0]].path, 16.0)], **KW).pictures[0], first) == 0
    assert bench.loads == 1
