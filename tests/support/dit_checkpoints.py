"""DiT checkpoints for tests, in each layout users keep: the bare original single file (BFL's
``flux1-dev.safetensors``, SAI's names; the denoiser alone), ComfyUI's all-in-one (the denoiser under
``model.diffusion_model.``, the text encoders and VAE beside it) and a diffusers folder.

Key names and shapes come from the real architectures' layer maps (meta device), a fused weight
holding all its parts' rows, each weight with its bias. At full size such files are tens of GB, so
files only probed are *sparse*: a real header over a hole (nothing written, nothing read). Files
that are baked get random values, cheaply: every tensor is a window of one shared random pool.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import torch

from loradex.adapters.io.header_encoding import encode_header, plan_layout
from loradex.adapters.io.writer import SafetensorsWriter
from loradex.adapters.model.architectures import FAMILY_SIZES, LDM_PREFIXES, Architecture
from loradex.adapters.model.layermap import Layer, LayerMap

Layout = list[tuple[str, str, tuple[int, ...]]]

#: A stand-in for a VAE's tensors (one, enough to mark the component present).
_VAE_KEY = "decoder.conv_in.weight"
#: The q/k RMSNorm scales (per head dim) beside BFL's fused attention weights: no layer, but
#: diffusers' single-file converter needs them.
_QK_NORMS = tuple(
    (fused, norm + f".{which}_norm.scale")
    for fused, norm in (
        ("img_attn.qkv.weight", "img_attn.norm"),
        ("txt_attn.qkv.weight", "txt_attn.norm"),
        ("linear1.weight", "norm"),
    )
    for which in ("query", "key")
)


def _stored_shape(layers: list[Layer]) -> tuple[int, ...]:
    layer = layers[0]
    if layer.ldm_transposed:
        return tuple(reversed(layer.shape))
    return (max((b for part in layers for _, b in part.ldm_rows), default=layer.shape[0]), *layer.shape[1:])


def reduced_flux(double: int, single: int) -> Architecture:
    """Flux.1 [dev] at its real widths with ``double`` double and ``single`` single blocks."""
    dev = FAMILY_SIZES["flux"][0]
    return replace(dev, denoiser=dict(dev.denoiser, num_layers=double, num_single_layers=single))


def single_file_layout(
    lm: LayerMap, *, comfy: bool = False, encoders: tuple[str, ...] | None = None, dtype: str = "BF16"
) -> Layout:
    """(key, dtype code, shape) of a DiT single file: bare (the denoiser alone, as BFL and SAI ship
    it), or with ``comfy`` ComfyUI's all-in-one (denoiser prefixed, a VAE tensor, and the text
    encoders: all, or those named in ``encoders``)."""
    denoiser = LDM_PREFIXES[lm.base]["transformer"]
    out: Layout = []
    for key, layers in lm.by_ldm_key().items():
        if layers[0].component != "transformer":
            if comfy and (encoders is None or layers[0].component in encoders):
                out.append((key, dtype, _stored_shape(layers)))
            continue
        name = key if comfy else key.removeprefix(denoiser)
        shape = _stored_shape(layers)
        out += [(name, dtype, shape), (name.removesuffix("weight") + "bias", dtype, shape[:1])]
        out += [(name.replace(fused, norm), dtype, (128,)) for fused, norm in _QK_NORMS if name.endswith(fused)]
    if comfy:
        out.append((LDM_PREFIXES[lm.base]["vae"] + _VAE_KEY, dtype, (512, 16, 3, 3)))
    return out


def diffusers_layout(lm: LayerMap, *, dtype: str = "BF16") -> Layout:
    """(key, dtype code, shape) of a diffusers folder's ``transformer/`` weights."""
    out: Layout = []
    for layer in lm.layers.values():
        if layer.component == "transformer":
            name = layer.name.removeprefix("transformer.")
            out += [(f"{name}.weight", dtype, layer.shape), (f"{name}.bias", dtype, layer.shape[:1])]
    return out


def sparse_file(path: Path, layout: Layout) -> Path:
    """A safetensors file of ``layout`` whose data section is a hole: its header is real, its
    size the full size, and it takes no disk space (for tests that only probe)."""
    planned = plan_layout(layout)
    header = encode_header(planned, {"format": "pt"})
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + sum(info.nbytes for info in planned.values()))
    return path


def random_file(path: Path, layout: Layout, seed: int = 0) -> Path:
    """A safetensors file of ``layout`` with random N(0, 0.02) values, written one tensor at a time.

    Each tensor is a window of one random pool (per dtype) at its own offset, the pool's length no
    multiple of any width, so no two rows repeat: a GB-sized file costs a copy, not a sampler."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(_POOL, generator=gen) * 0.02
    pools: dict[str, torch.Tensor] = {}
    with SafetensorsWriter(path, layout, {"format": "pt"}) as writer:
        for i, (name, code, shape) in enumerate(layout):
            if code not in pools:
                pools[code] = values.to(_TORCH[code]).repeat(2)
            pool, n, start = pools[code], math.prod(shape), (i * 7919) % _POOL
            window = pool[start : start + n] if n <= _POOL else pool[:_POOL].repeat(n // _POOL + 2)[start : start + n]
            writer.write(name, window.view(shape))
        writer.commit()
    return path


_POOL = (1 << 24) + 4099
_TORCH = {
    "BF16": torch.bfloat16,
    "F16": torch.float16,
    "F32": torch.float32,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}


def folder_files(folder: Path, arch: Architecture, pipeline: str) -> Path:
    """The configs of a diffusers folder of ``arch``: ``model_index.json`` naming ``pipeline`` and
    ``transformer/config.json`` naming the denoiser class; returns ``transformer/``."""
    (folder / "transformer").mkdir(parents=True)
    index = {"_class_name": pipeline, "transformer": ["diffusers", arch.denoiser_class]}
    (folder / "model_index.json").write_text(json.dumps(index))
    config = {"_class_name": arch.denoiser_class, **arch.denoiser}
    (folder / "transformer" / "config.json").write_text(json.dumps(config, default=list))
    return folder / "transformer"


def shard_index(transformer: Path, shards: dict[str, Layout]) -> None:
    """``diffusion_pytorch_model.safetensors.index.json`` for ``shards`` (file name → layout)."""
    weight_map = {key: name for name, layout in shards.items() for key, _, _ in layout}
    total = sum(os.path.getsize(transformer / name) for name in shards)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (transformer / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
