"""LoRA files for the DiT families (SD3, Flux.1, Flux.2), keyed the way each producer writes them,
from a layer map: the tiny zoo bases' or a real architecture's (meta device; at rank 1 even Flux.1
[dev]'s 504 layers make a file of a few MB).

Each writer places low-rank factors on the modules its producer adapts: kohya's sd-scripts on the
original (BFL/SAI) modules, fused q/k/v and ``linear1`` included (:func:`kohya_lora`); diffusers
and PEFT on diffusers' modules (:func:`diffusers_lora`); OneTrainer on diffusers' modules under kohya
keys (:func:`onetrainer_lora`); ai-toolkit, ComfyUI and fal's Kontext trainer on the original modules
under PEFT keys (:func:`original_lora`); XLabs on Flux's attention processors (:func:`xlabs_lora`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.layermap import Layer, LayerMap

from .adapter_tensors import kohya_fixture, lora_factors

Select = Callable[[Layer], bool]


def everything(layer: Layer) -> bool:
    return True


def denoiser(layer: Layer) -> bool:
    return layer.component == "transformer"


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _original(layer: Layer) -> str:
    """The original (BFL/SAI) module path of a denoiser layer, no prefix."""
    return layer.ldm_key.removeprefix("model.diffusion_model.").removesuffix(".weight")


def _modules(lm: LayerMap, select: Select, key: Callable[[Layer], str]) -> dict[str, tuple[int, ...]]:
    """Module key → (rows, in-width) of the weight it adapts: an original fused module spans the rows
    of every layer it holds."""
    out: dict[str, tuple[int, ...]] = {}
    for layer in lm.layers.values():
        if layer.module == "linear" and select(layer):
            rows = max((b for _, b in layer.ldm_rows), default=layer.shape[0])
            name = key(layer)
            out[name] = (max(rows, out.get(name, (0,))[0]), layer.shape[1])
    return out


def _factor_pairs(
    modules: Mapping[str, tuple[int, ...]],
    rank: int,
    scale: float,
    seed: int,
    dtype: torch.dtype,
    names: tuple[str, str] = ("lora_A.weight", "lora_B.weight"),
) -> dict[str, torch.Tensor]:
    """Low-rank factors for each module (key → shape of the weight it adapts), under the
    producer's ``(down, up)`` tensor ``names``."""
    gen, tensors = _generator(seed), dict[str, torch.Tensor]()
    for name, shape in modules.items():
        down, up = lora_factors(shape, rank, gen, scale)
        tensors |= {f"{name}.{names[0]}": down.to(dtype), f"{name}.{names[1]}": up.to(dtype)}
    return tensors


def kohya_lora(
    lm: LayerMap,
    path: Path,
    *,
    alpha: float = 0.5,
    rank: int = 1,
    scale: float = 1.0,
    algo: str = "lora",
    select: Select = everything,
    dtype: torch.dtype = torch.bfloat16,
    metadata: dict[str, str] | None = None,
) -> Path:
    """As sd-scripts writes it: one stem per original module (fused q/k/v, ``linear1``), its alpha
    beside in float32; ``algo="lokr"`` (or ``loha``) as LyCORIS writes the same stems.

    diffusers' kohya Flux converter ignores the alpha of ``final_layer`` (a TODO there): those
    stems carry alpha = rank so the oracle and loradex agree on what the file means."""
    layers = [layer for layer in lm.layers.values() if select(layer)]
    tensors = kohya_fixture(
        layers, algo, rank, alpha, _generator(0), dtype, lora_scale=scale, alpha_dtype=torch.float32
    )
    for key in tensors:
        if "final_layer" in key and key.endswith(".alpha"):
            tensors[key] = torch.tensor(float(rank))
    save_tensors(path, tensors, {"ss_network_module": "networks.lora_flux", **(metadata or {})})
    return path


def diffusers_tensors(
    lm: LayerMap,
    *,
    rank: int = 1,
    scale: float = 1.0,
    select: Select = everything,
    dtype: torch.dtype = torch.bfloat16,
) -> dict[str, torch.Tensor]:
    """Every adaptable Linear under its module path with ``lora_A``/``lora_B``, as diffusers/PEFT name them."""
    modules = {layer.name: layer.shape for layer in lm.layers.values() if layer.module == "linear" and select(layer)}
    return _factor_pairs(modules, rank, scale, 1, dtype)


def diffusers_lora(lm: LayerMap, path: Path, **options) -> Path:
    """:func:`diffusers_tensors` saved as diffusers saves them (``options``: theirs)."""
    save_tensors(path, diffusers_tensors(lm, **options))
    return path


def onetrainer_lora(
    lm: LayerMap,
    path: Path,
    *,
    alpha: float = 1.0,
    rank: int = 1,
    scale: float = 1.0,
    select: Select = denoiser,
    dtype: torch.dtype = torch.bfloat16,
    metadata: dict[str, str] | None = None,
) -> Path:
    """As OneTrainer saves a DiT LoRA: diffusers' modules (q, k, v apart) under kohya-style keys,
    ``lora_transformer_<module path with _>.lora_down.weight`` (text encoders under kohya's own
    ``lora_te1_…`` stems), and an alpha per module."""
    modules = {
        (
            "lora_transformer_" + layer.name.removeprefix("transformer.").replace(".", "_")
            if layer.component == "transformer"
            else layer.kohya
        ): layer.shape
        for layer in lm.layers.values()
        if layer.module == "linear" and select(layer)
    }
    tensors = _factor_pairs(modules, rank, scale, 4, dtype, ("lora_down.weight", "lora_up.weight"))
    tensors |= {f"{stem}.alpha": torch.tensor(float(alpha)) for stem in modules}
    save_tensors(path, tensors, metadata or {})
    return path


def original_lora(
    lm: LayerMap,
    path: Path,
    prefix: str,
    *,
    only: tuple[str, ...] = ("",),
    rank: int = 1,
    scale: float = 1.0,
    select: Select = denoiser,
    dtype: torch.dtype = torch.bfloat16,
) -> Path:
    """Under the original (BFL/SAI) module names with ``prefix`` and PEFT's ``lora_A``/``lora_B``:
    ai-toolkit and ComfyUI write ``diffusion_model.``, fal's Kontext trainer ``base_model.model.``
    (blocks and the final linear ``only``)."""

    def chosen(layer: Layer) -> bool:
        return denoiser(layer) and select(layer) and _original(layer).startswith(only)

    modules = _modules(lm, chosen, lambda layer: prefix + _original(layer))
    save_tensors(path, _factor_pairs(modules, rank, scale, 2, dtype))
    return path


def xlabs_lora(
    lm: LayerMap, path: Path, *, rank: int = 1, scale: float = 1.0, dtype: torch.dtype = torch.bfloat16
) -> Path:
    """As XLabs' trainer writes Flux LoRAs: attention processors of the double blocks, ``down``/``up``."""
    width = lm.layers["transformer.transformer_blocks.0.attn.to_q"].shape[0]
    blocks = 1 + max(int(n.split(".")[2]) for n in lm.layers if n.startswith("transformer.transformer_blocks."))
    modules = {
        f"double_blocks.{i}.processor.{name}": (out, width)
        for i in range(blocks)
        for name, out in (
            ("qkv_lora1", 3 * width),
            ("qkv_lora2", 3 * width),
            ("proj_lora1", width),
            ("proj_lora2", width),
        )
    }
    tensors = _factor_pairs(modules, rank, scale, 3, dtype, ("down.weight", "up.weight"))
    save_tensors(path, tensors)
    return path
