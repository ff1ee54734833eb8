"""bake(): checked against diffusers fusing the same LoRAs, and against interruption."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from loradex.adapters import IncompatibleError, UnsupportedError
from loradex.adapters.ops.bake import bake
from tests.support.oracles import load_pipeline, peft_dora_unet, text_output, unet_output


def _fused(folder, loras, sdxl=False):
    """diffusers' own answer: load_lora_weights + set_adapters(weights) + fuse_lora."""
    pipe = load_pipeline(folder, sdxl=sdxl)
    names = []
    for i, (path, _) in enumerate(loras):
        pipe.load_lora_weights(str(path), adapter_name=f"l{i}")
        names.append(f"l{i}")
    pipe.set_adapters(names, adapter_weights=[w for _, w in loras])
    pipe.fuse_lora(adapter_names=names)
    pipe.unload_lora_weights()
    return pipe


def _assert_fp16_close(got: torch.Tensor, want: torch.Tensor) -> None:
    # The bake writes fp16 like its base: allow fp16 rounding of weights, nothing more.
    torch.testing.assert_close(got, want, atol=2e-3, rtol=2e-3)


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_baked_folder_equals_diffusers_fusing_two_weighted_loras(zoo, tmp_path):
    folder = zoo["sd1-diffusers"].path
    loras = [(zoo["sd1-kohya-lora"].path, 0.8), (zoo["sd1-kohya-locon"].path, 0.5)]
    out = tmp_path / "baked"
    report = bake(folder, loras, out)
    assert [(applied, total) for _, _, applied, total in report.loras] == [
        (84, 84),
        (report.loras[1][3], report.loras[1][3]),
    ]
    _assert_fp16_close(unet_output(load_pipeline(out)), unet_output(_fused(folder, loras)))


def test_baked_single_file_equals_diffusers_fusing_unet_and_text_encoder(zoo, tmp_path):
    folder = zoo["sd1-diffusers"].path
    loras = [(zoo["sd1-kohya-lora"].path, 0.8)]
    out = tmp_path / "baked.safetensors"
    bake(zoo["sd1-single"].path, loras, out)
    ours, ref = load_pipeline(out, folder), _fused(folder, loras)
    base_unet = unet_output(load_pipeline(folder))
    assert not torch.allclose(unet_output(ref), base_unet, atol=1e-3)
    _assert_fp16_close(unet_output(ours), unet_output(ref))
    _assert_fp16_close(text_output(ours.text_encoder), text_output(ref.text_encoder))


def test_baked_sdxl_single_file_patches_text_encoder_2_in_proj_slices(zoo, tmp_path):
    folder = zoo["sdxl-diffusers"].path
    loras = [(zoo["sdxl-kohya-lora"].path, 0.7)]
    out = tmp_path / "baked.safetensors"
    bake(zoo["sdxl-single"].path, loras, out)
    ours, ref = load_pipeline(out, folder, sdxl=True), _fused(folder, loras, sdxl=True)
    _assert_fp16_close(text_output(ours.text_encoder_2), text_output(ref.text_encoder_2))
    _assert_fp16_close(unet_output(ours), unet_output(ref))


def test_a_pickled_ckpt_base_bakes_to_the_tensors_of_its_safetensors_twin(zoo, sd1_ckpt, tmp_path):
    loras = [(zoo["sd1-kohya-lora"].path, 0.8)]
    bake(zoo["sd1-single"].path, loras, tmp_path / "twin.safetensors")
    bake(sd1_ckpt, loras, tmp_path / "from_ckpt.safetensors")
    want, got = load_file(tmp_path / "twin.safetensors"), load_file(tmp_path / "from_ckpt.safetensors")
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    with safe_open(tmp_path / "from_ckpt.safetensors", "pt") as f:
        assert f.metadata()["global_step"] == "470000"


def test_a_dora_bake_leaves_a_memory_mapped_fp32_ckpt_base_byte_identical(zoo, tmp_path):
    base = tmp_path / "fp32.ckpt"
    tensors = load_file(zoo["sd1-single"].path)
    torch.save({"state_dict": {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}}, base)
    before = _sha(base)
    bake(base, [(zoo["sd1-lycoris-dora"].path, 1.0)], tmp_path / "out.safetensors")
    assert _sha(base) == before


def test_a_channels_last_conv_in_a_pickle_bakes_like_a_contiguous_one(zoo, tmp_path):
    key = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight"  # a 3x3 conv the LoCon patches
    tensors = load_file(zoo["sd1-single"].path)
    tensors[key] = tensors[key].contiguous(memory_format=torch.channels_last)  # torch.save keeps the strides
    base = tmp_path / "strided.ckpt"
    torch.save({"state_dict": tensors}, base)
    loras = [(zoo["sd1-kohya-locon"].path, 0.8)]
    bake(zoo["sd1-single"].path, loras, tmp_path / "twin.safetensors")
    bake(base, loras, tmp_path / "strided.safetensors")
    assert torch.equal(load_file(tmp_path / "strided.safetensors")[key], load_file(tmp_path / "twin.safetensors")[key])


def test_an_output_named_like_a_pickle_is_refused(zoo, sd1_ckpt, tmp_path):
    with pytest.raises(UnsupportedError, match="name the output .safetensors"):
        bake(sd1_ckpt, [(zoo["sd1-kohya-lora"].path, 0.8)], tmp_path / "baked.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_bakes_leave_torchs_thread_count_as_they_found_it_even_two_at_once(zoo, tmp_path):
    before = torch.get_num_threads()
    loras = [(zoo["sd1-kohya-lora"].path, 0.8)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(bake, zoo["sd1-single"].path, loras, tmp_path / f"{i}.safetensors") for i in range(2)]
        for run in runs:
            run.result()
    assert torch.get_num_threads() == before


def test_a_baked_peft_dora_equals_peft_merging_it(zoo, tmp_path):
    folder, dora = zoo["sd1-diffusers"].path, tmp_path / "peft_dora.safetensors"
    unet = peft_dora_unet(folder, dora)
    for module in unet.modules():
        if hasattr(module, "lora_A") and hasattr(module, "merge"):
            module.merge()
    merged = {k.replace(".base_layer.", "."): v for k, v in unet.state_dict().items() if "lora_" not in k}

    bake(folder, [(dora, 1.0)], tmp_path / "baked", dtype="fp32")
    ours = load_file(tmp_path / "baked" / "unet" / "diffusion_pytorch_model.safetensors")
    assert ours.keys() == merged.keys()
    for key, value in ours.items():
        torch.testing.assert_close(value, merged[key], atol=1e-6, rtol=1e-5, msg=key)


def test_dtype_fp32_widens_floating_tensors(zoo, tmp_path):
    out = tmp_path / "fp32.safetensors"
    bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 1.0)], out, dtype="fp32")
    with safe_open(out, "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in list(f.keys())[:50]} == {"F32"}


def test_a_lora_for_another_family_is_refused_naming_both(zoo, tmp_path):
    with pytest.raises(IncompatibleError, match="sdxl"):
        bake(zoo["sd1-single"].path, [(zoo["sdxl-kohya-lora"].path, 1.0)], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_a_unet_only_file_takes_the_unet_layers_and_skips_the_text_encoders_it_does_not_hold(
    zoo, sd1_unet_only, tmp_path
):
    lora = zoo["sd1-kohya-lora"].path
    report = bake(sd1_unet_only, [(lora, 0.8)], tmp_path / "unet.safetensors")
    assert report.unmatched == [] and len(report.elsewhere) == 12
    assert all(c.startswith("text_encoder.") for c in report.elsewhere)
    assert report.loras[0][2:] == (72, 84)
    # Its UNet is baked as the whole file's is.
    bake(zoo["sd1-single"].path, [(lora, 0.8)], tmp_path / "whole.safetensors")
    unet, whole = load_file(tmp_path / "unet.safetensors"), load_file(tmp_path / "whole.safetensors")
    assert unet.keys() == load_file(sd1_unet_only).keys()
    assert all(torch.equal(value, whole[key]) for key, value in unet.items())


def test_a_unet_layer_that_fits_nothing_in_a_unet_only_file_still_refuses_without_allow_partial(
    zoo, sd1_unet_only, tmp_path
):
    tensors = load_file(zoo["sd1-kohya-lora"].path)
    with safe_open(zoo["sd1-kohya-lora"].path, "pt") as f:
        metadata = f.metadata()
    stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors[f"{stem}.lora_up.weight"] = torch.zeros(321, tensors[f"{stem}.lora_up.weight"].shape[1]).half()
    lora = tmp_path / "wide.safetensors"
    save_file(tensors, lora, metadata)
    with pytest.raises(IncompatibleError, match=r"1 LoRA layers match nothing .*attn2_to_k.*--allow-partial"):
        bake(sd1_unet_only, [(lora, 0.8)], tmp_path / "x.safetensors")
    report = bake(sd1_unet_only, [(lora, 0.8)], tmp_path / "x.safetensors", allow_partial=True)
    assert report.unmatched == [f"wide.safetensors:{stem}"] and len(report.elsewhere) == 12


def test_bake_refuses_to_overwrite_its_base(zoo, tmp_path):
    base = tmp_path / "base.safetensors"
    base.write_bytes(zoo["sd1-single"].path.read_bytes())
    before = _sha(base)
    with pytest.raises(Exception, match="input"):
        bake(base, [(zoo["sd1-kohya-lora"].path, 1.0)], base)
    assert _sha(base) == before


def test_the_recipe_records_every_input_by_sha256(zoo, tmp_path):
    out = tmp_path / "b.safetensors"
    bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 0.8)], out)
    with safe_open(out, "pt") as f:
        recipe = json.loads(f.metadata()["loradex.recipe"])
    assert [(i["role"], i["sha256"], i["weight"]) for i in recipe["inputs"]] == [
        ("base", _sha(zoo["sd1-single"].path), 1.0),
        ("input", _sha(zoo["sd1-kohya-lora"].path), 0.8),
    ]


def test_the_same_bake_twice_gives_identical_files(zoo, tmp_path):
    args = (zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 0.8)])
    bake(*args, tmp_path / "a.safetensors")
    bake(*args, tmp_path / "b.safetensors")
    assert _sha(tmp_path / "a.safetensors") == _sha(tmp_path / "b.safetensors")


_SLOW_BAKE = textwrap.dedent("""
    import sys, time
    from loradex.adapters.ops.bake import bake
    def slow(event):
        if event.done == 1:
            print("started", flush=True)
        time.sleep(0.02)
    bake(sys.argv[1], [(sys.argv[2], 0.8)], sys.argv[3], progress=slow)
    print("finished", flush=True)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_bake_leaves_no_output_and_the_base_untouched(zoo, tmp_path, sig):
    base = tmp_path / "base.safetensors"
    base.write_bytes(zoo["sd1-single"].path.read_bytes())
    before = _sha(base)
    out = tmp_path / "out" / "baked.safetensors"
    out.parent.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_BAKE, str(base), str(zoo["sd1-kohya-lora"].path), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.3)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    if sig == signal.SIGINT:  # a clean interrupt also removes its temp file
        assert list(out.parent.iterdir()) == []
    assert _sha(base) == before
    if sig == signal.SIGKILL:  # the next bake of that output reclaims the temp once it is stale
        (temp,) = out.parent.iterdir()
        os.utime(temp, (time.time() - 120, time.time() - 120))
        bake(base, [(zoo["sd1-kohya-lora"].path, 0.8)], out)
        assert list(out.parent.iterdir()) == [out]


def test_bake_onto_a_checkpoint_of_an_unknown_base_is_one_line(zoo, tmp_path):
    from safetensors.torch import save_file
    from typer.testing import CliRunner

    from loradex.tui.cli import app

    base = tmp_path / "odd.safetensors"
    save_file({"model.diffusion_model.made_up.weight": torch.randn(8, 8)}, base)
    result = CliRunner().invoke(
        app, ["bake", "--base", str(base), str(zoo["sd1-kohya-lora"].path), "-o", str(tmp_path / "out.safetensors")]
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "odd.safetensors" in lines[0] and "unknown" in lines[0], result.stderr
    assert not (tmp_path / "out.safetensors").exists()
