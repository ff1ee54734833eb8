"""Layer-name maps on the real, full-size SD1.5 / SD2 / SDXL architectures (meta device),
checked against diffusers' own kohya→diffusers→PEFT conversion as the oracle."""

from __future__ import annotations

import re

import pytest
import torch
from diffusers.loaders.lora_conversion_utils import (
    _convert_non_diffusers_lora_to_diffusers,
    _maybe_map_sgm_blocks_to_diffusers,
)
from diffusers.utils.state_dict_utils import (
    convert_state_dict_to_diffusers,
    convert_state_dict_to_peft,
    convert_unet_state_dict_to_peft,
)

from loradex.adapters.model.architectures import architecture
from loradex.adapters.model.layermap import layer_map


def _params(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.mark.parametrize(
    ("base", "component", "millions"),
    [
        ("sd1", "unet", 859.5),
        ("sdxl", "unet", 2567.5),
        ("sd1", "text_encoder", 123.1),
        ("sdxl", "text_encoder_2", 694.7),
    ],
)
def test_meta_architectures_are_the_real_sizes(base, component, millions):
    arch = architecture(base)
    model = arch.meta_denoiser() if component == "unet" else arch.meta_text_encoder(component)
    assert _params(model) == pytest.approx(millions, abs=0.1)


@pytest.mark.parametrize("base", ["sd1", "sd2", "sdxl"])
def test_every_kohya_stem_resolves_to_a_layer_of_the_same_shape(base):
    lm = layer_map(base)
    arch = architecture(base)
    shapes = {
        f"unet.{n}": tuple(m.weight.shape)
        for n, m in arch.meta_denoiser().named_modules()
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
    }
    for component in arch.text_encoders:
        for n, m in arch.meta_text_encoder(component).named_modules():
            if isinstance(m, torch.nn.Linear):
                name = n if n.startswith(("text_model.", "text_projection")) else "text_model." + n
                shapes[f"{component}.{name}"] = tuple(m.weight.shape)
    assert set(lm.layers) == set(shapes)
    for layer in lm.layers.values():
        assert lm.resolve(layer.kohya) == layer.name
        assert layer.shape == shapes[layer.name]


def _kohya_key_set(base: str) -> dict[str, torch.Tensor]:
    sd = {}
    for layer in layer_map(base).layers.values():
        conv = (1, 1) if len(layer.shape) == 4 else ()
        sd[f"{layer.kohya}.lora_down.weight"] = torch.empty((4, *layer.shape[1:]), device="meta")
        sd[f"{layer.kohya}.lora_up.weight"] = torch.empty((layer.shape[0], 4, *conv), device="meta")
        sd[f"{layer.kohya}.alpha"] = torch.tensor(4.0)
    return sd


def _diffusers_module_for_each_down(sd: dict[str, torch.Tensor], base: str) -> dict[int, str]:
    """Run diffusers' loading path (SGM remap, kohya→diffusers, →PEFT) and report, for each
    ``lora_down`` tensor (by identity), the module diffusers attaches it to."""
    if base == "sdxl":
        sd = _maybe_map_sgm_blocks_to_diffusers(sd, architecture(base).meta_denoiser().config)
    converted, _alphas = _convert_non_diffusers_lora_to_diffusers(sd)
    modules = {}
    for component in ("unet", "text_encoder", "text_encoder_2"):
        part = {k[len(component) + 1 :]: v for k, v in converted.items() if k.startswith(component + ".")}
        if not part:
            continue
        peft = (
            convert_unet_state_dict_to_peft(part)
            if component == "unet"
            else convert_state_dict_to_peft(convert_state_dict_to_diffusers(part))
        )
        for key, tensor in peft.items():
            if key.endswith(".lora_A.weight"):
                modules[id(tensor)] = f"{component}.{key.removesuffix('.lora_A.weight')}"
    return modules


@pytest.mark.parametrize("base", ["sd1", "sd2", "sdxl"])
def test_kohya_mapping_agrees_key_for_key_with_diffusers(base):
    lm = layer_map(base)
    sd = _kohya_key_set(base)
    ours = {id(sd[f"{layer.kohya}.lora_down.weight"]): lm.resolve(layer.kohya) for layer in lm.layers.values()}
    theirs = _diffusers_module_for_each_down(dict(sd), base)
    assert len(theirs) == len(ours) == len(lm.layers)
    assert theirs == ours


def test_sdxl_text_encoder_2_attention_maps_to_slices_of_in_proj():
    lm = layer_map("sdxl")
    q = lm.layers["text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj"]
    v = lm.layers["text_encoder_2.text_model.encoder.layers.0.self_attn.v_proj"]
    assert q.ldm_key == v.ldm_key == "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight"
    assert (q.ldm_rows, v.ldm_rows) == (((0, 1280),), ((2560, 3840),))


def test_sdxl_unet_layers_carry_sgm_single_file_keys():
    layer = layer_map("sdxl").layers["unet.down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k"]
    assert layer.ldm_key == "model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight"
    assert layer.kohya == "lora_unet_input_blocks_4_1_transformer_blocks_1_attn2_to_k"


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        (
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora",
            "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        ),
        (
            "unet.up_blocks.1.attentions.2.transformer_blocks.0.attn2.processor.to_out_lora",
            "unet.up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_out.0",
        ),
        (
            "text_encoder.text_model.encoder.layers.3.self_attn.to_k_lora",
            "text_encoder.text_model.encoder.layers.3.self_attn.k_proj",
        ),
        ("text_encoder.encoder.layers.3.mlp.fc1", "text_encoder.text_model.encoder.layers.3.mlp.fc1"),
        ("model.diffusion_model.input_blocks.1.1.proj_in", "unet.down_blocks.0.attentions.0.proj_in"),
        ("lora_te1_text_model_encoder_layers_0_mlp_fc2", "text_encoder.text_model.encoder.layers.0.mlp.fc2"),
    ],
)
def test_other_spellings_resolve_to_the_canonical_layer(spelling, canonical):
    assert layer_map("sd1").resolve(spelling) == canonical


def test_layer_maps_are_built_once_per_process():
    assert layer_map("sdxl") is layer_map("sdxl")


def test_the_on_disk_cache_round_trips_a_map_exactly():
    from loradex.adapters.model.layermap import _from_json, _to_json

    lm = layer_map("sdxl")
    again = _from_json(_to_json(lm))
    assert again.layers == lm.layers
    assert all(again.resolve(layer.kohya) == name for name, layer in lm.layers.items())


def _ldm_block(ldm_key: str) -> str:
    """The block of an LDM/SGM UNet key, as LoRA-block-weight tools number them (the oracle)."""
    if m := re.search(r"input_blocks\.(\d+)\.", ldm_key):
        return f"IN{int(m[1]):02d}"
    if "middle_block." in ldm_key:
        return "MID"
    if m := re.search(r"output_blocks\.(\d+)\.", ldm_key):
        return f"OUT{int(m[1]):02d}"
    return "BASE"


@pytest.mark.parametrize("base", ["sd1", "sd2", "sdxl"])
def test_block_label_by_block_arithmetic_agrees_with_the_ldm_key_of_every_unet_layer(base):
    """block_label (diffusers block arithmetic, no torch) against the block in each layer's LDM key,
    which the layer map derives from diffusers' own single-file converter."""
    from loradex.adapters.model.layermap import block_label

    for name, layer in layer_map(base).layers.items():
        if layer.component == "unet":
            assert block_label(name, "unet") == _ldm_block(layer.ldm_key), name
