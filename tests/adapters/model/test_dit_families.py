"""SD3, Flux.1 and Flux.2 on their real architectures (meta device): every producer's full-coverage
LoRA probes as the right family and size with no layer left over, and its delta per canonical layer
equals what diffusers' own converters make of the same file."""

from __future__ import annotations

import pytest
import torch
from diffusers.loaders import lora_conversion_utils as diffusers_converters
from safetensors.torch import load_file

from loradex.adapters.io.weights import open_weights
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.factors import layer_factors
from loradex.adapters.zoo.dit_loras import diffusers_lora, kohya_lora, original_lora, xlabs_lora

SIZES = [
    ("sd3", "medium"),
    ("sd3", "large"),
    ("flux", ""),
    ("flux2", "dev"),
    ("flux2", "klein-4b"),
    ("flux2", "klein-9b"),
]


def _ours(path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Canonical layer → loradex's exact factors (B, A) of its delta."""
    info = probe(path)
    with open_weights(path) as src:
        return {layer.canonical: layer_factors(info, layer, src) for layer in info.layers if layer.canonical}


def _theirs(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Module → (B, A) of a diffusers-format state dict (scale 1, as diffusers loads it)."""
    out = {}
    for key, down in state_dict.items():
        if key.endswith(".lora_A.weight"):
            module = key.removesuffix(".lora_A.weight")
            module = module if module.startswith(("transformer.", "text_encoder")) else "transformer." + module
            out[module] = (state_dict[key.replace(".lora_A.", ".lora_B.")].float(), down.float())
    return out


def _assert_same_deltas(ours, theirs) -> None:
    """Every layer diffusers reads has the same delta in loradex (diffusers' kohya Flux.2 converter
    drops the modulation layers that loradex reads too)."""
    assert set(theirs) <= set(ours)
    for name, (b, a) in theirs.items():
        x = torch.randn(a.shape[1], 3, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
        want = b @ (a @ x)
        got = ours[name][0] @ (ours[name][1] @ x)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()), msg=name)


@pytest.mark.parametrize(("family", "size"), SIZES)
def test_a_full_coverage_kohya_lora_probes_as_its_family_and_size_with_nothing_unmatched(tmp_path, family, size):
    lm = layer_map(family, size)
    info = probe(kohya_lora(lm, tmp_path / "kohya.safetensors"))
    assert (info.base, info.base_size, info.unmatched) == (family, size, [])
    assert {layer.canonical for layer in info.layers} == set(lm.layers)


@pytest.mark.parametrize(("family", "size"), SIZES)
def test_a_full_coverage_diffusers_lora_probes_as_its_family_and_size_with_nothing_unmatched(tmp_path, family, size):
    lm = layer_map(family, size)
    info = probe(diffusers_lora(lm, tmp_path / "pytorch_lora_weights.safetensors"))
    assert (info.base, info.base_size, info.unmatched) == (family, size, [])
    assert {layer.canonical for layer in info.layers} == {
        n for n, layer in lm.layers.items() if layer.module == "linear"
    }


def test_a_kohya_flux_lora_has_the_deltas_diffusers_converter_gives_it(tmp_path):
    path = kohya_lora(layer_map("flux"), tmp_path / "kohya.safetensors")
    converted = diffusers_converters._convert_kohya_flux_lora_to_diffusers(load_file(path))
    theirs = {k: v for k, v in _theirs(converted).items() if k.startswith("transformer.")}
    ours = {k: v for k, v in _ours(path).items() if k.startswith("transformer.")}
    _assert_same_deltas(ours, theirs)


def test_a_kohya_flux2_lora_has_the_deltas_diffusers_converter_gives_it(tmp_path):
    path = kohya_lora(layer_map("flux2", "klein-4b"), tmp_path / "kohya.safetensors")
    converted = diffusers_converters._convert_kohya_flux2_lora_to_diffusers(load_file(path))
    _assert_same_deltas(_ours(path), _theirs(converted))


def test_an_ai_toolkit_flux2_lora_has_the_deltas_diffusers_converter_gives_it(tmp_path):
    path = original_lora(layer_map("flux2", "klein-4b"), tmp_path / "lora.safetensors", "diffusion_model.")
    converted = diffusers_converters._convert_non_diffusers_flux2_lora_to_diffusers(load_file(path))
    theirs, ours = _theirs(converted), _ours(path)
    # This converter renames final_layer.adaLN_modulation.1 without swapping its (shift, scale)
    # halves, unlike diffusers' single-file and kohya converters: loradex swaps, as those do.
    b, a = theirs.pop("transformer.norm_out.linear")
    half = b.shape[0] // 2
    theirs["transformer.norm_out.linear"] = (torch.cat([b[half:], b[:half]]), a)
    _assert_same_deltas(ours, theirs)


def test_an_xlabs_flux_lora_has_the_deltas_diffusers_converter_gives_it(tmp_path):
    path = xlabs_lora(layer_map("flux"), tmp_path / "xlabs.safetensors")
    assert probe(path).unmatched == []
    converted = diffusers_converters._convert_xlabs_flux_lora_to_diffusers(load_file(path))
    _assert_same_deltas(_ours(path), _theirs(converted))


def test_a_fal_kontext_lora_has_the_deltas_diffusers_converter_gives_it(tmp_path):
    path = original_lora(
        layer_map("flux"),
        tmp_path / "kontext.safetensors",
        "base_model.model.",
        only=("double_blocks.", "single_blocks.", "final_layer.linear"),
    )
    assert (probe(path).base, probe(path).unmatched) == ("flux", [])
    converted = diffusers_converters._convert_fal_kontext_lora_to_diffusers(load_file(path))
    _assert_same_deltas(_ours(path), _theirs(converted))


def test_the_probe_reports_the_factors_dtype_not_the_alphas(tmp_path):
    info = probe(kohya_lora(layer_map("flux"), tmp_path / "kohya.safetensors"))
    assert {layer.dtype for layer in info.layers} == {"BF16"}


def test_a_kohya_flux_lora_round_trips_through_diffusers_format_with_its_rank(tmp_path):
    from loradex.adapters.ops.convert import convert

    source = kohya_lora(layer_map("flux"), tmp_path / "kohya.safetensors")
    convert(source, "diffusers", tmp_path / "diffusers.safetensors")
    convert(tmp_path / "diffusers.safetensors", "kohya", tmp_path / "back.safetensors")
    before, after = load_file(source), load_file(tmp_path / "back.safetensors")
    assert set(after) == set(before)
    for key in (k for k in before if k.endswith(".lora_down.weight")):
        stem = key.removesuffix(".lora_down.weight")
        assert after[key].shape == before[key].shape, stem  # the shared down is kept: no rank growth
        x = torch.randn(before[key].shape[1], 3, generator=torch.Generator().manual_seed(0))
        want, got = (
            sd[f"{stem}.lora_up.weight"].float()
            @ (sd[key].float() @ x)
            * (float(sd[f"{stem}.alpha"]) / sd[key].shape[0])
            for sd in (before, after)
        )
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2 * float(want.abs().max()), msg=stem)


def test_inspect_reads_a_flux_lora_by_double_and_single_block(tmp_path):
    from loradex.adapters.ops.inspection import inspect

    report = inspect(kohya_lora(layer_map("flux"), tmp_path / "kohya.safetensors"))
    blocks = {b.block for b in report.blocks}
    assert {f"D{i}" for i in range(19)} | {f"S{i}" for i in range(38)} <= blocks
