"""SD3, Flux.1 and Flux.2 on their real architectures (meta device): every producer's full-coverage
LoRA probes as the right family and size with no layer left over, and its delta per canonical layer
equals what diffusers' own converters make of the same file."""

from __future__ import annotations

import pytest
import torch
from diffusers.loaders import lora_conversion_utils as diffusers_converters
from safetensors.torch import load_file

from loradex.adapters.io.weights import open_weights
from loradex.adapters.model.architectures import DIT_BASES, FAMILY_SIZES
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.factors import layer_factors
from loradex.adapters.zoo.dit_loras import (
    diffusers_lora,
    everything,
    kohya_lora,
    onetrainer_lora,
    original_lora,
    xlabs_lora,
)

SIZES = [(base, arch.size) for base in DIT_BASES for arch in FAMILY_SIZES[base]]


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


def test_a_onetrainer_flux_lora_probes_with_nothing_unmatched(tmp_path):
    lm = layer_map("flux")
    path = onetrainer_lora(lm, tmp_path / "onetrainer.safetensors", select=everything)
    info = probe(path)
    assert (info.base, info.unmatched) == ("flux", [])
    assert {layer.canonical for layer in info.layers} == {
        n for n, layer in lm.layers.items() if layer.module == "linear"
    }


@pytest.mark.parametrize("size", ["medium", "large"])
def test_a_kohya_sd3_lora_has_the_deltas_diffusers_single_file_converter_gives_its_modules(tmp_path, size):
    """diffusers reads no kohya SD3 LoRA, but sd-scripts names SD3's original modules: diffusers'
    single-file converter, which only moves, splits and swaps rows, maps each module's up factor
    onto the canonical layers' rows."""
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers

    lm = layer_map("sd3", size)
    path = kohya_lora(lm, tmp_path / "kohya.safetensors")
    sd = load_file(path)

    class Lenient(dict):
        def pop(self, key, *default):
            return super().pop(key, *default) if key in self or default else torch.zeros(1)

    ups, downs = Lenient(), {}
    for layer in lm.layers.values():
        if layer.component == "transformer":
            key = layer.ldm_key.removeprefix("model.diffusion_model.")
            stem = layer.kohya
            alpha = float(sd[f"{stem}.alpha"]) / sd[f"{stem}.lora_down.weight"].shape[0]
            ups[key] = sd[f"{stem}.lora_up.weight"].float().flatten(1) * alpha
            ups[key.removesuffix(".weight") + ".bias"] = torch.zeros(ups[key].shape[0])
            downs[layer.name] = sd[f"{stem}.lora_down.weight"].float().flatten(1)
    converted = convert_sd3_transformer_checkpoint_to_diffusers(ups)
    theirs = {name: (converted[name.removeprefix("transformer.") + ".weight"], down) for name, down in downs.items()}
    ours = {k: v for k, v in _ours(path).items() if k.startswith("transformer.")}
    _assert_same_deltas(ours, theirs)


def test_a_lycoris_lokr_on_a_fused_flux_module_equals_the_lycoris_forward_pass(tmp_path):
    """LyCORIS' LoKr on Flux's fused ``img_attn.qkv`` (one Kronecker delta over q, k and v): loradex's
    deltas of to_q, to_k and to_v, stacked, are what the LyCORIS module adds to the forward pass."""
    from lycoris.modules.lokr import LokrModule
    from safetensors.torch import save_file

    torch.manual_seed(0)
    fused = torch.nn.Linear(3072, 9216, bias=False)
    module = LokrModule("lora_unet_double_blocks_0_img_attn_qkv", fused, 1.0, lora_dim=4, alpha=2, factor=8)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if not name.startswith("org"):
                param.copy_((torch.randn_like(param) * 0.2).to(torch.bfloat16).float())
    path = tmp_path / "lokr.safetensors"
    state = {
        f"lora_unet_double_blocks_0_img_attn_qkv.{k}": v.to(torch.bfloat16).contiguous()
        for k, v in module.state_dict().items()
        if not k.startswith("org")
    }
    state = {k: (v.float() if k.endswith(".alpha") else v) for k, v in state.items()}
    save_file(state, path, {"ss_network_module": "lycoris.kohya", "ss_base_model_version": "flux1"})
    module.apply_to()
    x = torch.randn(3, 3072)
    with torch.no_grad():
        want = (module(x) - module.org_forward(x)).T
    info = probe(path)
    assert (info.base, info.unmatched) == ("flux", [])
    assert [layer.canonical.rsplit(".", 1)[1] for layer in info.layers] == ["to_q", "to_k", "to_v"]
    ours = _ours(path)
    got = torch.cat(
        [
            ours[f"transformer.transformer_blocks.0.attn.{p}"][0]
            @ (ours[f"transformer.transformer_blocks.0.attn.{p}"][1] @ x.T)
            for p in ("to_q", "to_k", "to_v")
        ]
    )
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3 * float(want.abs().max()))


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_a_lora_of_unpublished_widths_probes_as_its_family_with_no_size(tmp_path, family):
    from loradex.adapters.zoo.models import TINY

    info = probe(kohya_lora(layer_map(TINY[family]), tmp_path / "tiny.safetensors"))
    assert (info.base, info.base_size, info.unmatched) == (family, "", [])


def test_fused_stems_of_unpublished_widths_split_as_their_own_architecture_splits_them(tmp_path):
    """The published proportions (q, k, v thirds; linear1's 1:1:1:4; the final modulation's
    swapped halves) place every row where the tiny architecture's own layer map puts it."""
    from loradex.adapters.zoo.models import TINY

    path = kohya_lora(layer_map(TINY["flux"]), tmp_path / "tiny.safetensors")
    placed = {(layer.stem, layer.canonical): layer.rows for layer in probe(path, placed_on=TINY["flux"]).layers}
    assert {(layer.stem, layer.canonical): layer.rows for layer in probe(path).layers} == placed


def test_a_kohya_lora_of_unpublished_widths_round_trips_through_diffusers_format(tmp_path):
    from loradex.adapters.ops.convert import convert
    from loradex.adapters.zoo.models import TINY

    source = kohya_lora(layer_map(TINY["flux"]), tmp_path / "kohya.safetensors", dtype=torch.float32)
    convert(source, "diffusers", tmp_path / "diffusers.safetensors")
    convert(tmp_path / "diffusers.safetensors", "kohya", tmp_path / "back.safetensors")
    before, after = load_file(source), load_file(tmp_path / "back.safetensors")
    assert {k: v.shape for k, v in after.items()} == {k: v.shape for k, v in before.items()}
    for key in (k for k in before if k.endswith(".lora_down.weight")):
        stem = key.removesuffix(".lora_down.weight")
        want, got = (
            sd[f"{stem}.lora_up.weight"] @ sd[key] * (float(sd[f"{stem}.alpha"]) / sd[key].shape[0])
            for sd in (before, after)
        )
        torch.testing.assert_close(got, want, msg=stem)
