"""What the command line prints, at its edges: progress that does not run ahead, errors alone and
said once, capped lists, counts in the right number, no library wording, output that fits the
width it is given, a resize that cannot grow, and the preferred weight from the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from loradex.adapters.progress import ProgressEvent
from loradex.adapters.words import size
from loradex.registry.queries import orm
from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.tui.cli import app
from tests.support.ops_cli import cli, cli_json, one_error_line, runner

LORA = "sd1-kohya-lora"


@pytest.fixture
def lora(zoo, tmp_path) -> Path:
    return Path(shutil.copy2(zoo[LORA].path, tmp_path / f"{LORA}.safetensors"))


@pytest.fixture
def one_layer(lora, tmp_path) -> Path:
    """A kohya LoRA on a single layer of the SD1 UNet."""
    tensors = load_file(lora)
    with safe_open(lora, "pt") as f:
        metadata = f.metadata()
    stem = next(k.split(".")[0] for k in tensors if k.startswith("lora_unet_") and "attn2_to_k" in k)
    path = tmp_path / "one-layer.safetensors"
    save_file({k: v for k, v in tensors.items() if k.startswith(stem + ".")}, path, metadata)
    return path


def test_scan_progress_counts_bytes_and_reaches_the_total_only_once_every_file_is_hashed(lora, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy2(lora, library / "a-small.safetensors")
    # The big file last: a count of files stood at 100 % (discovery's N of N) while it was hashed.
    save_file({"lora_unet_big.lora_down.weight": torch.ones(2048, 2048)}, library / "zz-big.safetensors")
    sizes = sorted(p.stat().st_size for p in library.iterdir())
    events: list[ProgressEvent] = []
    engine = open_catalog(str(tmp_path / "c.db"), create=True)
    try:
        scan([library], engine=engine, progress=events.append)
    finally:
        engine.dispose()
    indexed = [e for e in events if e.phase == "index"]
    assert all(e.unit == "bytes" and e.total == sum(sizes) for e in indexed)
    assert [e.done for e in indexed] == [0, sizes[0], sum(sizes)]
    last = events.index(indexed[-1])
    assert not [e for e in events[:last] if e.total and e.done >= e.total], "100 % before the big file was hashed"
    assert indexed[1].amount() == f"{sizes[0] / 1000:.1f} KB/{sum(sizes) / 1e6:.1f} MB"


def test_probe_of_only_unreadable_files_prints_their_errors_and_no_empty_table(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    result = cli("probe", bad)
    one_error_line(result, "bad.safetensors", "too short")
    assert result.stdout == ""


def test_an_output_naming_its_input_says_the_path_once(lora):
    text = one_error_line(cli("mix", lora, "-o", lora), "refusing to overwrite")
    assert text.count(str(lora)) == 1


def test_scan_lists_an_unreadable_file_with_its_path_said_once(tmp_path):
    bad = tmp_path / "lib" / "bad.safetensors"
    bad.parent.mkdir()
    bad.write_bytes(b"junk")
    result = cli("scan", bad.parent, catalog=str(tmp_path / "c.db"))
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if "bad.safetensors" in line]
    assert line.count("bad.safetensors") == 1 and "too short" in line


def test_scan_caps_the_same_weights_list_and_says_how_many_more(lora, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    tensors = load_file(lora)
    for i in range(13):  # the same weights with other metadata: 12 pairs with the first
        save_file(tensors, library / f"copy-{i:02d}.safetensors", {"ss_output_name": f"copy {i}"})
    result = cli("scan", library, catalog=str(tmp_path / "c.db"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    listed = lines[lines.index("same weights") + 1 :]
    assert len([line for line in listed if " = " in line]) == 10
    assert "  … and 2 more (--json lists all)" in listed
    assert len(cli_json("scan", library, catalog=str(tmp_path / "c.db"))["same_weights"]) == 0  # a rescan: none new


def test_counts_of_one_read_in_the_singular(one_layer, tmp_path):
    inspected = cli("inspect", one_layer)
    assert inspected.exit_code == 0, inspected.output
    assert "1 layer," in inspected.stdout and "1 layers" not in inspected.stdout
    converted = cli("convert", one_layer, "--to", "diffusers", "-o", tmp_path / "one-diffusers.safetensors")
    assert converted.exit_code == 0, converted.output
    assert "1 layer)" in converted.stdout and "1 layers" not in converted.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--sort", "bogus"],
        ["mix", "x.safetensors", "--method", "bogus"],
        ["bake", "--base", "x", "y", "--dtype", "fp8"],
    ],
)
def test_a_choice_outside_the_list_is_refused_in_loradex_words(tmp_path, args):
    text = one_error_line(cli(*args, catalog=str(tmp_path / "c.db")), "is not one of", code=2)
    assert "Value error" not in text


@pytest.mark.parametrize(("option", "value"), [("--seeds", "a,b"), ("--scales", "x"), ("--size", "12")])
def test_a_bad_grid_option_names_the_option_once(lora, tmp_path, option, value):
    text = one_error_line(cli("try", lora, "--base", lora, option, value, "-o", tmp_path / "g"), code=2)
    assert text.count(option.lstrip("-")) == 1 and repr(value) in text


def test_output_that_is_not_a_terminal_has_no_padding(lora, tmp_path):
    url = str(tmp_path / "c.db")
    assert cli("scan", lora, catalog=url).exit_code == 0
    shown = cli("show", LORA, catalog=url)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == "id             1"
    assert all(line == line.rstrip() for line in shown.stdout.splitlines())


def test_list_at_80_columns_fits_and_keeps_every_id_size_and_status_whole(zoo, tmp_path):
    url = str(tmp_path / "c.db")
    assert cli("scan", zoo.root / "adapters", catalog=url).exit_code == 0
    artifacts = cli_json("list", catalog=url)["artifacts"]
    result = runner.invoke(app, ["--catalog", url, "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    rows = {line.split()[0]: line for line in lines[1:] if line[:1].isdigit()}
    assert sorted(rows) == sorted(str(a["id"]) for a in artifacts)
    for a in artifacts:  # names fold over lines, at least 12 characters a line
        row = rows[str(a["id"])]
        assert a["name"][:12] in row and a["status"] in row.split() and size(a["size"]) in row


def test_resize_to_a_higher_rank_says_it_cannot_grow_and_writes_nothing(lora, tmp_path):
    out = tmp_path / "r16.safetensors"
    one_error_line(cli("resize", lora, "--rank", "16", "-o", out), "cannot grow", "rank-4", "rank 16")
    assert not out.exists()


def test_the_preferred_weight_is_set_shown_and_cleared_from_the_command_line(lora, tmp_path):
    url = str(tmp_path / "c.db")
    assert cli("scan", lora, catalog=url).exit_code == 0
    assert cli_json("weight", LORA, "0.7", catalog=url)["preferred_weight"] == 0.7
    assert cli("weight", LORA, "-2", catalog=url).stdout.strip() == f"{LORA}: weight -2"  # a slider's
    engine = open_catalog(url)
    try:
        with open_session(engine) as session:
            assert orm.resolve(session, LORA).preferred_weight == -2
        assert cli_json("weight", LORA, catalog=url)["preferred_weight"] == -2
        assert cli("weight", LORA, "", catalog=url).stdout.strip() == f"{LORA}: no preferred weight"
        with open_session(engine) as session:
            assert orm.resolve(session, LORA).preferred_weight is None
    finally:
        engine.dispose()
    one_error_line(cli("weight", LORA, "inf", catalog=url), "not a finite number", code=2)
    assert json.loads(cli("weight", LORA, "--json", catalog=url).stdout)["preferred_weight"] is None
