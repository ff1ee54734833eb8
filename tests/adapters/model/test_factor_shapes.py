"""Factors that cannot multiply are refused before any math, in one line naming the file and the layer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.support.ops_cli import cli, one_error_line

STEM = "lora_te_text_model_encoder_layers_0_mlp_fc1"


def _edited(zoo, path: Path, **parts: torch.Tensor) -> Path:
    """The zoo's SD1 LoRA with some factors of one layer replaced."""
    tensors = load_file(zoo["sd1-kohya-lora"].path)
    tensors.update({f"{STEM}.{part}.weight": t for part, t in parts.items()})
    save_file(tensors, path)
    return path


@pytest.fixture
def widths(zoo) -> tuple[int, int]:
    """(out, in) of the edited layer."""
    tensors = load_file(zoo["sd1-kohya-lora"].path)
    return tensors[f"{STEM}.lora_up.weight"].shape[0], tensors[f"{STEM}.lora_down.weight"].shape[1]


@pytest.mark.parametrize("command", ["probe", "inspect"])
def test_down_and_up_of_different_ranks_are_refused(zoo, tmp_path, widths, command):
    out, inn = widths
    path = _edited(zoo, tmp_path / "ranks.safetensors", lora_down=torch.randn(4, inn), lora_up=torch.randn(32, 8))
    one_error_line(cli(command, path), "ranks.safetensors", STEM, "do not multiply")


def test_a_scalar_lora_down_is_refused(zoo, tmp_path):
    path = _edited(zoo, tmp_path / "scalar.safetensors", lora_down=torch.tensor(1.0))
    one_error_line(cli("inspect", path), "scalar.safetensors", STEM, "scalar")


def test_bake_refuses_factors_that_do_not_multiply_before_reading_the_base(zoo, tmp_path, widths):
    out, inn = widths
    path = _edited(zoo, tmp_path / "ranks.safetensors", lora_down=torch.randn(4, inn), lora_up=torch.randn(out, 8))
    result = cli("bake", "--base", zoo["sd1-single"].path, path, "-o", tmp_path / "baked.safetensors")
    one_error_line(result, "ranks.safetensors", STEM)
    assert not (tmp_path / "baked.safetensors").exists()


def test_mixing_the_same_layer_at_two_widths_names_both_files(zoo, tmp_path, widths):
    out, inn = widths
    wide = _edited(zoo, tmp_path / "wide.safetensors", lora_down=torch.randn(4, 2 * inn))
    result = cli("mix", f"{zoo['sd1-kohya-lora'].path}:0.5", f"{wide}:0.5", "-o", tmp_path / "mixed.safetensors")
    one_error_line(result, "wide.safetensors", zoo["sd1-kohya-lora"].path.name, STEM)
    assert not (tmp_path / "mixed.safetensors").exists()
