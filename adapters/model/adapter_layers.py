"""An adapter file's layers as its keys spell them: the stems with their factor parts, and the
rank, alpha and delta shape those factors imply (read from shapes and scalars, never multiplied)."""

from __future__ import annotations

import re
from pathlib import Path

from loradex.adapters.errors import CorruptFileError
from loradex.adapters.io.sources import WeightSource

from .keys import algorithm_of, split_key
from .layermap import fused_rows
from .single_file_names import Segments


def adapter_stems(src: WeightSource) -> dict[str, dict[str, str]]:
    """Layer stem → {normalised part: key} for every stem that spells an adapter algorithm."""
    groups: dict[str, dict[str, str]] = {}
    for key in src.keys():
        if split := split_key(key):
            groups.setdefault(split[0], {})[split[1]] = key
    return {stem: parts for stem, parts in groups.items() if algorithm_of(set(parts))}


def resolve_stem(lm, stem: str, component: str | None) -> str | None:
    stem = stem.removeprefix("base_model.model.")
    if component:
        return lm.resolve(f"{component}.{stem}")
    return lm.resolve(stem) or lm.resolve(f"text_encoder.{stem}")


def resolve_parts(lm, stem: str, component: str | None, out_rows: int) -> list[tuple[str | None, Segments]]:
    """The canonical layers a stem's delta lands on, each with its rows of the delta.

    One layer (all rows) for most stems; for a stem naming an original fused module (kohya's
    ``lora_unet_double_blocks_0_img_attn_qkv``), each layer whose rows lie within the ``out_rows``
    the file's factors produce (:func:`~.layermap.fused_rows`: a model of another width too).
    ``[(None, ())]`` when nothing answers to it.
    """
    canonical = resolve_stem(lm, stem, component)
    if canonical:
        return [(canonical, ())]
    name = stem.removeprefix("base_model.model.")
    parts = lm.fused_parts(f"{component}.{name}" if component and component != "transformer" else name)
    return list(fused_rows(parts, out_rows).items()) or [(None, ())]


def guess_component(stem: str) -> str | None:
    for marker, component in (
        ("te2", "text_encoder_2"),
        ("text_encoder_2", "text_encoder_2"),
        ("te", "text_encoder"),
        ("text_encoder", "text_encoder"),
        ("unet", "unet"),
        ("transformer", "transformer"),
    ):
        if stem.startswith((f"lora_{marker}_", f"{marker}.")):
            return component
    return None


#: Factor pairs whose product is a delta: (left, right, its CP/Tucker core). Left's columns meet
#: right's rows (the rank); with the core there, both factors put the rank first.
_PRODUCTS = (
    ("lora_up", "lora_down", None),
    ("hada_w1_a", "hada_w1_b", "hada_t1"),
    ("hada_w2_a", "hada_w2_b", "hada_t2"),
    ("lokr_w1_a", "lokr_w1_b", None),
    ("lokr_w2_a", "lokr_w2_b", "lokr_t2"),
)


def check_factors(path: Path, src: WeightSource, stem: str, parts: dict[str, str]) -> None:
    """Refuse a layer whose factors cannot multiply, before any shape is read from them for math:
    a weight tensor that is a scalar, or a pair whose inner widths differ (down [4, 768] with up
    [32, 8]).

    Raises:
        CorruptFileError: naming the layer and the shapes.
    """
    shapes = {part: src.shape(key) for part, key in parts.items() if part != "alpha"}
    for part, shape in shapes.items():
        if not shape and part != "dora_scale":
            raise CorruptFileError(f"layer {stem}: {part} is a scalar, not a weight factor", path=path)
    for left, right, core in _PRODUCTS:
        if left in shapes and right in shapes:
            a, b = shapes[left], shapes[right]
            if len(a) < 2 or len(b) < 2 or (a[0] if core in parts else a[1]) != b[0]:
                raise CorruptFileError(
                    f"layer {stem}: {left} {list(a)} and {right} {list(b)} do not multiply", path=path
                )


def factor_rank(src: WeightSource, parts: dict[str, str]) -> int | None:
    if "lora_down" in parts:
        return src.shape(parts["lora_down"])[0]
    if "hada_w1_b" in parts:
        return src.shape(parts["hada_w1_b"])[0]
    for part in ("lokr_w2_b", "lokr_w1_b"):
        if part in parts:
            return src.shape(parts[part])[0]
    return None


def delta_shape(src: WeightSource, parts: dict[str, str], layer) -> tuple[int, ...]:
    """Shape of the weight the delta applies to, from the file's own tensors (the base's layer
    only lends the kernel size that LoHa/LoKr factors flatten away)."""
    shape = factor_shape(src, parts)
    if layer is not None and len(layer.shape) == 4 and len(shape) == 2:
        kh, kw = layer.shape[2:]
        if shape[1] % (kh * kw) == 0:
            return (shape[0], shape[1] // (kh * kw), kh, kw)
    return shape


def factor_shape(src: WeightSource, parts: dict[str, str]) -> tuple[int, ...]:
    """The adapted weight's shape as the factors give it (LoHa/LoKr convs may come flattened to
    2-D). CP/Tucker layouts (LyCORIS ``use_tucker``) put the rank first in both factors and take
    the kernel from the core: ``hada_w1_a`` (r, out), ``lokr_w2_a`` (r, b), ``lora_mid`` (r, r, k, k)."""
    if "lora_down" in parts:
        down, up = src.shape(parts["lora_down"]), src.shape(parts["lora_up"])
        kernel = src.shape(parts["lora_mid"])[2:] if "lora_mid" in parts else down[2:]
        return (up[0], down[1], *kernel)
    if "diff" in parts:
        return src.shape(parts["diff"])
    if "hada_w1_a" in parts:
        a, b = src.shape(parts["hada_w1_a"]), src.shape(parts["hada_w1_b"])
        if "hada_t1" in parts:
            return (a[1], b[1], *src.shape(parts["hada_t1"])[2:])
        return (a[0], b[1])

    def dims(prefix: str) -> tuple[int, ...]:
        if f"{prefix}" in parts:
            return src.shape(parts[prefix])
        a, b = src.shape(parts[f"{prefix}_a"]), src.shape(parts[f"{prefix}_b"])
        if prefix == "lokr_w2" and "lokr_t2" in parts:
            return (a[1], b[1], *src.shape(parts["lokr_t2"])[2:])
        return (a[0], *b[1:])

    w1, w2 = dims("lokr_w1"), dims("lokr_w2")
    return (w1[0] * w2[0], w1[1] * w2[1], *w2[2:])


def layer_alpha(src: WeightSource, parts: dict[str, str], rank: int | None, config: dict, stem: str) -> float | None:
    if "alpha" in parts:
        return src.scalar(parts["alpha"])
    if config:
        path = stem.removeprefix("base_model.model.")
        r = _pattern_value(config.get("rank_pattern") or {}, path, config.get("r", rank))
        alpha = float(_pattern_value(config.get("alpha_pattern") or {}, path, config.get("lora_alpha", r)))
        if config.get("use_rslora") and rank:
            # Express rsLoRA's alpha/√r scale as an equivalent plain alpha for alpha/r.
            alpha = alpha * rank / rank**0.5
        return alpha
    return float(rank) if rank else None


def _pattern_value(patterns: dict, path: str, default):
    for pattern, value in patterns.items():
        if re.match(rf"(.*\.)?({pattern})$", path):
            return value
    return default
