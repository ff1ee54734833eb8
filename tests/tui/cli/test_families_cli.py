"""The DiT families on the command line: a catalog says which family and which size each adapter
fits, by the shapes its layers have."""

from __future__ import annotations

import json

import pytest

from loradex.adapters.model.layermap import layer_map
from loradex.adapters.zoo.dit_loras import kohya_lora
from tests.support.ops_cli import cli


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("families")
    kohya_lora(layer_map("flux2", "klein-4b"), root / "klein.safetensors")
    kohya_lora(layer_map("sd3", "large"), root / "sd35large.safetensors")
    kohya_lora(layer_map("flux"), root / "flux.safetensors")
    catalog = str(root / "catalog.db")
    assert cli("scan", root, catalog=catalog).exit_code == 0
    return catalog


@pytest.mark.parametrize(
    ("name", "base", "size"), [("klein", "flux2", "klein-4b"), ("sd35large", "sd3", "large"), ("flux", "flux", None)]
)
def test_show_says_the_family_and_the_size_an_adapter_fits(catalog, name, base, size):
    result = cli("show", name, "--json", catalog=catalog)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["base"], data["base_size"]) == (base, size)
    shown = f"{base} {size}" if size else base
    assert f"base         {shown}\n" in cli("show", name, catalog=catalog).stdout


def test_list_filters_the_dit_families_by_base(catalog):
    result = cli("list", "--base", "flux2", "--json", catalog=catalog)
    assert [row["name"] for row in json.loads(result.stdout)["artifacts"]] == ["klein"]
