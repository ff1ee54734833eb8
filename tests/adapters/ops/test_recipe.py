"""Recipes as data: TOML files run by the one runner, with paths and no catalog."""

from __future__ import annotations

import pytest

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.ops import recipe as recipes
from loradex.adapters.ops.recipe import read_recipe
from loradex.adapters.ops.runner import run


def test_a_script_runs_a_toml_recipe_with_paths_and_no_catalog(zoo, tmp_path):
    lora = zoo["sd1-kohya-lora"].path
    path = tmp_path / "mix.toml"
    path.write_text(
        f'op = "mix"\nmethod = "svd"\nrank = 2\noutput = "out/m.safetensors"\n'
        f'[[inputs]]\nref = "{lora}"\nweight = 0.5\n'
    )
    result = run(recipes.load(path))
    assert result.output == tmp_path / "out" / "m.safetensors" and set(result.report.ranks) == {2}
    assert [(i.ref, i.weight) for i in read_recipe(result.output).inputs] == [(str(lora), 0.5)]


def test_an_embedded_recipe_written_as_toml_reads_back_as_the_same_recipe(zoo, tmp_path):
    out = tmp_path / "r.safetensors"
    run(
        recipes.Recipe(
            "resize", {"dynamic": ["sv_fro", 0.9]}, [recipes.RecipeInput(str(zoo["sd1-kohya-lora"].path))], output=out
        )
    )
    embedded = read_recipe(out)
    embedded.output = tmp_path / "again.safetensors"
    path = tmp_path / "again.toml"
    path.write_text(embedded.to_toml())
    again = recipes.load(path)
    assert (again.op, again.params, [(i.ref, i.weight, i.role) for i in again.inputs]) == (
        "resize",
        {"dynamic": ["sv_fro", 0.9]},
        [(i.ref, i.weight, i.role) for i in embedded.inputs],
    )
    assert "# sha256 " + embedded.inputs[0].sha256 in path.read_text()


def test_a_reference_that_is_no_file_is_named_when_no_catalog_resolves_it(tmp_path):
    recipe = recipes.Recipe(
        "mix", {}, [recipes.RecipeInput("nowhere.safetensors")], output=tmp_path / "o.safetensors", folder=tmp_path
    )
    with pytest.raises(ArtifactNotFoundError) as caught:
        run(recipe)
    assert str(caught.value) == f"{tmp_path / 'nowhere.safetensors'}: no such file"
