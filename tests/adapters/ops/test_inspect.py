"""inspect(): per-layer statistics, checked against the delta diffusers actually fuses."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from loradex.adapters import UnsupportedError, inspect
from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.zoo.dit_loras import kohya_lora
from loradex.tui.cli import app


def test_layer_norms_equal_the_norm_of_the_delta_diffusers_fuses(zoo):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(zoo["sd1-diffusers"].path, dtype=torch.float32)
    base = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    fused = copy.deepcopy(pipe)
    fused.load_lora_weights(str(zoo["sd1-kohya-lora"].path))
    fused.fuse_lora()
    fused.unload_lora_weights()
    after = fused.unet.state_dict()

    report = inspect(zoo["sd1-kohya-lora"].path)
    unet_layers = [s for s in report.layers if s.component == "unet"]
    assert unet_layers
    for s in unet_layers:
        key = s.canonical.removeprefix("unet.") + ".weight"
        want = float((after[key] - base[key]).norm())
        assert s.norm == pytest.approx(want, rel=1e-3), s.stem


def test_effective_rank_of_a_rank_4_lora_is_at_most_4(zoo):
    for s in inspect(zoo["sd1-kohya-lora"].path).layers:
        assert s.rank == 4 and s.numerical_rank <= 4 and 0 < s.effective_rank <= 4 + 1e-6


def test_summary_counts_ranks_and_component_shares(zoo):
    report = inspect(zoo["sdxl-kohya-lora"].path)
    assert sum(report.rank_histogram.values()) == len(report.layers)
    assert set(report.component_share) == {"text_encoder", "text_encoder_2", "unet"}
    assert sum(report.component_share.values()) == pytest.approx(1.0)


def test_sdxl_unet_blocks_use_input_middle_output_labels(zoo):
    blocks = {b.block for b in inspect(zoo["sdxl-kohya-lora"].path).blocks}
    assert {"IN04", "MID", "OUT00"} <= blocks
    assert any(b.startswith("TE2.") for b in blocks)


def test_nan_in_a_factor_is_reported_not_propagated(zoo, tmp_path):
    tensors = load_file(zoo["sd1-kohya-lora"].path)
    key = next(k for k in tensors if k.endswith("lora_up.weight"))
    tensors[key][0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    save_tensors(path, tensors)
    report = inspect(path)
    assert report.nonfinite == [key.removesuffix(".lora_up.weight")]


def test_lycoris_layers_are_inspected_from_their_factors(zoo):
    for name in ("sd1-lycoris-loha", "sd1-lycoris-lokr", "sd1-lycoris-full"):
        assert all(s.norm and s.norm > 0 for s in inspect(zoo[name].path).layers), name


def test_inspect_refuses_non_adapters_with_a_clear_error(zoo):
    with pytest.raises(UnsupportedError, match="checkpoint"):
        inspect(zoo["sd1-single"].path)


def test_inspect_json_maps_each_stored_key_stem_to_its_canonical_layer(zoo):
    path = zoo["sdxl-kohya-lora"].path
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    layers = json.loads(result.stdout)["layers"]
    stored = {k.split(".")[0] for k in load_file(path)}
    assert {row["stem"] for row in layers} == stored
    row = next(r for r in layers if r["stem"] == "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k")
    assert row["canonical"] == "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k"


def test_inspect_table_for_humans(zoo):
    result = CliRunner().invoke(app, ["inspect", str(zoo["sd1-kohya-locon"].path), "--layers"])
    assert result.exit_code == 0 and "MID" in result.stdout


def _unknown_lora(path):
    """A real LoRA for an architecture loradex does not know (its one layer matches no family)."""
    save_tensors(
        path,
        {
            "lora_unet_made_up_proj.lora_down.weight": torch.randn(4, 8),
            "lora_unet_made_up_proj.lora_up.weight": torch.randn(8, 4),
            "lora_unet_made_up_proj.alpha": torch.tensor(4.0),
        },
    )
    return path


def test_a_lora_of_an_unknown_base_is_inspected_per_layer_without_block_labels(tmp_path):
    path = _unknown_lora(tmp_path / "unknown.safetensors")
    report = inspect(path)
    assert [(s.stem, s.block, s.rank) for s in report.layers] == [("lora_unet_made_up_proj", "?", 4)]
    assert report.layers[0].norm > 0
    result = CliRunner().invoke(app, ["inspect", str(path), "--layers"])
    assert result.exit_code == 0, result.output
    assert "lora_unet_made_up_proj" in result.stdout and "block" not in result.stdout.split("stem")[0]
    assert "base unknown" in result.stderr


def test_a_flux_loras_blocks_are_listed_in_network_order(tmp_path):
    blocks = [b.block for b in inspect(kohya_lora(layer_map("flux"), tmp_path / "flux.safetensors")).blocks]
    want = ["IN", *(f"D{i}" for i in range(19)), *(f"S{i}" for i in range(38)), "OUT"]
    assert blocks[: len(want)] == want
    assert blocks[len(want)] == "TE.00" and blocks[-1] == "TE3.23"
