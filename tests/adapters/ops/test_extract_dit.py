"""extract() from two Flux.1 checkpoints (real widths, a few of the original weights): the LoRA it
writes is a kohya Flux LoRA, its stems the family's kohya stems (q/k/v and ``linear1`` fused again,
the final modulation in the original's row order), and its delta is the checkpoints' difference."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from loradex.adapters import IncompatibleError
from loradex.adapters.io.weights import open_weights
from loradex.adapters.model.checkpoint import LayerWeights
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.extract import extract
from loradex.adapters.ops.factors import layer_factors
from loradex.adapters.zoo.dit_loras import denoiser, kohya_lora
from tests.support.dit_checkpoints import random_file, reduced_flux, single_file_layout, sparse_file

RANK = 4
#: The original weights the checkpoints hold: fused attention and ``linear1``, the swapped final
#: modulation, and plain ones.
MODULES = (
    "img_in",
    "double_blocks.0.img_attn.qkv",
    "double_blocks.0.img_attn.proj",
    "single_blocks.0.linear1",
    "final_layer.adaLN_modulation.1",
    "final_layer.linear",
)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """(base, tuned, the extracted LoRA's path, the report): tuned is the base (bf16) with a rank-4
    kohya LoRA baked in (one that trains more modules than these checkpoints hold)."""
    folder = tmp_path_factory.mktemp("extract")
    lm = layer_map(reduced_flux(1, 1))
    layout = [entry for entry in single_file_layout(lm) if entry[0].rsplit(".", 1)[0] in MODULES]
    base = random_file(folder / "flux1-dev.safetensors", layout)
    lora = kohya_lora(lm, folder / "trained.safetensors", select=denoiser, rank=RANK)
    tuned = folder / "tuned.safetensors"
    bake(base, [(lora, 1.0)], tuned, allow_partial=True)
    out = folder / "extracted.safetensors"
    return base, tuned, out, extract(base, tuned, out, rank=RANK, dtype="fp32")


def test_the_extracted_lora_has_the_familys_kohya_stems_fused_again(extracted):
    *_, out, report = extracted
    stems = {key.split(".", 1)[0] for key in load_file(out)}
    assert stems == {"lora_unet_" + module.replace(".", "_") for module in MODULES}
    info = probe(out)
    assert (info.base, info.unmatched) == ("flux", [])
    assert set(report.retained_energy) == stems and min(report.retained_energy.values()) > 0.999


def test_the_extracted_delta_is_the_difference_of_the_checkpoints_in_every_layer(extracted):
    base, tuned, out, _ = extracted
    info = probe(out)
    with (
        open_weights(out) as src,
        LayerWeights(base, probe(base)) as before,
        LayerWeights(tuned, probe(tuned)) as after,
    ):
        assert {layer.canonical for layer in info.layers} == set(before.locations)
        for layer in info.layers:
            b, a = layer_factors(info, layer, src)
            cols = torch.arange(0, a.shape[1], 29)  # every row, at a hundred-odd columns
            tuned_weight = after.weight(layer.canonical)[:, cols]
            want = tuned_weight - before.weight(layer.canonical)[:, cols]
            # Up to the rounding of the tuned weights to bf16, which no rank-4 delta holds.
            ulp = 2.0**-8 * float(tuned_weight.abs().max())
            torch.testing.assert_close(b @ a[:, cols], want, rtol=0, atol=ulp, msg=layer.canonical)


def test_checkpoints_of_two_sizes_are_refused_naming_both(tmp_path):
    klein = sparse_file(tmp_path / "klein.safetensors", single_file_layout(layer_map("flux2", "klein-4b")))
    dev = sparse_file(tmp_path / "dev.safetensors", single_file_layout(layer_map("flux2", "dev")))
    with pytest.raises(IncompatibleError, match="flux2 klein-4b.*flux2 dev"):
        extract(klein, dev, tmp_path / "out.safetensors", rank=4)
