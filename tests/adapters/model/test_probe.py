"""probe() on the zoo: kind, format and base of every artifact, and what it reads to say so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loradex.adapters import probe
from loradex.adapters.io.reader import SafetensorsFile
from loradex.tui.cli import app


def test_probe_identifies_kind_format_and_base_of_every_zoo_artifact(zoo):
    wrong = []
    for item in zoo:
        info = probe(item.path)
        if (info.kind, info.format, info.base) != (item.kind, item.format, item.base):
            wrong.append(
                f"{item.name}: expected {item.kind}/{item.format}/{item.base}, "
                f"got {info.kind}/{info.format}/{info.base}"
            )
    assert wrong == []


#: The zoo's tiny SD3 and FLUX.1 LoRAs probe cannot place: their widths fit none of the published
#: sizes (a DiT is told by name and shape), so a file no metadata claims is ``unknown``, and a fused
#: kohya stem cannot be split by the full-size rows. quick-test places them on the loaded base.
PLACED_ONLY_ON_THEIR_BASE = {
    "sd3-kohya-lora": "sd3",
    "sd3-diffusers-lora": "sd3",
    "sd3-comfy-lora": "sd3",
    "flux-kohya-lora": "flux",
    "flux-diffusers-lora": "flux",
    "flux-comfy-lora": "flux",
    "flux-xlabs-lora": "flux",
    "flux-lycoris-lokr": "flux",
}


def test_every_adapter_layer_of_the_zoo_maps_to_a_canonical_layer(zoo):
    for item in zoo:
        if item.kind in ("lora", "lycoris") and item.name not in PLACED_ONLY_ON_THEIR_BASE:
            info = probe(item.path)
            assert info.layers and not info.unmatched, item.name


@pytest.mark.xfail(strict=True, reason="tiny DiT widths fit no published size; see PLACED_ONLY_ON_THEIR_BASE")
@pytest.mark.parametrize("name", sorted(PLACED_ONLY_ON_THEIR_BASE))
def test_a_tiny_dit_lora_probes_as_its_family_with_every_layer_placed(zoo, name):
    info = probe(zoo[name].path)
    assert (info.base, info.unmatched) == (PLACED_ONLY_ON_THEIR_BASE[name], [])


def test_probing_a_safetensors_lora_reads_the_header_and_alphas_only(zoo):
    path = zoo["sdxl-kohya-lora"].path
    info = probe(path)
    with SafetensorsFile(path) as f:
        alphas = sum(f.info(k).nbytes for k in f.keys() if k.endswith(".alpha"))
        assert info.bytes_read == f.header_size + alphas


def test_metadata_that_contradicts_the_shapes_is_reported_not_believed(zoo):
    info = probe(zoo["sd1-kohya-lora-mislabelled"].path)
    assert info.base == "sd1"
    assert info.base_claims["ss_base_model_version"] == "sdxl_base_v1-0"
    assert "sdxl" in info.base_conflict and "sd1" in info.base_conflict


def test_a_self_attention_only_slider_is_still_recognised_as_sdxl(zoo):
    info = probe(zoo["sdxl-kohya-slider"].path)
    assert info.base == "sdxl"
    assert all("attn1" in layer.canonical for layer in info.layers)
    assert any("SGM" in e for e in info.base_evidence)


def test_sdxl_lora_touches_both_text_encoders_and_the_unet(zoo):
    assert probe(zoo["sdxl-kohya-lora"].path).components == ["text_encoder", "text_encoder_2", "unet"]


def test_trigger_words_come_from_the_trigger_phrase_then_ranked_training_tags(zoo):
    info = probe(zoo["sd1-kohya-lora"].path)
    tags = [t for t, _ in info.tag_frequency]
    counts = [n for _, n in info.tag_frequency]
    assert counts == sorted(counts, reverse=True)
    assert info.trigger_words and set(info.trigger_words) - set(tags) <= set(
        info.metadata.get("modelspec.trigger_phrase", "").replace(", ", ",").split(",")
    )


def test_peft_folder_ranks_and_alphas_come_from_adapter_config(zoo):
    folder = zoo["sd1-peft-lora"].path
    config = json.loads((folder / "adapter_config.json").read_text())
    info = probe(folder)
    assert {layer.rank for layer in info.layers} == {config["r"]}
    assert {layer.alpha for layer in info.layers} == {config["lora_alpha"]}


def test_lycoris_layers_report_their_algorithm(zoo):
    for name, algorithm in [
        ("sd1-lycoris-loha", "loha"),
        ("sd1-lycoris-lokr", "lokr"),
        ("sd1-lycoris-dora", "dora"),
        ("sd1-lycoris-full", "full"),
    ]:
        assert probe(zoo[name].path).algorithms == [algorithm], name


def test_locon_conv_layers_are_reported_as_locon(zoo):
    assert "locon" in probe(zoo["sd1-kohya-locon"].path).algorithms


def test_single_file_and_folder_checkpoints_list_the_same_layer_inventory(zoo):
    single = probe(zoo["sd1-single"].path).inventory
    folder = probe(zoo["sd1-diffusers"].path).inventory
    assert single and single == folder


def test_an_ldm_ckpt_probes_as_the_checkpoint_inside_its_state_dict(zoo, sd1_ckpt):
    info, twin = probe(sd1_ckpt), probe(zoo["sd1-single"].path)
    assert (info.kind, info.format, info.base, info.safety) == ("checkpoint", "ldm_single_file", "sd1", "pickle-safe")
    assert info.inventory == twin.inventory
    assert info.metadata == {"global_step": "470000"}


def test_sdxl_single_file_inventory_includes_text_encoder_2_slices_of_in_proj(zoo):
    inventory = probe(zoo["sdxl-single"].path).inventory
    assert inventory["text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj"] == (1280, 1280)


def test_unknown_files_carry_a_reason(zoo):
    info = probe(zoo["unknown"].path)
    assert info.kind == "unknown" and "foo.bar.weight" in info.reason


def test_probe_json_lists_every_artifact(zoo):
    paths = [str(zoo[n].path) for n in ("sd1-kohya-lora", "sd1-peft-lora", "sdxl-ti")]
    result = CliRunner().invoke(app, ["probe", *paths, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["artifacts"]
    assert [(r["kind"], r["base"]) for r in rows] == [("lora", "sd1"), ("lora", "sd1"), ("textual_inversion", "sdxl")]


@pytest.mark.parametrize("name", ["sd1-kohya-lora", "sd1-controlnet-diffusers", "sd1-hypernetwork"])
def test_probe_table_renders_for_humans(zoo, name):
    result = CliRunner().invoke(app, ["probe", str(zoo[name].path)])
    assert result.exit_code == 0 and "sd1" in result.stdout


@pytest.mark.parametrize("name", ["sd1-controlnet-diffusers", "sd1-controlnet-single"])
def test_a_controlnet_lists_the_unet_layers_it_copies_and_they_fit_its_base(zoo, name):
    inventory = probe(zoo[name].path).inventory
    base = probe(zoo["sd1-single"].path).inventory
    assert inventory and all(base.get(layer) == shape for layer, shape in inventory.items())
