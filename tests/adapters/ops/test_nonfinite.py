"""A LoRA with NaN/Inf factors (what ``inspect`` flags) is refused by every operation that does
math on it, with one line naming the file, how many layers and the first few: a bake of it
would render black images, a mix or conversion would pass the damage on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from loradex.adapters.errors import NonFiniteError
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.factors import check_finite
from loradex.adapters.ops.inspection import inspect
from tests.support.ops_cli import cli, one_error_line

BROKEN_LAYERS = 5


@pytest.fixture
def broken(zoo, tmp_path) -> tuple[Path, list[str]]:
    """A copy of the SD1 kohya LoRA with NaN in four layers' up factors and an infinite alpha in a
    fifth; the stems of those layers in file order."""
    source = zoo["sd1-kohya-lora"].path
    tensors = load_file(source)
    with safe_open(source, "pt") as f:
        metadata = f.metadata()
    stems = sorted(k.removesuffix(".lora_up.weight") for k in tensors if k.endswith(".lora_up.weight"))
    chosen = stems[:BROKEN_LAYERS]
    for stem in chosen[:-1]:
        tensors[f"{stem}.lora_up.weight"][0, 0] = float("nan")
    tensors[f"{chosen[-1]}.alpha"] = torch.tensor(float("inf"), dtype=tensors[f"{chosen[-1]}.alpha"].dtype)
    path = tmp_path / "broken.safetensors"
    save_file(tensors, path, metadata)
    order = [layer.stem for layer in probe(path).layers]
    return path, [stem for stem in order if stem in chosen]


def test_inspect_flags_the_layers_that_operations_refuse(broken):
    path, stems = broken
    assert inspect(path).nonfinite == stems  # an infinite alpha counts, as it scales the delta
    with pytest.raises(NonFiniteError) as caught:
        check_finite(probe(path))
    assert str(caught.value).startswith(f"{path}: NaN/Inf in {BROKEN_LAYERS} layers ({', '.join(stems[:3])}, …)")


def test_a_clean_lora_passes_the_check(zoo):
    check_finite(probe(zoo["sd1-kohya-lora"].path))


@pytest.mark.parametrize("op", ["bake", "mix", "resize", "convert"])
def test_operations_refuse_a_lora_with_nonfinite_factors(op, broken, zoo, tmp_path):
    path, stems = broken
    out = tmp_path / f"{op}.safetensors"
    args = {
        "bake": ["bake", "--base", zoo["sd1-single"].path, f"{path}:0.8"],
        "mix": ["mix", f"{zoo['sd1-kohya-locon'].path}:0.5", f"{path}:0.5"],
        "resize": ["resize", path, "--rank", 2],
        "convert": ["convert", path, "--to", "diffusers"],
    }[op]
    result = cli(*args, "-o", out)
    one_error_line(result, str(path), f"NaN/Inf in {BROKEN_LAYERS} layers", stems[0])
    assert not out.exists() and not list(tmp_path.glob(".*"))  # no output, no temp left behind


def test_a_quick_test_refuses_a_lora_with_nonfinite_factors_before_loading_the_base(broken, zoo, tmp_path):
    path, stems = broken
    out = tmp_path / "grid"
    result = cli("try", f"{path}:0.8", "--base", zoo["sd1-diffusers"].path, "--steps", "1", "-o", out)
    one_error_line(result, str(path), f"NaN/Inf in {BROKEN_LAYERS} layers", stems[0])
    assert not out.exists()  # refused before anything was rendered or created
