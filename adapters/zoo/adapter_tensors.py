"""Adapter tensors as trainers write them: random factors per algorithm (one helper each,
shared by every file convention), kohya/LyCORIS state dicts over a selection of layers, and
kohya's sd-scripts metadata with its AddNet hash."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from loradex.adapters.model.layermap import Layer

from .models import MODELSPEC_ARCHITECTURE


def randn(gen: torch.Generator, *shape: int, scale: float = 0.01) -> torch.Tensor:
    return torch.randn(shape, generator=gen) * scale


#: Spread of LoRA factors in the tests' zoo. Small on purpose: a tiny random network amplifies rounding
#: differences chaotically once deltas are large, and the peer comparisons hold to a few levels.
LORA_FACTOR_SCALE = 0.01
#: The demo's: a LoRA at weight 1 moves a tiny model's pixels by tens of levels (of 255), so it shows.
VISIBLE_LORA_SCALE = 0.2


def lora_factors(
    shape: tuple[int, ...], rank: int, gen: torch.Generator, s: float = LORA_FACTOR_SCALE
) -> tuple[torch.Tensor, torch.Tensor]:
    """(down, up) for a weight of ``shape``: linear ``[r, in]``/``[out, r]``;
    conv ``[r, in, kh, kw]``/``[out, r, 1, 1]``; entries drawn with spread ``s``."""
    out, inp, *kernel = shape
    if kernel:
        return randn(gen, rank, inp, *kernel, scale=s), randn(gen, out, rank, 1, 1, scale=s)
    return randn(gen, rank, inp, scale=s), randn(gen, out, rank, scale=s)


def _factor(n: int) -> tuple[int, int]:
    """``n = a·b`` with ``a ≤ b`` as close as possible (LyCORIS' ``factorization(n, -1)``)."""
    a = max(d for d in range(1, int(n**0.5) + 1) if n % d == 0)
    return a, n // a


def module_tensors(
    algo: str,
    shape: tuple[int, ...],
    rank: int,
    alpha: float,
    gen: torch.Generator,
    base_weight: torch.Tensor | None = None,
    lora_scale: float = LORA_FACTOR_SCALE,
) -> dict[str, torch.Tensor]:
    """Suffix → tensor for one adapted weight of ``shape`` in kohya/LyCORIS naming."""
    out, inp, *kernel = shape
    if algo in ("lora", "dora"):
        down, up = lora_factors(shape, rank, gen, lora_scale)
        parts = {"lora_down.weight": down, "lora_up.weight": up, "alpha": torch.tensor(float(alpha))}
        if algo == "dora":  # LyCORIS wd_on_out: the magnitude of each output row of W + ΔW
            assert base_weight is not None  # a DoRA magnitude is measured on the base
            norm = base_weight.float().flatten(1).norm(dim=1, keepdim=True)
            parts["dora_scale"] = norm * (1 + randn(gen, out, 1))
        return parts
    if algo == "loha":
        fan_in = inp * (kernel[0] * kernel[1] if kernel else 1)
        return {
            "hada_w1_a": randn(gen, out, rank, scale=0.1),
            "hada_w1_b": randn(gen, rank, fan_in, scale=0.1),
            "hada_w2_a": randn(gen, out, rank, scale=0.1),
            "hada_w2_b": randn(gen, rank, fan_in, scale=0.1),
            "alpha": torch.tensor(float(alpha)),
        }
    if algo == "lokr":  # ΔW = kron(w1, w2_a @ w2_b) · alpha / rank
        (a, b), (c, d) = _factor(out), _factor(inp)
        return {
            "lokr_w1": randn(gen, a, c, scale=0.1),
            "lokr_w2_a": randn(gen, b, rank, scale=0.1),
            "lokr_w2_b": randn(gen, rank, d, scale=0.1),
            "alpha": torch.tensor(float(alpha)),
        }
    if algo == "full":
        return {"diff": randn(gen, *shape, scale=0.001), "diff_b": randn(gen, out, scale=0.001)}
    raise ValueError(f"unknown algorithm {algo!r}")


def kohya_fixture(
    layers: Iterable[Layer],
    algo: str,
    rank: int,
    alpha: float,
    gen: torch.Generator,
    dtype: torch.dtype,
    base_weights: dict[str, torch.Tensor] | None = None,
    lora_scale: float = LORA_FACTOR_SCALE,
    alpha_dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """A kohya/LyCORIS state dict: ``<stem>.<suffix>`` for every kohya stem of ``layers``.

    A stem that holds several layers (a DiT's original fused module: Flux's ``img_attn.qkv``,
    ``linear1``) adapts all their rows at once, as the trainers train the fused module. The alpha
    is stored in ``alpha_dtype`` (default: the factors' ``dtype``).
    """
    stems: dict[str, list[Layer]] = {}
    for layer in layers:
        stems.setdefault(layer.kohya, []).append(layer)
    tensors = {}
    for stem, group in stems.items():
        shape = group[0].shape
        if len(group) > 1:
            shape = (max(b for layer in group for _, b in layer.ldm_rows), *shape[1:])
        # DoRA's magnitude is measured on one base weight: only stems of one layer take it.
        weight = base_weights[group[0].name] if base_weights and len(group) == 1 else None
        for suffix, t in module_tensors(algo, shape, rank, alpha, gen, weight, lora_scale).items():
            tensors[f"{stem}.{suffix}"] = t.to((alpha_dtype or dtype) if suffix == "alpha" else dtype)
    return tensors


# Layer selections over a tiny layer map (canonical names).
def unet_attention(layer: Layer) -> bool:
    return (
        layer.component == "unet"
        and ".attentions." in layer.name
        and (".transformer_blocks." in layer.name or layer.name.endswith((".proj_in", ".proj_out")))
    )


def unet_resnet(layer: Layer) -> bool:
    return layer.component == "unet" and bool(
        re.search(r"\.(resnets\.\d+|downsamplers\.0|upsamplers\.0)\.", layer.name)
    )


def text_attention_mlp(layer: Layer) -> bool:
    return layer.component.startswith("text_encoder") and (".self_attn." in layer.name or ".mlp." in layer.name)


def self_attention(layer: Layer) -> bool:
    return layer.component == "unet" and bool(re.search(r"\.attn1\.(to_q|to_k|to_v|to_out\.0)$", layer.name))


def linear_only(select: Callable[[Layer], bool]) -> Callable[[Layer], bool]:
    return lambda layer: layer.module == "linear" and select(layer)


def either(*selects: Callable[[Layer], bool]) -> Callable[[Layer], bool]:
    return lambda layer: any(s(layer) for s in selects)


# ---------------------------------------------------------------------------------------
# Metadata as kohya's sd-scripts writes it.

_BASE_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0", "sd3": "sd3", "flux": "flux1"}
_RESOLUTION = {"sd1": 512, "sd2": 768, "sdxl": 1024, "sd3": 1024, "flux": 1024}
_IMPLEMENTATION = {
    "sdxl": "https://github.com/Stability-AI/generative-models",
    "sd3": "https://github.com/Stability-AI/sd3.5",
    "flux": "https://github.com/black-forest-labs/flux",
}
#: kohya's sd-scripts module of each DiT family (the UNet families: ``networks.lora``).
DIT_NETWORK_MODULE = {"sd3": "networks.lora_sd3", "flux": "networks.lora_flux"}


def kohya_metadata(
    name: str,
    base: str,
    rank: int,
    alpha: float,
    *,
    module: str = "networks.lora",
    args: dict | None = None,
    tags: dict[str, int] | None = None,
    trigger: str | None = None,
    claimed_base: str | None = None,
    trained_on: Path | None = None,
) -> dict[str, str]:
    """Training metadata for a kohya-family file; ``claimed_base`` lets a file lie about its base,
    ``trained_on`` names the checkpoint file it was trained on (kohya then records its name and
    hashes, as it does whenever ``--pretrained_model_name_or_path`` is a file)."""
    claimed = claimed_base or base
    res = _RESOLUTION[claimed]
    tags = tags or {"cat": 40, "orange fur": 12, "1girl": 3}
    meta = {
        "ss_session_id": str(zlib.crc32(name.encode())),
        "ss_training_started_at": "1714550400.0",
        "ss_output_name": name,
        "ss_sd_model_name": f"tiny-{claimed}.safetensors",
        "ss_network_module": module,
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_base_model_version": _BASE_VERSION[claimed],
        "ss_v2": str(claimed == "sd2"),
        "ss_v_parameterization": str(claimed == "sd2"),
        "ss_resolution": f"({res}, {res})",
        "ss_learning_rate": "0.0001",
        "ss_unet_lr": "0.0001",
        "ss_text_encoder_lr": "5e-05",
        "ss_num_train_images": "40",
        "ss_num_epochs": "10",
        "ss_epoch": "10",
        "ss_steps": "400",
        "ss_batch_size_per_device": "1",
        "ss_mixed_precision": "fp16",
        "ss_optimizer": "bitsandbytes.optim.adamw.AdamW8bit",
        "ss_lr_scheduler": "cosine",
        "ss_seed": "42",
        "ss_clip_skip": "2" if claimed in ("sd1", "sd2") else "None",
        "ss_tag_frequency": json.dumps({f"10_{next(iter(tags))}": tags}),
        "ss_dataset_dirs": json.dumps({f"10_{next(iter(tags))}": {"n_repeats": 10, "img_count": 4}}),
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": f"{MODELSPEC_ARCHITECTURE[claimed]}/lora",
        "modelspec.implementation": _IMPLEMENTATION.get(claimed, "diffusers"),
        "modelspec.title": name,
        "modelspec.resolution": f"{res}x{res}",
        "modelspec.date": "2024-05-01T12:00:00",
    }
    if claimed in ("sd1", "sd2", "sdxl"):  # the flow-matching DiTs predict neither
        meta["modelspec.prediction_type"] = "v" if claimed == "sd2" else "epsilon"
    if args is not None:
        meta["ss_network_args"] = json.dumps(args)
    if trigger is not None:
        meta["modelspec.trigger_phrase"] = trigger
    if trained_on is not None:
        meta |= training_base_metadata(trained_on)
    return meta


def training_base_metadata(checkpoint: Path) -> dict[str, str]:
    """What kohya's sd-scripts records of the checkpoint file it trained on: its file name, the
    sha256 of the whole file (``ss_new_sd_model_hash``) and A1111's old hash of 64 KiB at 1 MiB
    (``ss_sd_model_hash``; of no bytes for a file that short, as kohya computes it)."""
    with open(checkpoint, "rb") as f:
        whole = hashlib.file_digest(f, "sha256").hexdigest()
        f.seek(0x100000)
        legacy = hashlib.sha256(f.read(0x10000)).hexdigest()[:8]
    return {"ss_sd_model_name": checkpoint.name, "ss_new_sd_model_hash": whole, "ss_sd_model_hash": legacy}


def addnet_hash(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """kohya's ``sshs_model_hash``: sha256 of the data section of the file it would write."""
    from safetensors.torch import save

    blob = save(tensors, {k: v for k, v in metadata.items() if k.startswith("ss_")})
    n = int.from_bytes(blob[:8], "little")
    return hashlib.sha256(blob[8 + n :]).hexdigest()
