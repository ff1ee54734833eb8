"""Recipes as data: one validated model per operation, found by its op in the registry, run by the
one runner with paths and no catalog."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from safetensors.torch import load_file

from loradex.adapters.errors import ArtifactNotFoundError, LoradexError, RecipeFileError
from loradex.adapters.io.writer import save_tensors
from loradex.adapters.ops import registry
from loradex.adapters.ops.rebuild import rebuild
from loradex.adapters.ops.recipe import METADATA_KEY, Finite, Recipe, RecipeInput
from loradex.adapters.ops.recipe_sources import embedded, given, load_recipe, read_recipe, stamp
from loradex.adapters.ops.runner import run


def test_a_script_runs_a_toml_recipe_with_paths_and_no_catalog(zoo, tmp_path):
    lora = zoo["sd1-kohya-lora"].path
    path = tmp_path / "mix.toml"
    path.write_text(
        f'op = "mix"\nmethod = "svd"\nrank = 2\noutput = "out/m.safetensors"\n'
        f'[[inputs]]\nref = "{lora}"\nweight = 0.5\n'
    )
    result = run(load_recipe(path))
    assert result.output == tmp_path / "out" / "m.safetensors" and set(result.report.ranks) == {2}
    assert [(i.ref, i.weight) for i in read_recipe(result.output).inputs] == [(str(lora), 0.5)]


def test_an_embedded_recipe_written_as_toml_reads_back_as_the_same_recipe(zoo, tmp_path):
    out = tmp_path / "r.safetensors"
    run(given("resize", [(str(zoo["sd1-kohya-lora"].path), 1.0)], dynamic="sv_fro=0.9", output=out))
    embedded_recipe = read_recipe(out)
    embedded_recipe.output = tmp_path / "again.safetensors"
    path = tmp_path / "again.toml"
    path.write_text(embedded_recipe.to_toml())
    again = load_recipe(path)
    assert (again.op, again.params, [(i.ref, i.weight, i.role) for i in again.inputs]) == (
        "resize",
        {"dynamic": ["sv_fro", 0.9]},
        [(i.ref, i.weight, i.role) for i in embedded_recipe.inputs],
    )
    assert "# sha256 " + embedded_recipe.inputs[0].sha256 in path.read_text()


def test_a_reference_that_is_no_file_is_named_when_no_catalog_resolves_it(tmp_path):
    recipe = given("mix", [("nowhere.safetensors", 1.0)], output=tmp_path / "o.safetensors", folder=tmp_path)
    with pytest.raises(ArtifactNotFoundError) as caught:
        run(recipe)
    assert str(caught.value) == f"{tmp_path / 'nowhere.safetensors'}: no such file"


def test_every_operation_is_registered_under_its_op_with_its_own_model():
    ops = registry.operations()
    assert set(ops) == {"mix", "resize", "bake", "extract", "convert"}
    assert all(op.recipe.model_fields["op"].default == name for name, op in ops.items())
    assert all(issubclass(op.recipe, Recipe) and op.recipe is not Recipe for op in ops.values())


def test_a_recipe_is_the_model_of_its_op_with_typed_parameters():
    recipe = given("mix", [("a.safetensors", 0.5)], method="svd", rank=4, block_weights="IN=1,MID=0.5")
    assert type(recipe) is registry.lookup("mix").recipe
    assert (recipe.rank, recipe.block_weights) == (4, {"IN": 1.0, "MID": 0.5})


@pytest.mark.parametrize(
    ("op", "params", "words"),
    [
        ("mix", {"method": "svd"}, "the svd method needs a rank"),
        ("mix", {"rank": 0, "method": "svd"}, "'rank' should be greater than 0"),
        ("mix", {"block_weights": {"LEG": 1.0}}, "'block_weights': unknown block 'LEG'"),
        ("resize", {"dynamic": "sv_fro=0.9", "rank": 2}, "exactly one of rank and dynamic"),
        ("convert", {"to": "onnx"}, "'to' should be 'kohya', 'diffusers' or 'peft'"),
        ("extract", {"base": "b", "rank": 4, "dtype": "fp8_e4m3fn"}, "LoRA factors are stored as fp16, bf16, fp32"),
        ("merge", {}, "unknown op 'merge'; choose bake, convert, extract, mix, resize"),
    ],
)
def test_a_front_ends_options_are_checked_by_the_ops_model_with_one_line_naming_the_field(op, params, words):
    with pytest.raises(LoradexError) as caught:
        given(op, [("a.safetensors", 1.0)], **params)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_recipe_file_key_of_another_op_is_refused_naming_the_ops_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('op = "convert"\nto = "kohya"\nbase = "b"\noutput = "o.safetensors"\n[[inputs]]\nref = "a"\n')
    with pytest.raises(RecipeFileError, match=r"c\.toml: unknown key 'base' for op 'convert' \(known: .*\bto\b"):
        load_recipe(path)


@pytest.mark.parametrize("op", ["mix", "resize", "bake", "extract", "convert"])
def test_an_embedded_recipe_reads_back_to_the_same_json(op):
    inputs = [{"ref": "/b.safetensors", "sha256": "b" * 64, "weight": 1.0, "role": "base"}] * (
        op in ("bake", "extract")
    )
    params = {
        "mix": {"block_weights": {"IN": 0.5}, "method": "svd", "rank": 4},
        "resize": {"dynamic": ["sv_ratio", 4.0]},
        "bake": {"allow_partial": True, "dtype": "bf16"},
        "extract": {"dtype": "fp16", "min_change": 1e-06, "rank": 8},
        "convert": {"rank": 2, "to": "peft"},
    }[op]
    text = (
        given(op, [("a", 1.0)], base="b" if inputs else None, **params)
        .model_copy(update={"inputs": embedded_inputs(inputs), "loradex_version": "9.9"})
        .to_json()
    )
    assert embedded(text).to_json() == text  # rebuild compares outputs whose recipes it re-serialises


def embedded_inputs(base: list[dict]) -> list[RecipeInput]:
    return [RecipeInput(**item) for item in base] + [RecipeInput(ref="/a.safetensors", sha256="a" * 64)]


def test_an_operation_added_as_one_module_runs_and_rebuilds_through_the_runner(zoo, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTERED", dict(registry.operations()))

    class ScaleRecipe(Recipe):  # what a new verb module holds: its recipe model …
        op: Literal["scale"] = "scale"
        factor: Finite = 1.0

    @registry.operation(ScaleRecipe)  # … and its runner, which stamps its recipe into what it writes
    def scale(recipe: ScaleRecipe, inputs: registry.Inputs, out: Path, *, progress, hashes) -> None:
        ((source, weight),) = inputs.weighted
        tensors = {k: v * recipe.factor if k.endswith("lora_up.weight") else v for k, v in load_file(source).items()}
        stamped = stamp("scale", [(source, weight)], recipe.params)
        save_tensors(out, tensors, {METADATA_KEY: stamped.to_json()}, protect=[source])

    out = tmp_path / "scaled.safetensors"
    result = run(given("scale", [(str(zoo["sd1-kohya-lora"].path), 1.0)], factor=0.5, output=out))
    assert result.recipe.params == {"factor": 0.5} and rebuild(out).identical


def test_a_script_that_imported_one_verb_first_still_finds_every_operation():
    script = (
        "import loradex.adapters.ops.verbs.mix\n"
        "from loradex.adapters.ops.registry import operations\n"
        "print(sorted(operations()))\n"
    )
    run_ = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run_.stdout.strip() == "['bake', 'convert', 'extract', 'mix', 'resize']", run_.stderr[-2000:]
