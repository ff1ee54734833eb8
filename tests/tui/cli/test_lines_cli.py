"""Model lines on the command line: ``show`` says the line with its evidence and the checkpoint an
adapter was trained on, ``list --line`` filters by it, and ``check`` says that a Pony LoRA fits an
Illustrious checkpoint and that it was trained on another line, without failing."""

from __future__ import annotations

import json
import shutil

import pytest

from loradex.adapters.zoo import Zoo
from tests.support.ops_cli import cli, one_error_line

LINES = ("sdxl-pony-single", "sdxl-pony-lora", "sdxl-illustrious-single", "sdxl-illustrious-lora", "sdxl-kohya-lora")


@pytest.fixture(scope="module")
def catalog(zoo: Zoo, tmp_path_factory) -> str:
    """The zoo's two SDXL lines (a checkpoint and a LoRA trained on it, each) and a plain SDXL LoRA, scanned."""
    root = tmp_path_factory.mktemp("lines")
    for name in LINES:
        shutil.copy2(zoo[name].path, root / zoo[name].path.name)
    catalog = str(root / "catalog.db")
    assert cli("scan", root, catalog=catalog).exit_code == 0
    return catalog


def json_of(*args: str, catalog: str | None, code: int = 0) -> dict:
    result = cli(*args, "--json", catalog=catalog)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def test_show_says_the_line_its_confidence_evidence_and_the_checkpoint_it_was_trained_on(catalog):
    data = json_of("show", "sdxl-pony-lora", catalog=catalog)
    base = json_of("show", "tiny-ponyDiffusionV6XL", catalog=catalog)
    assert (data["line"], data["line_confidence"]) == ("pony", "exact")
    assert data["line_evidence"][0].startswith(f"trained on tiny-ponyDiffusionV6XL (id {base['id']})")
    assert data["trained_on"] == {"id": base["id"], "name": base["name"], "path": base["path"], "line": "pony"}
    assert data["trained_on_sha256"] == base["sha256"] == data["training_metadata"]["ss_new_sd_model_hash"]
    text = cli("show", "sdxl-pony-lora", catalog=catalog).stdout
    assert "pony (exact)" in text and "tiny-ponyDiffusionV6XL (id" in text


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("pony", ["sdxl-pony-lora", "tiny-ponyDiffusionV6XL"]),
        ("Illustrious", ["sdxl-illustrious-lora", "tiny-illustriousXL_v01"]),
        ("sdxl-lightning", []),
        ("none", ["sdxl-kohya-lora"]),
    ],
)
def test_list_line_keeps_the_artifacts_of_that_line(catalog, line, names):
    rows = json_of("list", "--line", line, catalog=catalog)["artifacts"]
    assert [row["name"] for row in rows] == names
    assert all(row["line"] == (None if line == "none" else line.lower()) for row in rows)


def test_an_unknown_line_is_a_usage_error_naming_the_lines(catalog):
    one_error_line(cli("list", "--line", "ponyy", catalog=catalog), "unknown line", "pony", "kontext", "none", code=2)


def test_check_says_a_pony_lora_fits_an_illustrious_checkpoint_and_was_trained_on_another_line(catalog):
    data = json_of("check", "sdxl-pony-lora", "--base", "tiny-illustriousXL_v01", catalog=catalog)
    assert (data["verdict"], data["other_line"]) == ("compatible", True)
    assert (data["adapter"]["line"], data["base"]["line"]) == ("pony", "illustrious")
    assert data["summary"].endswith("(compatible); trained on another line: pony vs illustrious")


def test_check_on_the_same_line_says_nothing_of_lines(catalog):
    data = json_of("check", "sdxl-pony-lora", "--base", "tiny-ponyDiffusionV6XL", catalog=catalog)
    assert (data["verdict"], data["other_line"]) == ("compatible", False) and "line" not in data["summary"]


def test_check_of_files_outside_a_catalog_reads_their_lines_from_the_files(zoo):
    lora, base = (str(zoo[name].path) for name in ("sdxl-pony-lora", "sdxl-illustrious-single"))
    data = json_of("check", lora, "--base", base, catalog=None)
    assert (data["verdict"], data["adapter"]["line"], data["base"]["line"]) == ("compatible", "pony", "illustrious")
