"""Full-coverage LoRA files for the DiT families, keyed the way each producer writes them, built
from the real architectures' layer maps (meta device): rank-1 factors (or a small ``rank``) at the
real shapes, so even Flux.1 [dev]'s 504 layers make a file of a few MB."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import save_file

from loradex.adapters.model.layermap import LayerMap


def _factors(
    gen: torch.Generator, out: int, inp: int, dtype: torch.dtype, rank: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(out, rank, generator=gen).to(dtype), torch.randn(rank, inp, generator=gen).to(dtype)


def kohya_lora(
    lm: LayerMap,
    path: Path,
    *,
    alpha: float = 0.5,
    dtype: torch.dtype = torch.bfloat16,
    components: tuple[str, ...] | None = None,
    rank: int = 1,
) -> Path:
    """As sd-scripts writes it: one stem per original module (fused q/k/v, ``linear1``), its alpha beside;
    every layer of the map, or of ``components`` only (``("transformer",)``: sd-scripts' default for Flux).

    diffusers' kohya Flux converter ignores the alpha of ``final_layer`` (a TODO there): those
    stems carry alpha = rank so the oracle and loradex agree on what the file means."""
    gen = torch.Generator().manual_seed(0)
    stems: dict[str, tuple[int, tuple[int, ...]]] = {}
    for layer in lm.layers.values():
        if components is not None and layer.component not in components:
            continue
        out = max((b for _, b in layer.ldm_rows), default=layer.shape[0])
        stems[layer.kohya] = (max(out, stems.get(layer.kohya, (0, ()))[0]), layer.shape[1:])
    tensors = {}
    for stem, (out, tail) in stems.items():
        up, down = _factors(gen, out, math.prod(tail), dtype, rank)
        if len(tail) == 3:  # a conv (SD3's patch embedding): kohya stores its factors as convs
            up, down = up.reshape(out, rank, 1, 1), down.reshape(rank, *tail)
        tensors |= {f"{stem}.lora_up.weight": up, f"{stem}.lora_down.weight": down}
        tensors[f"{stem}.alpha"] = torch.tensor(float(rank) if "final_layer" in stem else alpha)
    save_file(tensors, path, metadata={"ss_network_module": "networks.lora_flux"})
    return path


def diffusers_lora(
    lm: LayerMap,
    path: Path,
    *,
    spell: Callable[[str], str] = str,
    dtype: torch.dtype = torch.bfloat16,
    rank: int = 1,
) -> Path:
    """As diffusers/PEFT save it: every adaptable Linear under its module path, ``lora_A``/``lora_B``
    (``spell``: another producer's name for the canonical module path)."""
    gen = torch.Generator().manual_seed(1)
    tensors = {}
    for layer in lm.layers.values():
        if layer.module != "linear":
            continue
        up, down = _factors(gen, layer.shape[0], layer.shape[1], dtype, rank)
        tensors |= {f"{spell(layer.name)}.lora_B.weight": up, f"{spell(layer.name)}.lora_A.weight": down}
    save_file(tensors, path)
    return path


def original_lora(
    lm: LayerMap, path: Path, prefix: str, *, only: tuple[str, ...] = ("",), dtype: torch.dtype = torch.bfloat16
) -> Path:
    """Under the original (BFL) module names with ``prefix`` and PEFT's ``lora_A``/``lora_B``: ai-toolkit and
    ComfyUI write ``diffusion_model.``, fal's Kontext trainer ``base_model.model.`` (blocks and the
    final linear ``only``)."""
    gen = torch.Generator().manual_seed(2)
    modules: dict[str, tuple[int, int]] = {}
    for layer in lm.layers.values():
        if layer.component == "transformer":
            original = layer.kohya.removeprefix("lora_unet_")
            key = layer.ldm_key.removeprefix("model.diffusion_model.").removesuffix(".weight")
            assert key.replace(".", "_") == original
            if not key.startswith(only):
                continue
            out = max((b for _, b in layer.ldm_rows), default=layer.shape[0])
            modules[key] = (max(out, modules.get(key, (0, 0))[0]), layer.shape[1])
    tensors = {}
    for key, (out, inp) in modules.items():
        up, down = _factors(gen, out, inp, dtype)
        tensors |= {f"{prefix}{key}.lora_B.weight": up, f"{prefix}{key}.lora_A.weight": down}
    save_file(tensors, path)
    return path


def xlabs_lora(lm: LayerMap, path: Path, *, dtype: torch.dtype = torch.bfloat16) -> Path:
    """As XLabs' trainer writes Flux LoRAs: attention processors of the double blocks, ``down``/``up``."""
    gen = torch.Generator().manual_seed(3)
    width = lm.layers["transformer.transformer_blocks.0.attn.to_q"].shape[0]
    blocks = 1 + max(int(n.split(".")[2]) for n in lm.layers if n.startswith("transformer.transformer_blocks."))
    tensors = {}
    for i in range(blocks):
        for name, out in (
            ("qkv_lora1", 3 * width),
            ("qkv_lora2", 3 * width),
            ("proj_lora1", width),
            ("proj_lora2", width),
        ):
            up, down = _factors(gen, out, width, dtype)
            tensors |= {
                f"double_blocks.{i}.processor.{name}.up.weight": up,
                f"double_blocks.{i}.processor.{name}.down.weight": down,
            }
    save_file(tensors, path)
    return path
