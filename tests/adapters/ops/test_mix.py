"""mix / resize, checked against diffusers' multi-adapter loading, the dense SVD and, for DoRA,
the delta a (PEFT-checked) bake gives on the base."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open

from loradex.adapters import IncompatibleError, UnsupportedError, probe
from loradex.adapters.model.checkpoint import LayerWeights
from loradex.adapters.model.layermap import block_label
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.block_presets import LAYOUTS
from loradex.adapters.ops.mix import mix, resize
from loradex.adapters.ops.options import parse_weighted
from loradex.adapters.ops.recipe_sources import read_recipe
from tests.support.oracles import deltas, outputs, peft_dora_unet, unet_output


def _weighted_sum(parts: list[tuple[object, float]]) -> dict[str, torch.Tensor]:
    total: dict[str, torch.Tensor] = {}
    for path, weight in parts:
        for name, d in deltas(path).items():
            total[name] = total.get(name, torch.zeros_like(d)) + weight * d
    return total


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.safetensors", ("a.safetensors", 1.0)),
        ("a.safetensors:0.7", ("a.safetensors", 0.7)),
        ("b.safetensors:-0.5", ("b.safetensors", -0.5)),
        ("/x:y/a.safetensors", ("/x:y/a.safetensors", 1.0)),
        ("/x:y/a.safetensors:2", ("/x:y/a.safetensors", 2.0)),
    ],
)
def test_weighted_references_split_on_the_last_colon(text, expected):
    assert parse_weighted(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a.safetensors:abc", "'abc' is not a number"),
        ("a.safetensors:inf", "'inf' is not a finite number"),
        ("a.safetensors:nan", "'nan' is not a finite number"),
    ],
)
def test_a_weight_that_is_not_a_finite_number_is_refused(text, words):
    with pytest.raises(ValueError, match=words):
        parse_weighted(text)


def test_concat_mix_loaded_in_diffusers_equals_two_weighted_adapters(zoo, sd1_pipe, tmp_path):
    a, b = zoo["sd1-kohya-lora"].path, zoo["sd1-diffusers-lora"].path
    out = tmp_path / "mix.safetensors"
    mix([(a, 0.7), (b, -0.3)], out)

    ref = copy.deepcopy(sd1_pipe)
    ref.load_lora_weights(str(a), adapter_name="a")
    ref.load_lora_weights(str(b), adapter_name="b")
    ref.set_adapters(["a", "b"], adapter_weights=[0.7, -0.3])
    ours = copy.deepcopy(sd1_pipe)
    ours.load_lora_weights(str(out))
    # UNet only: with transformers 5, diffusers drops the kohya text-encoder alphas of named
    # adapters (its alpha_pattern keys keep `text_model.`), so its TE is not an oracle here;
    # the TE half is checked against the weighted sum of deltas below.
    torch.testing.assert_close(outputs(ours)[0], outputs(ref)[0], atol=1e-4, rtol=0)


def test_concat_mix_is_exactly_the_weighted_sum_ofdeltas(zoo, tmp_path):
    parts = [(zoo["sd1-kohya-locon"].path, 0.6), (zoo["sd1-lycoris-loha"].path, 0.4), (zoo["sd1-kohya-lora"].path, -1)]
    out = tmp_path / "mix.safetensors"
    report = mix(parts, out)
    want, got = _weighted_sum(parts), deltas(out)
    assert got.keys() == want.keys() and report.layers == len(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=2e-3)


def _relative_error_to_truncated_svd(got: torch.Tensor, dense: torch.Tensor, rank: int) -> float:
    u, s, vh = torch.linalg.svd(dense.flatten(1).double(), full_matrices=False)
    best = (u[:, :rank] * s[:rank]) @ vh[:rank]
    return float((got.flatten(1).double() - best).norm() / best.norm())


def test_svd_mix_equals_the_truncated_svd_of_the_full_delta(zoo, tmp_path):
    parts = [(zoo["sdxl-kohya-lora"].path, 0.8), (zoo["sdxl-kohya-slider"].path, 0.5)]
    out = tmp_path / "svd.safetensors"
    # fp32 output so the comparison measures the algebra, not fp16 storage
    report = mix(parts, out, method="svd", rank=3)
    want, got = _weighted_sum(parts), deltas(out)
    assert set(report.ranks) == {3}
    for name in want:
        if float(want[name].norm()) > 0:
            assert _relative_error_to_truncated_svd(got[name], want[name], 3) < 1e-3, name


def test_resize_reports_retained_energy_and_matches_the_truncated_svd(zoo, tmp_path):
    out = tmp_path / "r2.safetensors"
    report = resize(zoo["sd1-kohya-lora"].path, out, rank=2)
    before, after = deltas(zoo["sd1-kohya-lora"].path), deltas(out)
    for name, dense in before.items():
        assert _relative_error_to_truncated_svd(after[name], dense, 2) < 1e-3
    assert all(0 < e < 1 for e in report.retained_energy.values())


def test_dynamic_resize_keeps_each_layer_at_the_rank_its_energy_needs(zoo, tmp_path):
    out = tmp_path / "dyn.safetensors"
    report = resize(zoo["sd1-kohya-lora"].path, out, dynamic=("sv_fro", 0.9))
    assert all(e >= 0.9**2 - 1e-4 for e in report.retained_energy.values())
    assert max(report.ranks) <= 4


def test_inputs_for_different_bases_are_refused(zoo, tmp_path):
    with pytest.raises(IncompatibleError, match="different base"):
        mix([(zoo["sd1-kohya-lora"].path, 1), (zoo["sdxl-kohya-lora"].path, 1)], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_the_output_carries_its_recipe_and_the_inputs_training_metadata(zoo, tmp_path):
    out = tmp_path / "m.safetensors"
    mix([(zoo["sd1-kohya-lora"].path, 0.5)], out)
    with safe_open(out, "pt") as f:
        meta = f.metadata()
    recipe = json.loads(meta["loradex.recipe"])
    assert recipe["op"] == "mix" and recipe["inputs"][0]["weight"] == 0.5 and len(recipe["inputs"][0]["sha256"]) == 64
    assert "ss_tag_frequency" in json.loads(meta["loradex.inputs_metadata"])[0]


def _baked_deltas(zoo, tmp_path, lora) -> dict[str, torch.Tensor]:
    """ΔW of every layer a LoRA patches, as bake makes it (in fp32 from the zoo's SD1 file;
    a DoRA bake equals PEFT's merge, see test_bake)."""
    single, base32, tuned32 = zoo["sd1-single"].path, tmp_path / "base32.safetensors", tmp_path / "tuned32.safetensors"
    bake(single, [], base32, dtype="fp32")
    bake(single, [(lora, 1.0)], tuned32, dtype="fp32")
    with LayerWeights(base32, probe(base32)) as b, LayerWeights(tuned32, probe(tuned32)) as t:
        return {layer.canonical: t.weight(layer.canonical) - b.weight(layer.canonical) for layer in probe(lora).layers}


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.flatten(1) - want.flatten(1)).norm() / want.norm())


@pytest.mark.parametrize("method", ["concat", "svd"])
def test_a_dora_mixed_with_its_base_is_its_delta_on_that_base(zoo, tmp_path, method):
    dora, lora = zoo["sd1-lycoris-dora"].path, zoo["sd1-kohya-lora"].path
    want = {name: 0.5 * d for name, d in _baked_deltas(zoo, tmp_path, dora).items()}
    for name, d in deltas(lora).items():
        want[name] = want.get(name, torch.zeros_like(d)) + 0.8 * d
    out = tmp_path / "mix.safetensors"
    mix(
        [(dora, 0.5), (lora, 0.8)], out, method=method, rank=8 if method == "svd" else None, base=zoo["sd1-single"].path
    )
    got = deltas(out)
    assert got.keys() == want.keys()
    for name in want:
        if method == "concat":  # exact up to fp16 storage of the factors
            assert _relative_error(got[name], want[name]) < 2e-3, name
        else:
            assert _relative_error_to_truncated_svd(got[name], want[name], 8) < 1e-3, name
    assert [i.role for i in read_recipe(out).inputs] == ["base", "input", "input"]


def test_a_peft_dora_mixed_with_its_base_loads_in_diffusers_like_peft_runs_it(zoo, sd1_pipe, tmp_path):
    folder, dora = zoo["sd1-diffusers"].path, tmp_path / "peft_dora.safetensors"
    peft_unet = peft_dora_unet(folder, dora)
    out = tmp_path / "as_lora.safetensors"
    mix([(dora, 1.0)], out, base=folder)  # exact: the DoRA's delta on this base, as a plain LoRA
    ours = copy.deepcopy(sd1_pipe)
    ours.load_lora_weights(str(out))
    torch.testing.assert_close(unet_output(ours), unet_output(SimpleNamespace(unet=peft_unet)), atol=1e-4, rtol=1e-4)


def test_a_dora_without_its_base_is_refused_naming_the_option(zoo, tmp_path):
    with pytest.raises(UnsupportedError, match="--base"):
        mix([(zoo["sd1-lycoris-dora"].path, 1.0)], tmp_path / "x.safetensors")


def test_a_deterministic_mix_rebuilt_gives_an_identical_file(zoo, tmp_path):
    parts = [(zoo["sd1-kohya-lora"].path, 0.7), (zoo["sd1-kohya-locon"].path, 0.3)]
    mix(parts, tmp_path / "a.safetensors", method="svd", rank=2)
    mix(parts, tmp_path / "b.safetensors", method="svd", rank=2)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_a_26_value_block_weight_vector_scales_each_sd1_layer_by_its_blocks_position(zoo, tmp_path):
    """LBW's full layout (BASE, IN00–IN11, M00, OUT00–OUT11) on a LoCon, whose convs reach the blocks without
    attention too (the zoo's tiny UNet has two down blocks: IN01–IN05)."""
    vector = [round(0.1 + 0.05 * i, 2) for i in range(26)]
    at = dict(zip(LAYOUTS[26], vector, strict=True))
    source, out = zoo["sd1-kohya-locon"].path, tmp_path / "lbw.safetensors"
    mix([(source, 1.0)], out, block_weights=vector)
    before, after = deltas(source), deltas(out)
    labels = {name: block_label(name, "unet" if name.startswith("unet.") else "text_encoder") for name in before}
    assert set(after) == set(before) and {"IN03", "OUT00", "OUT02", "MID", "TE.00"} <= set(labels.values())
    for name, dense in before.items():
        label = labels[name]
        scale = 1.0 if label == "BASE" else at["BASE" if label.startswith("TE") else label.replace("MID", "M00")]
        torch.testing.assert_close(after[name], scale * dense, rtol=1e-2, atol=1e-3 * float(dense.abs().max()))
