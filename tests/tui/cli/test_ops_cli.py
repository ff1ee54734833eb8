"""mix / resize / bake / extract / rebuild through the command line (``CliRunner``), on the zoo's
tiny models: the files are written, ``--json`` parses, outputs are checked through the library
(probe, the embedded recipe, the catalog's rows), never by parsing the human text.

Exit codes: 0 ok, 1 a LoradexError (one line on stderr), 2 usage.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sqlmodel import select

from loradex.adapters import probe
from loradex.adapters.ops.recipe_sources import load_recipe, read_recipe
from loradex.registry.services import runner
from loradex.registry.store.db import default_catalog_path, open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Recipe, RecipeInput
from tests.support.ops_cli import _sha, cli, cli_json, one_error_line


def test_mix_concat_and_svd_write_loras_with_json_summaries(files, tmp_path):
    out = tmp_path / "mixed.safetensors"
    data = cli_json("mix", f"{files['lora']}:0.7", f"{files['locon']}:-0.5", "-o", out)
    info = probe(out)
    assert info.kind == "lora" and info.base == "sd1" and data["report"]["layers"] == len(info.layers)
    assert data["output"] == str(out) and data["op"] == "mix" and data["artifact"] is None
    assert data["report"]["method"] == "concat" and data["retained_energy"] is None
    recipe = read_recipe(out)
    assert [(Path(i.ref), i.weight) for i in recipe.inputs] == [(files["lora"], 0.7), (files["locon"], -0.5)]

    svd = tmp_path / "svd.safetensors"
    data = cli_json("mix", f"{files['lora']}:0.7", f"{files['locon']}:-1e-1", "--rank", 2, "-o", svd)
    assert data["report"]["method"] == "svd" and set(data["report"]["ranks"]) == {2}  # --rank implies svd
    energy = data["retained_energy"]
    assert energy["layers"] == len(data["report"]["retained_energy"]) and 0 < energy["min"] <= energy["mean"] <= 1
    assert [i.weight for i in read_recipe(svd).inputs] == [0.7, -0.1]
    assert not default_catalog_path().exists()  # no catalog in use: none was created


def test_negative_weights_and_block_weights_parse(files, tmp_path):
    out = tmp_path / "neg.safetensors"
    result = cli("mix", f"{files['lora']}:-0.5", "--block-weights", "IN=1,MID=-0.5,OUT=1,TE=0", "-o", out)
    assert result.exit_code == 0, result.output
    recipe = read_recipe(out)
    assert recipe.inputs[0].weight == -0.5
    assert recipe.params["block_weights"] == {"IN": 1.0, "MID": -0.5, "OUT": 1.0, "TE": 0.0}
    # Options after negative-weighted inputs still parse as options.
    data = cli_json(
        "mix",
        f"{files['lora']}:-1",
        f"{files['locon']}:-0.25",
        "--method",
        "svd",
        "--rank",
        "3",
        "-o",
        tmp_path / "neg2.safetensors",
    )
    assert [i["weight"] for i in data["inputs"]] == [-1.0, -0.25] and set(data["report"]["ranks"]) == {3}
    # A bare negative number is not taken for an option: the message says where weights go.
    one_error_line(cli("mix", files["lora"], "-0.5", "-o", out), "REF:-0.5", code=2)
    one_error_line(cli("mix", files["lora"], "--bogus", "-o", out), "--bogus", code=2)
    one_error_line(cli("mix", files["lora"], "--block-weights", "IN", "-o", out), "LABEL=WEIGHT", code=2)
    one_error_line(cli("mix", files["lora"], "--method", "concat", "--rank", "2", "-o", out), "svd method only")


def test_resize_reports_retained_energy_per_layer(files, tmp_path):
    out = tmp_path / "r2.safetensors"
    result = cli("resize", files["locon"], "--rank", 2, "-o", out)
    assert result.exit_code == 0, result.output
    assert "retained energy: min" in result.stdout and "mean" in result.stdout
    assert {layer.rank for layer in probe(out).layers} == {2}

    data = cli_json("resize", files["lora"], "--dynamic", "sv_fro=0.9", "-o", tmp_path / "dyn.safetensors")
    per_layer = data["report"]["retained_energy"]
    assert len(per_layer) == data["report"]["layers"] == len(probe(files["lora"]).layers)
    assert min(per_layer.values()) == data["retained_energy"]["min"] >= 0.9**2 - 1e-6  # sv_fro keeps ≥ 0.9 of ‖σ‖
    assert read_recipe(tmp_path / "dyn.safetensors").params["dynamic"] == ["sv_fro", 0.9]
    one_error_line(cli("resize", files["lora"], "-o", out), "exactly one", code=2)
    one_error_line(
        cli("resize", files["lora"], "--rank", 2, "--dynamic", "sv_fro=0.9", "-o", out), "exactly one", code=2
    )
    one_error_line(cli("resize", files["lora"], "--dynamic", "sv_nope=2", "-o", out), "sv_ratio", code=2)


def test_bake_writes_a_checkpoint_and_rebuild_says_identical(files):
    data = json.loads(files["bake_json"].read_text())
    assert data["op"] == "bake" and data["report"]["patched_tensors"] > 0
    layers = len(probe(files["small"]).layers)
    assert layers == 7 and data["report"]["loras"][0][1:] == [0.8, layers, layers]
    assert [i["role"] for i in data["inputs"]] == ["base", "input"]
    assert probe(files["baked"]).kind == "checkpoint"
    result = cli("rebuild", files["baked"])
    assert result.exit_code == 0, result.output
    assert "identical" in result.stdout


def test_rebuild_of_an_edited_file_exits_1_with_one_line(files, tmp_path):
    out = tmp_path / "m.safetensors"
    assert cli("mix", f"{files['lora']}:0.5", "-o", out).exit_code == 0
    assert cli_json("rebuild", out)["identical"] is True
    with safe_open(out, "pt") as f:
        metadata = f.metadata()
    save_file(load_file(out), out, {**metadata, "edited": "yes"})  # same recipe, other bytes
    one_error_line(cli("rebuild", out), str(out), "differs")
    one_error_line(cli("rebuild", files["lora"]), "no loradex recipe")


@pytest.fixture
def small_disk(tmp_path):
    """A real 64 KiB file system (tmpfs), for outputs that do not fit."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (CI runs as root): {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_that_fills_up_mid_write_exits_1_naming_the_output_and_leaves_nothing(files, small_disk):
    out = small_disk / "m.safetensors"
    one_error_line(cli("mix", f"{files['lora']}:0.5", "-o", out), str(out), "disk filled up", "nothing was written")
    assert list(small_disk.iterdir()) == []


def test_bake_refuses_up_front_when_the_output_cannot_fit(files, small_disk):
    one_error_line(
        cli("bake", "--base", files["base"], f"{files['lora']}:0.8", "-o", small_disk / "b.safetensors"),
        str(small_disk),
        "GB free",
    )
    assert list(small_disk.iterdir()) == []


_SIZE_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from loradex.tui.cli import main
sys.argv = ["loradex", *sys.argv[1:]]
main()
"""


def test_a_write_the_system_refuses_exits_1_naming_the_output_and_leaves_nothing(files, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "m.safetensors"
    proc = subprocess.run(
        [sys.executable, "-c", _SIZE_LIMITED, "mix", f"{files['lora']}:0.5", "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == f"error: {out}: cannot write (File too large); nothing was written"
    assert list(out_dir.iterdir()) == []


def test_bake_without_loras_turns_a_ckpt_into_an_equal_safetensors_file(files, sd1_ckpt, tmp_path):
    out = tmp_path / "converted.safetensors"
    assert cli("bake", "--base", sd1_ckpt, "-o", out).exit_code == 0
    want, got = load_file(files["base"]), load_file(out)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert probe(out).kind == "checkpoint"


def test_mix_of_a_dora_needs_its_base_and_records_it(zoo, files, tmp_path):
    dora, out = zoo["sd1-lycoris-dora"].path, tmp_path / "d.safetensors"
    one_error_line(cli("mix", f"{dora}:0.5", "-o", out), "DoRA", "--base")
    data = cli_json("mix", f"{dora}:0.5", "--rank", 4, "--base", files["base"], "-o", out)
    assert [(i["role"], i["path"]) for i in data["inputs"]] == [("base", str(files["base"])), ("input", str(dora))]
    assert {layer.rank for layer in probe(out).layers} == {4}


def test_bake_of_an_sdxl_lora_onto_an_sd1_base_exits_1_naming_both(files, tmp_path):
    out = tmp_path / "bad.safetensors"
    one_error_line(
        cli("bake", "--base", files["base"], f"{files['sdxl']}:0.8", "-o", out), "sdxl", "sd1", files["sdxl"].name
    )
    assert not out.exists()


def test_allow_partial_bakes_the_layers_that_match(files, tmp_path):
    out = tmp_path / "partial-baked.safetensors"
    one_error_line(
        cli("bake", "--base", files["base"], f"{files['partial']}:0.5", "-o", out), "made_up_block", "--allow-partial"
    )
    assert not out.exists()
    data = cli_json("bake", "--base", files["base"], f"{files['partial']}:0.5", "-o", out, "--allow-partial")
    assert data["report"]["unmatched"] == ["partial.safetensors:lora_unet_made_up_block_proj"]
    layers = len(probe(files["partial"]).layers)
    assert data["report"]["loras"][0][2:] == [layers - 1, layers]
    assert read_recipe(out).params["allow_partial"] is True


def test_bake_into_a_unet_only_file_says_in_one_line_which_layers_it_does_not_hold(files, sd1_unet_only, tmp_path):
    result = cli("bake", "--base", sd1_unet_only, f"{files['lora']}:0.8", "-o", tmp_path / "unet.safetensors")
    assert result.exit_code == 0, result.output
    assert "  skipped 12 text-encoder layers not in this file\n" in result.stdout
    assert "unmatched" not in result.stdout


def test_extract_recovers_a_lora_from_the_baked_checkpoint(files, tmp_path):
    out = tmp_path / "extracted.safetensors"
    data = cli_json(
        "extract", "--base", files["base"], "--tuned", files["baked"], "--rank", 4, "-o", out, "--dtype", "fp32"
    )
    info = probe(out)
    assert info.kind == "lora" and data["report"]["layers"] == len(info.layers) == len(probe(files["small"]).layers)
    assert data["retained_energy"]["min"] > 0.99  # the baked delta has rank 4: rank 4 recovers it
    assert [(i.role, Path(i.ref)) for i in read_recipe(out).inputs] == [
        ("base", files["base"]),
        ("input", files["baked"]),
    ]
    one_error_line(cli("extract", "--base", files["base"], "-o", out), "--tuned", "--rank", code=2)


def test_a_name_without_a_catalog_exits_1_saying_so(files, tmp_path):
    one_error_line(cli("mix", "sd1-kohya-lora:0.5", "-o", tmp_path / "x.safetensors"), "no catalog", "sd1-kohya-lora")


# ---------------------------------------------------------------------------------------
# TOML recipe files


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_RECIPES = {
    "syntax": ('op = "bake\n', "invalid TOML"),
    "unknown_op": ('op = "merge"\noutput = "o.safetensors"\n', "unknown op 'merge'"),
    "unknown_key": ('op = "bake"\nbase = "b"\noutput = "o.safetensors"\nrnak = 3\n', "unknown key 'rnak'"),
    "missing_output": ('op = "mix"\n[[inputs]]\nref = "a"\n', "missing 'output'"),
    "missing_base": ('op = "bake"\noutput = "o.safetensors"\n', "missing 'base'"),
    "bad_weight": (
        'op = "mix"\noutput = "o.safetensors"\n[[inputs]]\nref = "a"\nweight = "high"\n',
        "inputs[0].weight",
    ),
    "bad_input_key": (
        'op = "mix"\noutput = "o.safetensors"\n[[inputs]]\nref = "a"\nwieght = 1\n',
        "unknown key 'wieght' in inputs[0]",
    ),
    "bad_rank": ('op = "mix"\nmethod = "svd"\nrank = 0\noutput = "o.safetensors"\n[[inputs]]\nref = "a"\n', "'rank'"),
    "bad_dtype": ('op = "bake"\nbase = "b"\ndtype = "fp8"\noutput = "o.safetensors"\n', "'dtype'"),
    "svd_without_rank": ('op = "mix"\nmethod = "svd"\noutput = "o.safetensors"\n[[inputs]]\nref = "a"\n', "rank"),
    "no_inputs": ('op = "mix"\noutput = "o.safetensors"\n', "at least one input"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_a_bad_recipe_file_gives_one_line_naming_file_and_field(tmp_path, case):
    text, words = BAD_RECIPES[case]
    path = _write(tmp_path / f"{case}.toml", text)
    op = "bake" if 'op = "bake' in text else "mix"
    one_error_line(cli(op, path), str(path), words)


def test_any_operation_command_runs_a_recipe_file_of_any_op_alone(files, tmp_path):
    path = _write(tmp_path / "r.toml", f'op = "mix"\noutput = "o.safetensors"\n[[inputs]]\nref = "{files["lora"]}"\n')
    assert cli_json("bake", path)["op"] == "mix" and probe(tmp_path / "o.safetensors").kind == "lora"
    one_error_line(cli("mix", path, "-o", tmp_path / "x.safetensors"), "-o", "recipe file", code=2)
    one_error_line(cli("mix", tmp_path / "absent.toml"), "absent.toml", "does not exist")
    assert load_recipe(path).output == tmp_path / "o.safetensors"


def test_mix_and_resize_recipe_files_take_paths_relative_to_their_folder(files, tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    shutil.copy2(files["lora"], folder / "a.safetensors")
    mix_toml = _write(
        folder / "mix.toml",
        f'''
op = "mix"
method = "svd"
rank = 2
block_weights = {{ IN = 1, MID = 0.5, OUT = 1, TE = 0 }}
output = "out/mixed.safetensors"

[[inputs]]
ref = "a.safetensors"
weight = 0.7

[[inputs]]
ref = "{files["locon"]}"
weight = -0.3
''',
    )
    data = cli_json("mix", mix_toml)
    out = folder / "out" / "mixed.safetensors"
    assert data["output"] == str(out) and set(data["report"]["ranks"]) == {2}
    recipe = read_recipe(out)
    assert [(Path(i.ref), i.weight) for i in recipe.inputs] == [(folder / "a.safetensors", 0.7), (files["locon"], -0.3)]
    assert recipe.params["block_weights"] == {"IN": 1.0, "MID": 0.5, "OUT": 1.0, "TE": 0.0}

    resize_toml = _write(
        folder / "resize.toml",
        'op = "resize"\ndynamic = "sv_ratio=4"\noutput = "r.safetensors"\n[[inputs]]\nref = "out/mixed.safetensors"\n',
    )
    data = cli_json("resize", resize_toml)
    assert data["output"] == str(folder / "r.safetensors") and data["retained_energy"]["layers"] > 0
    assert read_recipe(folder / "r.safetensors").params["dynamic"] == ["sv_ratio", 4.0]

    recipe = load_recipe(
        _write(folder / "extract.toml", 'op = "extract"\nbase = "b"\ntuned = "t"\nrank = 8\noutput = "x.safetensors"\n')
    )
    assert (recipe.base.ref, recipe.loras[0].ref, recipe.params["rank"], recipe.output) == (
        "b",
        "t",
        8,
        folder / "x.safetensors",
    )


# ---------------------------------------------------------------------------------------
# With a catalog (SQLite and PostgreSQL)


def test_mix_by_catalog_refs_records_output_recipe_and_lineage(catalog, files, tmp_path):
    lora_sha, locon_sha = _sha(catalog, "sd1-kohya-lora"), _sha(catalog, "sd1-kohya-locon")
    out = tmp_path / "catmix.safetensors"
    data = cli_json("mix", "sd1-kohya-lora:0.5", f"{locon_sha[:8]}:-0.25", "--rank", 4, "-o", out, catalog=catalog)
    assert [i["path"] for i in data["inputs"]] == [str(files["lora"]), str(files["locon"])]
    assert data["artifact"]["name"] == "catmix"

    engine = open_catalog(catalog)
    try:
        with open_session(engine) as s:
            artifact = s.get(Artifact, data["artifact"]["id"])
            assert artifact.path == str(out) and artifact.kind == "lora" and artifact.status == "ok"
            recipe = s.exec(select(Recipe).where(Recipe.artifact_id == artifact.id)).one()
            assert recipe.op == "mix" and recipe.output_sha256 == artifact.sha256
            assert recipe.params["method"] == "svd" and recipe.params["rank"] == 4
            rows = s.exec(
                select(RecipeInput).where(RecipeInput.recipe_id == recipe.id).order_by(RecipeInput.position)
            ).all()
            assert [(r.sha256, r.weight, r.role) for r in rows] == [
                (lora_sha, 0.5, "input"),
                (locon_sha, -0.25, "input"),
            ]
        # Recording the same output again writes nothing new.
        again = runner.record_output(engine, out, read_recipe(out))
        assert again.id == data["artifact"]["id"]
        with open_session(engine) as s:
            assert len(s.exec(select(Recipe).where(Recipe.output_sha256 == artifact.sha256)).all()) == 1
    finally:
        engine.dispose()

    shown = cli_json("show", out, catalog=catalog)
    made_by = shown["lineage"]["made_by"]
    assert len(made_by) == 1 and made_by[0]["op"] == "mix"
    assert [(i["artifact"]["name"], i["weight"]) for i in made_by[0]["inputs"]] == [
        ("sd1-kohya-lora", 0.5),
        ("sd1-kohya-locon", -0.25),
    ]
    used = cli_json("show", "sd1-kohya-lora", catalog=catalog)["lineage"]["used_in"]
    assert [(u["op"], u["weight"], u["artifact"]["name"]) for u in used] == [("mix", 0.5, "catmix")]


def test_a_toml_recipe_bake_by_catalog_refs_is_recorded_and_rebuilds_identical(catalog, files, tmp_path):
    lora_sha = _sha(catalog, "sd1-kohya-lora")
    folder = tmp_path / "recipes"
    folder.mkdir()
    shutil.copy2(files["locon"], folder / "local-locon.safetensors")
    path = _write(
        folder / "cat.toml",
        f'''
op = "bake"
base = "tiny-sd1"                          # the catalogued copy of the zoo's single file, by name
output = "out/sd1_cat.safetensors"         # relative to this file's folder
dtype = "fp16"

[[inputs]]
ref = "{lora_sha[:10]}"                    # AutoV2
weight = 0.8

[[inputs]]
ref = "local-locon.safetensors"            # a path relative to this file's folder
weight = -0.5
''',
    )
    data = cli_json("bake", path, catalog=catalog)
    out = folder / "out" / "sd1_cat.safetensors"
    assert data["output"] == str(out) and out.is_file()
    assert [(i["role"], i["path"]) for i in data["inputs"]] == [
        ("base", str(files["base"])),
        ("input", str(files["lora"])),
        ("input", str(folder / "local-locon.safetensors")),
    ]
    shown = cli_json("show", data["artifact"]["id"], catalog=catalog)
    inputs = shown["lineage"]["made_by"][0]["inputs"]
    assert [(i["role"], i["weight"]) for i in inputs] == [("base", 1.0), ("input", 0.8), ("input", -0.5)]
    assert inputs[1]["sha256"] == lora_sha and inputs[0]["artifact"]["name"] == "tiny-sd1"
    result = cli("rebuild", "sd1_cat", catalog=catalog)  # the output by its catalog name
    assert result.exit_code == 0, result.output
    assert "identical" in result.stdout


def test_rebuild_finds_an_input_that_moved_through_the_catalog(catalog, files, tmp_path):
    mine, attic = tmp_path / "mine", tmp_path / "attic"
    mine.mkdir(), attic.mkdir()
    lora = Path(shutil.copy2(files["locon"], mine / "mine.safetensors"))
    out = tmp_path / "m.safetensors"
    assert cli("mix", f"{lora}:0.5", "-o", out).exit_code == 0  # made without the catalog
    lora.rename(attic / "renamed.safetensors")  # out of sight; the catalog has another copy
    one_error_line(cli("rebuild", out), "mine.safetensors", "no longer exists")
    result = cli("rebuild", out, catalog=catalog)
    assert result.exit_code == 0, result.output
    assert "identical" in result.stdout and str(files["locon"]) in result.stderr


def test_an_input_whose_file_is_missing_is_refused_with_one_line(catalog, files, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    gone = Path(shutil.copy2(files["locon"], elsewhere / "gone.safetensors"))
    assert cli("scan", elsewhere, catalog=catalog).exit_code == 0
    gone.unlink()
    assert cli("scan", elsewhere, catalog=catalog).exit_code == 0
    one_error_line(cli("mix", "gone:0.5", "-o", tmp_path / "x.safetensors", catalog=catalog), "gone", "missing")
    one_error_line(cli("mix", "no-such-lora", "-o", tmp_path / "x.safetensors", catalog=catalog), "no-such-lora")


def test_the_default_catalog_is_used_once_it_exists(files, tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    assert cli_json("mix", files["lora"], "-o", out)["artifact"] is None
    open_catalog(default_catalog_path()).dispose()  # now the default catalog exists
    assert cli_json("mix", files["lora"], "-o", out)["artifact"]["name"] == "m"
    monkeypatch.setenv("LORADEX_CATALOG", str(tmp_path / "env.db"))
    assert cli_json("mix", f"{files['lora']}:0.5", "-o", out)["artifact"]["name"] == "m"
    assert (tmp_path / "env.db").exists()


@pytest.mark.parametrize("op", ["bake", "mix"])
def test_an_output_recorded_in_the_catalog_is_hashed_while_written_not_read_again(
    catalog, files, tmp_path, monkeypatch, op
):
    import loradex.registry.services.scan as scan_module

    read_back = []
    real = scan_module.hash_file
    monkeypatch.setattr(scan_module, "hash_file", lambda path: read_back.append(Path(path)) or real(path))
    out = tmp_path / f"{op}.safetensors"
    args = ("--base", files["base"], "sd1-kohya-lora:0.5") if op == "bake" else ("sd1-kohya-lora:0.5",)
    data = cli_json(op, *args, "-o", out, catalog=catalog)
    assert out not in read_back
    engine = open_catalog(catalog)
    try:
        with open_session(engine) as s:
            row = s.get(Artifact, data["artifact"]["id"])
            assert (row.sha256, row.tensor_hash) == (
                data["report"]["hashes"]["sha256"],
                data["report"]["hashes"]["tensor_hash"],
            )
    finally:
        engine.dispose()
    from loradex.adapters.io.hashing import hash_file

    assert hash_file(out).sha256 == data["report"]["hashes"]["sha256"]


def test_a_convert_recipe_file_runs_and_prints_its_summary(files, tmp_path):
    path = _write(
        tmp_path / "c.toml",
        f'op = "convert"\nto = "diffusers"\noutput = "c.safetensors"\n[[inputs]]\nref = "{files["lora"]}"\n',
    )
    result = cli("bake", path)
    assert result.exit_code == 0, result.output
    assert (
        "converted from kohya to diffusers" in result.stdout and probe(tmp_path / "c.safetensors").format == "diffusers"
    )
