"""The operation commands at their edges: bad weights, Ctrl-C, references that are paths, outputs
that make no sense, and outputs recorded without being read again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from loradex.adapters import probe
from loradex.adapters.ops.factors import block_of
from loradex.adapters.ops.recipe_sources import read_recipe
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, ScanRoot
from tests.support.ops_cli import cli, cli_json, one_error_line


@pytest.mark.parametrize(
    ("weight", "words"),
    [("inf", "not a finite number"), ("nan", "not a finite number"), ("abc", "'abc' is not a number")],
)
def test_a_weight_that_is_no_finite_number_is_a_usage_error_before_anything_is_read(files, tmp_path, weight, words):
    out = tmp_path / "baked.safetensors"
    one_error_line(cli("bake", "--base", files["base"], f"{files['lora']}:{weight}", "-o", out), words, code=2)
    assert not out.exists()


def test_an_unknown_block_weight_label_is_refused_naming_the_valid_ones(files, tmp_path):
    one_error_line(
        cli("mix", files["lora"], "--block-weights", "IN=1,FOO=1", "-o", tmp_path / "o.safetensors"),
        "FOO",
        "IN04",
        code=2,
    )


def test_a_lora_block_weight_preset_weighs_the_blocks_its_vector_names(files, tmp_path):
    out = tmp_path / "outall.safetensors"
    cli_json("mix", files["lora"], "--block-weights", "outall", "-o", out)
    assert read_recipe(out).params["block_weights"] == "OUTALL"
    blocks = {block_of(layer, "sd1") for layer in probe(out).layers}
    assert blocks and all(b.startswith(("TE", "OUT")) and b not in ("OUT00", "OUT01", "OUT02") for b in blocks)


def test_a_block_weight_vector_in_a_recipe_file_is_an_array(files, tmp_path):
    vector = ", ".join(["0"] * 8 + ["1"] * 9)
    recipe = tmp_path / "mix.toml"
    recipe.write_text(
        f'op = "mix"\nblock_weights = [{vector}]\noutput = "o.safetensors"\n[[inputs]]\nref = "{files["lora"]}"\n'
    )
    cli_json("mix", recipe)
    assert read_recipe(tmp_path / "o.safetensors").params["block_weights"] == [0.0] * 8 + [1.0] * 9
    assert not any(layer.component != "unet" for layer in probe(tmp_path / "o.safetensors").layers)


@pytest.mark.parametrize(
    ("weights", "words", "code"),
    [
        ("D3=0", ("block D3 is not a sd1 block", "sd1 blocks: BASE, IN00–IN11, MID, OUT00–OUT11, TE.00–TE.11"), 1),
        ("SDXL-OUTALL", ("preset SDXL-OUTALL is for SDXL LoRAs", "sd1 presets: NONE, ALL, INS"), 1),
        (",".join(["1"] * 12), ("a block-weight vector for sd1 has 17 or 26 numbers, not 12",), 1),
        (",".join(["1"] * 13), ("12, 17, 20, 26 or 61 numbers",), 2),
    ],
)
def test_block_weights_that_do_not_fit_the_loras_family_are_refused_in_one_line(files, tmp_path, weights, words, code):
    out = tmp_path / "o.safetensors"
    one_error_line(cli("mix", files["lora"], "--block-weights", weights, "-o", out), *words, code=code)
    assert not out.exists()


def test_a_block_weighted_zero_is_left_out_of_the_mix(files, tmp_path):
    out = tmp_path / "no_te.safetensors"
    cli_json("mix", files["lora"], "--block-weights", "TE=0", "-o", out)
    layers = probe(out).layers
    assert layers and all(layer.component == "unet" for layer in layers)
    assert len(layers) < len(probe(files["lora"]).layers)


def test_extract_from_two_identical_checkpoints_says_no_layer_differs(files, tmp_path):
    out = tmp_path / "nothing.safetensors"
    one_error_line(
        cli("extract", "--base", files["base"], "--tuned", files["base"], "--rank", 4, "-o", out), "no layer differs"
    )
    assert not out.exists()


def test_a_bake_of_a_diffusers_folder_into_a_safetensors_name_is_refused(zoo, tmp_path):
    out = tmp_path / "baked.safetensors"
    one_error_line(
        cli("bake", "--base", zoo["sd1-diffusers"].path, f"{zoo['sd1-kohya-lora'].path}:0.5", "-o", out),
        "diffusers folder",
        "without .safetensors",
    )
    assert not out.exists()


def test_a_converted_file_carries_its_recipe_and_rebuilds_identical(files, tmp_path):
    out = tmp_path / "diffusers.safetensors"
    assert cli("convert", files["lora"], "--to", "diffusers", "-o", out).exit_code == 0
    assert read_recipe(out).op == "convert"
    assert cli_json("rebuild", out)["identical"] is True


def test_probe_inspect_and_convert_take_catalog_refs_when_a_catalog_is_in_use(catalog, files, tmp_path):
    assert cli_json("probe", "sd1-kohya-lora", catalog=catalog)["artifacts"][0]["path"] == str(files["lora"])
    assert cli_json("inspect", "sd1-kohya-lora", catalog=catalog)["layers"]
    out = tmp_path / "converted.safetensors"
    assert cli("convert", "sd1-kohya-lora", "--to", "diffusers", "-o", out, catalog=catalog).exit_code == 0
    assert probe(out).format == "diffusers"


@pytest.mark.parametrize("to", ["diffusers", "peft"])
def test_convert_records_its_output_and_lineage_like_every_operation(catalog, files, tmp_path, to):
    out = tmp_path / ("converted" if to == "peft" else "converted.safetensors")  # peft: a folder
    data = cli_json("convert", "sd1-kohya-lora", "--to", to, "-o", out, catalog=catalog)
    assert data["target_format"] == to and data["layers"] == len(probe(files["lora"]).layers)  # the report, as before
    shown = cli_json("show", data["artifact"]["id"], catalog=catalog)
    assert shown["path"] == str(out) and shown["format"] == ("peft" if to == "peft" else "diffusers")
    [made_by] = shown["lineage"]["made_by"]
    assert made_by["op"] == "convert" and made_by["params"]["to"] == to
    assert [i["artifact"]["name"] for i in made_by["inputs"]] == ["sd1-kohya-lora"]
    used = cli_json("show", "sd1-kohya-lora", catalog=catalog)["lineage"]["used_in"]
    assert [u["op"] for u in used] == ["convert"]


def test_outputs_are_recorded_as_artifacts_not_as_scan_roots(catalog, files, tmp_path):
    cli_json("mix", "sd1-kohya-lora:0.5", "-o", tmp_path / "a.safetensors", catalog=catalog)
    cli_json("convert", "sd1-kohya-lora", "--to", "diffusers", "-o", tmp_path / "b.safetensors", catalog=catalog)
    engine = open_catalog(catalog)
    with open_session(engine) as s:
        assert s.exec(select(ScanRoot.path)).all() == [str(files["lora"].parent)]
        assert {Path(p).name for p in s.exec(select(Artifact.path))} >= {"a.safetensors", "b.safetensors"}
    engine.dispose()


@pytest.mark.parametrize("command", [("probe",), ("inspect",), ("mix", "-o", "out.safetensors")])
def test_a_path_that_does_not_exist_is_no_such_file_also_with_a_catalog(catalog, tmp_path, command):
    missing = tmp_path / "gone.safetensors"
    one_error_line(cli(command[0], missing, *command[1:], catalog=catalog), str(missing), "no such file")


def test_ctrl_c_after_the_output_is_renamed_says_it_is_complete_and_the_catalog_agrees(
    catalog, files, tmp_path, monkeypatch
):
    import loradex.registry.services.runner as runner_module

    real_run = runner_module.run

    def interrupted_after_the_rename(*args, **kwargs):
        real_run(*args, **kwargs)
        raise KeyboardInterrupt  # as if Ctrl-C came between the rename and the return

    monkeypatch.setattr(runner_module, "run", interrupted_after_the_rename)
    out = tmp_path / "baked.safetensors"
    result = cli("bake", "--base", files["base"], f"{files['lora']}:0.5", "-o", out, catalog=catalog)
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        f"interrupted: {out}: the output is complete and recorded in the catalog "
        "(the interrupt came after it was written)"
    )
    engine = open_catalog(catalog)
    try:
        with open_session(engine) as s:
            row = s.exec(select(Artifact).where(Artifact.path == str(out))).one()
    finally:
        engine.dispose()
    from loradex.adapters.io.hashing import sha256_file

    assert row.sha256 == sha256_file(out) and read_recipe(out).op == "bake"


def test_ctrl_c_before_the_output_is_renamed_says_nothing_was_written(files, tmp_path, monkeypatch):
    import loradex.registry.services.runner as runner_module

    def interrupted_while_streaming(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module, "run", interrupted_while_streaming)
    out = tmp_path / "baked.safetensors"
    result = cli("bake", "--base", files["base"], f"{files['lora']}:0.5", "-o", out)
    assert result.exit_code == 130 and not out.exists()
    assert result.stderr.strip() == f"interrupted: nothing was written ({out} is as it was)"


def test_ctrl_c_while_the_cli_is_still_importing_exits_130_with_one_line(tmp_path):
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def slow(name, *a, **k):\n"
        "    if name == 'typer':\n"
        "        raise KeyboardInterrupt\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = slow\n"
        "from loradex.tui.entry import main\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 130 and run.stderr == "interrupted\n"


def test_check_probes_a_path_the_catalog_does_not_hold(catalog, files, tmp_path):
    outside = Path(shutil.copy2(files["lora"], tmp_path / "not_catalogued.safetensors"))
    data = cli_json("check", outside, "--base", files["base"], catalog=catalog)
    assert data["verdict"] == "compatible" and data["matched"] == data["total"] > 0


def test_check_of_two_paths_needs_no_catalog(files, zoo):
    result = cli("check", zoo["sdxl-kohya-lora"].path, "--base", files["base"], "--json")
    assert result.exit_code == 4 and json.loads(result.stdout)["verdict"] == "incompatible"  # 4: not compatible


def test_show_of_a_path_says_no_such_file_or_not_in_the_catalog(catalog, files, tmp_path):
    one_error_line(cli("show", tmp_path / "gone.safetensors", catalog=catalog), "no such file")
    outside = Path(shutil.copy2(files["lora"], tmp_path / "outside.safetensors"))
    one_error_line(cli("show", outside, catalog=catalog), "not in the catalog", "loradex scan")
