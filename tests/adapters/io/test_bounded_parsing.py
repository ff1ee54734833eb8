"""JSON that a file carries — its header, metadata values, an embedded recipe — is parsed within
bounds (size, depth, number length): a hostile value ends in one line and exit 1, never an
internal error; a malformed training-tag table is only left out."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from loradex.adapters.io import bounded_json
from loradex.adapters.ops.recipe import METADATA_KEY
from tests.support.ops_cli import cli, one_error_line, scanned

DEEP = "[" * 100_000 + "]" * 100_000


def _header_file(path, header_text: str, data: bytes = b"\0" * 4):
    raw = header_text.encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


@pytest.mark.parametrize(
    "header",
    [
        '{"a": {"dtype": "F32", "shape": [' + "9" * 5000 + '], "data_offsets": [0, 4]}}',
        '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": ' + DEEP + "}}",
        '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0e999]}}',
        '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, NaN]}}',
    ],
    ids=["5000-digit-shape", "deep", "1e999", "NaN"],
)
def test_a_header_beyond_bounds_is_one_line(tmp_path, header):
    path = _header_file(tmp_path / "hostile.safetensors", header)
    one_error_line(cli("probe", path), "hostile.safetensors", "header")


@pytest.mark.parametrize(
    "table",
    ['{"10_x": {"cat": 1e999}}', "[" * 100_000, '{"1_x": {"cat": ' + "9" * 5000 + "}}", '{"a": {"b": ' + DEEP + "}}"],
    ids=["1e999", "deep", "digits", "deep-valid"],
)
def test_a_hostile_tag_table_is_left_out_and_the_file_probes(zoo, tmp_path, table):
    path = tmp_path / "tags.safetensors"
    save_file(load_file(zoo["sd1-kohya-lora"].path), path, {"ss_tag_frequency": table})
    result = cli("probe", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["artifacts"][0]["kind"] == "lora"
    scan = cli("scan", tmp_path, catalog=str(tmp_path / "c.db"))
    assert scan.exit_code == 0, scan.output


@pytest.mark.parametrize("alpha", [float("nan"), float("inf")])
def test_inspect_reports_a_nonfinite_alpha_instead_of_failing(zoo, tmp_path, alpha):
    path = tmp_path / "alpha.safetensors"
    save_file(
        {
            k: torch.tensor(alpha) if k.endswith(".alpha") else v
            for k, v in load_file(zoo["sd1-kohya-lora"].path).items()
        },
        path,
    )
    result = cli("inspect", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nonfinite"]


@pytest.mark.parametrize(
    "recipe",
    [
        "not json",
        "[" * 50_000 + "]" * 50_000,
        "[]",
        '{"op": "mix", "params": [], "inputs": []}',
        '{"op": "mix", "params": {}, "inputs": [{"ref": 3}]}',
        '{"op": "mix", "params": {}, "inputs": {}}',
        '{"op": "mix", "params": {}, "inputs": [], "format": "9"}',
        '{"op": ["x"], "params": {}, "inputs": []}',
    ],
    ids=["not-json", "deep", "list", "params", "ref-type", "inputs", "format", "op"],
)
def test_rebuild_of_a_malformed_embedded_recipe_is_one_line(zoo, tmp_path, recipe):
    path = tmp_path / "derived.safetensors"
    save_file(load_file(zoo["sd1-kohya-lora"].path), path, {METADATA_KEY: recipe})
    one_error_line(cli("rebuild", path), "derived.safetensors", "recipe")


def test_bounded_json_reads_what_json_reads_within_bounds():
    text = json.dumps({"a": [1, 2.5, -3, 'x\\"[[[', {"b": None}], "n": 2**63})
    assert bounded_json.loads(text) == json.loads(text)
    with pytest.raises(bounded_json.JsonLimitError):
        bounded_json.loads("[1]", max_chars=2)


def test_a_hostile_sidecar_is_ignored_and_the_file_is_catalogued(zoo, tmp_path):
    folder = tmp_path / "loras"
    folder.mkdir()
    lora = folder / "style.safetensors"
    lora.write_bytes(zoo["sd1-kohya-lora"].path.read_bytes())
    (folder / "style.civitai.info").write_text('{"trainedWords": ' + DEEP + "}")
    assert scanned(folder, "style", tmp_path / "catalog.db").status == "ok"
