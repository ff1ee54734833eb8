"""probe() of SD3, Flux.1 and Flux.2 checkpoints in every layout users keep: the bare original
single file (the denoiser alone, as BFL ships flux1-dev.safetensors), ComfyUI's all-in-one and a
diffusers folder; family and size from the stored names and shapes, the layers it holds per
canonical layer (a fused weight's parts each with their rows) and its components. The files are
full size and sparse: real headers over holes."""

from __future__ import annotations

import numpy as np
import pytest

from loradex.adapters.model.architectures import DIT_BASES, FAMILY_SIZES, architecture
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe import probe
from tests.support.dit_checkpoints import diffusers_layout, folder_files, single_file_layout, sparse_file
from tests.support.gguf_files import Q8_0, write_gguf

SIZES = [(base, arch.size) for base in DIT_BASES for arch in FAMILY_SIZES[base]]
_PIPELINES = {"sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline", "flux2": "Flux2Pipeline"}


def _denoiser_inventory(family: str, size: str) -> dict[str, tuple[int, ...]]:
    return {n: layer.shape for n, layer in layer_map(family, size).layers.items() if layer.component == "transformer"}


@pytest.mark.parametrize(("family", "size"), SIZES)
def test_a_bare_original_single_file_is_a_denoiser_checkpoint_of_its_family_and_size(tmp_path, family, size):
    info = probe(sparse_file(tmp_path / "bare.safetensors", single_file_layout(layer_map(family, size))))
    assert (info.kind, info.format, info.base, info.base_size) == ("checkpoint", "ldm_single_file", family, size)
    assert info.components == ["transformer"]
    assert info.inventory == _denoiser_inventory(family, size)
    assert "by name and shape" in info.base_evidence[0]


@pytest.mark.parametrize(("family", "size"), SIZES)
def test_a_comfyui_all_in_one_file_holds_its_text_encoders_and_vae_too(tmp_path, family, size):
    lm = layer_map(family, size)
    info = probe(sparse_file(tmp_path / "comfy.safetensors", single_file_layout(lm, comfy=True)))
    assert (info.kind, info.base, info.base_size) == ("checkpoint", family, size)
    assert info.components == sorted({*architecture(family, size).components, "vae"})
    assert info.inventory == {name: layer.shape for name, layer in lm.layers.items()}


@pytest.mark.parametrize(("family", "size"), SIZES)
def test_a_diffusers_folder_is_named_by_its_transformer_class_and_sized_by_its_shapes(tmp_path, family, size):
    transformer = folder_files(tmp_path / "pipe", architecture(family, size), _PIPELINES[family])
    sparse_file(transformer / "diffusion_pytorch_model.safetensors", diffusers_layout(layer_map(family, size)))
    info = probe(tmp_path / "pipe")
    assert (info.kind, info.format, info.base, info.base_size) == ("checkpoint", "diffusers_folder", family, size)
    assert architecture(family, size).denoiser_class in info.base_evidence[0]
    assert (info.components, info.inventory) == (["transformer"], _denoiser_inventory(family, size))


def test_a_fused_weight_is_in_the_inventory_as_its_parts_with_their_rows(tmp_path):
    lm = layer_map("flux")
    info = probe(sparse_file(tmp_path / "flux1-dev.safetensors", single_file_layout(lm)))
    parts = {
        p.name.removeprefix("transformer.single_transformer_blocks.0."): p
        for p in lm.fused_parts("single_blocks.0.linear1")
    }
    assert {name: info.inventory[p.name] for name, p in parts.items()} == {
        "attn.to_q": (3072, 3072),
        "attn.to_k": (3072, 3072),
        "attn.to_v": (3072, 3072),
        "proj_mlp": (12288, 3072),
    }
    assert sorted(segment for p in parts.values() for segment in p.ldm_rows) == [
        (0, 3072),
        (3072, 6144),
        (6144, 9216),
        (9216, 21504),
    ]


def test_a_reduced_depth_flux_file_is_still_flux_at_its_size(tmp_path):
    """Fewer blocks than the released model (a test's or a pruned file) fit the same size by shape."""
    layout = [
        e for e in single_file_layout(layer_map("flux")) if not e[0].startswith(("double_blocks.1", "single_blocks.1"))
    ]
    info = probe(sparse_file(tmp_path / "pruned.safetensors", layout))
    assert (info.base, info.base_size) == ("flux", "")
    assert not any(".transformer_blocks.1" in name for name in info.inventory)


def test_a_file_of_flux_names_at_other_widths_is_not_called_flux(tmp_path):
    layout = [(key, code, tuple(d // 2 for d in shape)) for key, code, shape in single_file_layout(layer_map("flux"))]
    info = probe(sparse_file(tmp_path / "odd.safetensors", layout))
    assert (info.kind, info.base) == ("unknown", "unknown")


def test_a_flux_gguf_is_flux_by_its_tensor_names_and_shapes(tmp_path):
    """ComfyUI-GGUF names a Flux GGUF's tensors as the bare BFL file does. The real embedder and
    final-layer weights, quantised, are enough to tell Flux.1 from every other DiT."""
    lm = layer_map("flux")
    small = {
        key.removeprefix("model.diffusion_model."): layers[0].shape
        for key, layers in lm.by_ldm_key().items()
        if layers[0].component == "transformer" and np.prod(layers[0].shape) <= 3 << 20 and not layers[0].ldm_rows
    }
    assert {"img_in.weight", "final_layer.linear.weight", "vector_in.in_layer.weight"} <= set(small)
    rng = np.random.default_rng(0)
    path = write_gguf(
        tmp_path / "flux1-dev-Q8_0.gguf",
        {key: (rng.standard_normal(shape, dtype=np.float32), Q8_0) for key, shape in small.items()},
        arch=None,
    )
    info = probe(path)
    assert (info.kind, info.format, info.base, info.base_size, info.components) == (
        "checkpoint",
        "gguf",
        "flux",
        "",
        ["transformer"],
    )
    assert "by name and shape" in info.base_evidence[0]
    assert set(info.inventory) == {lm.resolve(k.removesuffix(".weight")) for k in small}
