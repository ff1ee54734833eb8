"""extract() recovers a LoRA from two checkpoints; rebuild() re-runs embedded recipes."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from loradex.adapters.errors import InputChangedError
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.extract import extract
from loradex.adapters.ops.lowrank import truncated_svd
from loradex.adapters.ops.mix import mix, resize
from loradex.adapters.ops.rebuild import rebuild
from loradex.adapters.ops.recipe_sources import read_recipe
from tests.support.oracles import deltas


def test_extract_recovers_the_lora_that_was_baked_in(zoo, tmp_path):
    lora = zoo["sd1-kohya-lora"].path
    tuned = tmp_path / "tuned.safetensors"
    bake(zoo["sd1-single"].path, [(lora, 1.0)], tuned, dtype="fp32")
    base32 = tmp_path / "base32.safetensors"
    bake(zoo["sd1-single"].path, [], base32, dtype="fp32")
    out = tmp_path / "extracted.safetensors"
    report = extract(base32, tuned, out, rank=4, dtype="fp32")
    want, got = deltas(lora), deltas(out)
    assert got.keys() == want.keys() and report.layers == len(want)
    assert min(report.retained_energy.values()) > 0.999
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-3)


def test_extract_reads_a_pickled_ckpt_like_its_safetensors_twin(zoo, tmp_path):
    tuned = tmp_path / "tuned.safetensors"
    bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 1.0)], tuned)
    tuned_ckpt = tmp_path / "tuned.ckpt"
    torch.save({"state_dict": load_file(tuned), "global_step": 1}, tuned_ckpt)
    extract(zoo["sd1-single"].path, tuned, tmp_path / "a.safetensors", rank=4)
    extract(zoo["sd1-single"].path, tuned_ckpt, tmp_path / "b.safetensors", rank=4)
    a, b = load_file(tmp_path / "a.safetensors"), load_file(tmp_path / "b.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_randomised_svd_matches_the_exact_truncation_on_a_large_layer():
    gen = torch.Generator().manual_seed(0)
    big = torch.randn(1280, 16, generator=gen) @ torch.randn(16, 1300, generator=gen)
    big += 1e-3 * torch.randn(1280, 1300, generator=gen)
    u, s, vh = truncated_svd(big, 16)
    exact = torch.linalg.svdvals(big)[:16]
    torch.testing.assert_close(s, exact, rtol=1e-4, atol=1e-4)


def test_extract_refuses_checkpoints_of_different_families(zoo, tmp_path):
    from loradex.adapters import IncompatibleError

    with pytest.raises(IncompatibleError):
        extract(zoo["sd1-single"].path, zoo["sdxl-single"].path, tmp_path / "x.safetensors", rank=4)


@pytest.mark.parametrize("make", ["mix", "dora-mix", "resize", "bake"])
def test_a_deterministic_recipe_rebuilt_gives_an_identical_sha256(zoo, tmp_path, make):
    out = tmp_path / ("out.safetensors")
    if make == "mix":
        mix([(zoo["sd1-kohya-lora"].path, 0.7), (zoo["sd1-kohya-locon"].path, -0.2)], out, method="svd", rank=3)
    elif make == "dora-mix":
        mix([(zoo["sd1-lycoris-dora"].path, 0.7)], out, method="svd", rank=3, base=zoo["sd1-single"].path)
    elif make == "resize":
        resize(zoo["sd1-kohya-lora"].path, out, dynamic=("sv_ratio", 4.0))
    else:
        bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 0.8)], out)
    report = rebuild(out)
    assert report.identical, report
    assert not [f.name for f in tmp_path.iterdir() if f.name.startswith(".")]  # its scratch folder is gone


def test_rebuild_refuses_when_an_input_changed(zoo, tmp_path):
    lora = tmp_path / "in.safetensors"
    lora.write_bytes(zoo["sd1-kohya-lora"].path.read_bytes())
    out = tmp_path / "out.safetensors"
    mix([(lora, 0.5)], out)
    tensors = load_file(lora)
    save_file(tensors, lora, metadata={"edited": "yes"})
    with pytest.raises(InputChangedError, match="changed"):
        rebuild(out)


@pytest.mark.parametrize("moved", ["lora", "base"])
def test_rebuild_finds_a_moved_input_by_sha256_and_compares_as_recorded(zoo, tmp_path, moved):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    base, lora = here / "base.safetensors", here / "lora.safetensors"
    base.write_bytes(zoo["sd1-single"].path.read_bytes())
    lora.write_bytes(zoo["sd1-kohya-lora"].path.read_bytes())
    out = tmp_path / "out.safetensors"
    bake(base, [(lora, 0.8)], out)
    gone = base if moved == "base" else lora
    new = gone.rename(there / gone.name)
    recipe_shas = {i.ref: i.sha256 for i in read_recipe(out).inputs}
    report = rebuild(out, locate=lambda sha: new if sha == recipe_shas[str(gone)] else None)
    assert report.identical, report
    assert [(moved.recorded, moved.found) for moved in report.relocated] == [(str(gone), str(new))]


def test_rebuild_without_a_copy_of_a_moved_input_names_it(zoo, tmp_path):
    lora = tmp_path / "in.safetensors"
    lora.write_bytes(zoo["sd1-kohya-lora"].path.read_bytes())
    out = tmp_path / "out.safetensors"
    mix([(lora, 0.5)], out)
    lora.unlink()
    with pytest.raises(InputChangedError, match="in.safetensors no longer exists and nothing with its sha256"):
        rebuild(out, locate=lambda sha: None)


def test_an_extracted_lora_loaded_in_diffusers_reproduces_the_tuned_checkpoint(zoo, sd1_pipe, tmp_path):
    import copy

    from tests.support.oracles import load_pipeline, unet_output

    tuned = tmp_path / "tuned"
    bake(zoo["sd1-diffusers"].path, [(zoo["sd1-kohya-lora"].path, 1.0)], tuned, dtype="fp32")
    out = tmp_path / "extracted.safetensors"
    extract(zoo["sd1-diffusers"].path, tuned, out, rank=8, dtype="fp32")  # ≥ the LoRA's rank: no truncation
    with_lora = copy.deepcopy(sd1_pipe)
    with_lora.load_lora_weights(str(out))
    want, base = unet_output(load_pipeline(tuned)), unet_output(sd1_pipe)
    assert not torch.allclose(want, base, atol=1e-4)  # the tuning changed the UNet
    torch.testing.assert_close(unet_output(with_lora), want, atol=1e-4, rtol=0)
