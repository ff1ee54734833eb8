"""convert(): checked against diffusers and PEFT loading the files, not against loradex."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from loradex.adapters import UnsupportedError, convert, probe
from loradex.tui.cli import app
from tests.support.oracles import deltas, outputs


def _with_lora(pipe, path) -> tuple[torch.Tensor, torch.Tensor]:
    pipe = copy.deepcopy(pipe)
    pipe.load_lora_weights(str(path))
    return outputs(pipe)


def _lora_modules(pipe) -> int:
    return sum(
        1
        for model in (pipe.unet, pipe.text_encoder)
        for _, m in model.named_modules()
        if hasattr(m, "lora_A") and m.lora_A
    )


def test_kohya_converted_to_diffusers_loads_cleanly_and_matches_the_kohya_file_in_diffusers(
    zoo, sd1_pipe, tmp_path, diffusers_log
):
    kohya = zoo["sd1-kohya-lora"].path
    out = tmp_path / "converted.safetensors"
    report = convert(kohya, "diffusers", out)
    assert report.layers == len(probe(kohya).layers)

    pipe = copy.deepcopy(sd1_pipe)
    pipe.load_lora_weights(str(out))
    assert diffusers_log.getvalue() == ""  # no unexpected or missing keys
    assert _lora_modules(pipe) == report.layers
    unet_ours, te_ours = outputs(pipe)

    unet_ref, te_ref = _with_lora(sd1_pipe, kohya)
    unet_base, _ = outputs(sd1_pipe)
    assert not torch.allclose(unet_ref, unet_base, atol=1e-4)  # the LoRA does something
    torch.testing.assert_close(unet_ours, unet_ref, atol=1e-4, rtol=0)
    torch.testing.assert_close(te_ours, te_ref, atol=1e-4, rtol=0)


def test_locon_converted_to_diffusers_matches_the_kohya_file_in_diffusers(zoo, sd1_pipe, tmp_path):
    out = tmp_path / "locon.safetensors"
    convert(zoo["sd1-kohya-locon"].path, "diffusers", out)
    torch.testing.assert_close(
        _with_lora(sd1_pipe, out)[0], _with_lora(sd1_pipe, zoo["sd1-kohya-locon"].path)[0], atol=1e-4, rtol=0
    )


def test_kohya_to_peft_folder_loads_in_peft_with_the_same_weights(zoo, sd1_pipe, tmp_path):
    from peft import PeftModel

    kohya = zoo["sd1-kohya-lora"].path
    folder = tmp_path / "peft"
    convert(kohya, "peft", folder)
    unet = PeftModel.from_pretrained(copy.deepcopy(sd1_pipe.unet), folder / "unet").merge_and_unload()

    ref = copy.deepcopy(sd1_pipe)
    ref.load_lora_weights(str(kohya))
    ref.fuse_lora()
    ref.unload_lora_weights()
    got, want = unet.state_dict(), ref.unet.state_dict()
    assert got.keys() == want.keys()
    for key in got:
        torch.testing.assert_close(got[key], want[key], atol=1e-5, rtol=0)


@pytest.mark.parametrize("route", [("diffusers", "kohya"), ("peft", "kohya"), ("kohya", "diffusers")])
def test_round_trips_keep_every_layer_and_delta(zoo, tmp_path, route):
    source = zoo["sdxl-kohya-lora"].path
    current = source
    for i, fmt in enumerate(route):
        target = tmp_path / (f"step{i}" if fmt == "peft" else f"step{i}.safetensors")
        convert(current, fmt, target)
        current = target
    before, after = deltas(source), deltas(current)
    assert before.keys() == after.keys()
    for name in before:
        torch.testing.assert_close(after[name], before[name], atol=2e-6, rtol=2e-3)


def test_kohya_metadata_survives_conversion(zoo, tmp_path):
    out = tmp_path / "d.safetensors"
    convert(zoo["sd1-kohya-lora"].path, "diffusers", out)
    with safe_open(out, "pt") as f, safe_open(zoo["sd1-kohya-lora"].path, "pt") as g:
        assert f.metadata()["ss_tag_frequency"] == g.metadata()["ss_tag_frequency"]
        assert f.metadata()["loradex.converted_from"] == "kohya"


def test_sd1_text_encoder_stems_are_written_the_way_a1111_reads_them(zoo, tmp_path):
    out = tmp_path / "k.safetensors"
    convert(zoo["sd1-diffusers-lora"].path, "kohya", out)
    with safe_open(out, "pt") as f:
        stems = {k.split(".")[0] for k in f.keys()}
    assert any(s.startswith("lora_te_") for s in stems) and not any(s.startswith("lora_te1_") for s in stems)


def test_lycoris_needs_an_explicit_rank(zoo, tmp_path):
    with pytest.raises(UnsupportedError, match="rank"):
        convert(zoo["sd1-lycoris-loha"].path, "kohya", tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("name", ["sd1-lycoris-loha", "sd1-lycoris-lokr", "sd1-lycoris-full"])
def test_lycoris_to_lora_is_the_truncated_svd_of_each_delta(zoo, tmp_path, name):
    rank = 16
    out = tmp_path / "lora.safetensors"
    report = convert(zoo[name].path, "kohya", out, rank=rank)
    assert "SVD" in report.notes[0]
    before, after = deltas(zoo[name].path), deltas(out)
    stems = {layer.canonical: layer.stem for layer in probe(zoo[name].path).layers}
    for key, dense in before.items():
        u, s, vh = torch.linalg.svd(dense.flatten(1), full_matrices=False)
        best = (u[:, :rank] * s[:rank]) @ vh[:rank]
        torch.testing.assert_close(after[key].flatten(1), best, atol=2e-4, rtol=2e-2)
        energy = float(s[:rank].square().sum() / s.square().sum())
        assert report.retained_energy[stems[key]] == pytest.approx(energy, abs=1e-4)


def test_convert_refuses_to_overwrite_its_input(zoo, tmp_path):
    src = tmp_path / "in.safetensors"
    src.write_bytes(zoo["sd1-kohya-lora"].path.read_bytes())
    result = CliRunner().invoke(app, ["convert", str(src), "--to", "kohya", "-o", str(src)])
    assert result.exit_code == 1 and "input" in result.stderr
    assert src.read_bytes() == zoo["sd1-kohya-lora"].path.read_bytes()


def test_convert_cli_prints_a_json_summary(zoo, tmp_path):
    import json

    out = tmp_path / "o.safetensors"
    result = CliRunner().invoke(
        app, ["convert", str(zoo["sd1-kohya-lora"].path), "--to", "diffusers", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["target_format"] == "diffusers"


def test_a_mixed_rank_lora_converted_to_kohya_gives_the_same_unet_output_in_diffusers(zoo, sd1_pipe, tmp_path):
    from loradex.adapters.ops.mix import resize

    resized = tmp_path / "dynamic.safetensors"
    resize(zoo["sd1-kohya-lora"].path, resized, dynamic=("sv_ratio", 1.5))
    mixed_rank = tmp_path / "mixed_rank_diffusers.safetensors"  # no alphas: diffusers reads it exactly
    convert(resized, "diffusers", mixed_rank)
    assert len(set(probe(mixed_rank).ranks)) > 1
    out = tmp_path / "kohya.safetensors"
    convert(mixed_rank, "kohya", out)
    with safe_open(out, "pt") as f:
        alphas = {float(f.get_tensor(k)) for k in f.keys() if k.endswith(".alpha")}
    assert len(alphas) == 1  # one alpha for the file: diffusers misreads alphas that differ per layer
    torch.testing.assert_close(_with_lora(sd1_pipe, out)[0], _with_lora(sd1_pipe, mixed_rank)[0], atol=1e-4, rtol=0)
