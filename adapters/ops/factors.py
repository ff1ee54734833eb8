"""A layer's low-rank factors, and the one writer of kohya-format LoRA files.

What the operations (mix, resize, bake, extract, convert) share, so that they sit side by side
and import this module rather than each other: a layer's tensors read from its file, its
exact factors ``(B, A)`` with ΔW = B @ A, the DoRA delta (which needs the base weight), the
LoRA-block-weight label of a layer, the storage dtypes by name, and :func:`save_kohya`. Every
operation opens an adapter's weights through :func:`open_factors`, which refuses NaN/Inf.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from loradex.adapters.errors import NonFiniteError, UnsupportedError
from loradex.adapters.io.hashing import FileHashes
from loradex.adapters.io.sources import WeightSource
from loradex.adapters.io.torch_dtypes import torch_dtype
from loradex.adapters.io.weights import open_weights
from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.architectures import BASES, architecture
from loradex.adapters.model.artifact import ArtifactInfo, LayerInfo
from loradex.adapters.model.checkpoint import take_rows
from loradex.adapters.model.layermap import LayerMap, block_label, fused_rows, layer_map, rows_shape
from loradex.adapters.model.single_file_names import row_pieces
from loradex.adapters.vocabulary import Dtype
from loradex.adapters.words import count

from .lowrank import delta, product_factors, split_svd
from .options import DTYPES

#: Layers a refusal names before "…" (the count says how many in all).
_NAMED = 3


def storage_dtype(name: str) -> torch.dtype:
    """The torch dtype of a dtype option (``fp16``, ``bf16``, ``fp32``; see ``options.DTYPES``)."""
    return torch_dtype(DTYPES[Dtype(name)])


#: Parts whose rows are the delta's rows: a layer's rows of a fused module are theirs.
_ROW_PARTS = ("lora_up", "hada_w1_a", "hada_w2_a", "diff")


def layer_tensors(src: WeightSource, layer: LayerInfo) -> dict[str, torch.Tensor]:
    """The layer's tensors by normalised part (alpha excluded), as stored, or for a layer that is
    rows of a fused module (:attr:`LayerInfo.rows`) cut to those rows: LoRA's up and LoHa's left
    factors by rows (the down side is shared), a DoRA magnitude per output row likewise; a LoKr
    cannot be cut by rows (a Kronecker product's rows are not a smaller one), so its part of the
    delta is materialised as a ``diff``."""
    t = {part: src.get(key) for part, key in layer.keys.items() if part != "alpha"}
    if not layer.rows:
        return t
    if layer.algorithm == "lokr":
        # unscaled, in float32: the layer's alpha/rank scale applies to it as to the factors
        whole = delta("lokr", {k: v.float() for k, v in t.items()}, 1.0, (-1, layer.shape[1]))
        return {"diff": take_rows(whole, layer.rows)}
    total = max(b for _, b in layer.rows)
    for part in (*_ROW_PARTS, "dora_scale", "magnitude"):
        if part in t and (part in _ROW_PARTS or t[part].shape[0] >= total):
            t[part] = take_rows(t[part], layer.rows)
    return t


def layer_is_finite(layer: LayerInfo, tensors: Mapping[str, torch.Tensor]) -> bool:
    """Whether the layer's ``tensors`` (:func:`layer_tensors`) and its alpha/rank scale hold no NaN or Inf."""
    return math.isfinite(layer.scale) and all(bool(torch.isfinite(t).all()) for t in tensors.values())


def nonfinite_layers(info: ArtifactInfo, src: WeightSource) -> list[str]:
    """Stems of the layers of ``info`` (read from ``src``) whose factors or alpha hold NaN or Inf."""
    return [layer.stem for layer in info.layers if not layer_is_finite(layer, layer_tensors(src, layer))]


def check_finite(info: ArtifactInfo, src: WeightSource | None = None) -> None:
    """Refuse an adapter with NaN/Inf in any layer: every output made from it would carry them
    (a baked checkpoint then renders black images). ``src``: the adapter's weights, when open.

    Raises:
        NonFiniteError: naming the file, how many layers and the first few.
    """
    if src is None:
        with open_weights(info.path) as opened:
            return check_finite(info, opened)
    bad = nonfinite_layers(info, src)
    if bad:
        more = ", …" if len(bad) > _NAMED else ""
        raise NonFiniteError(
            f"NaN/Inf in {count(len(bad), 'layers')} ({', '.join(bad[:_NAMED])}{more}); "
            "an output made from it would be broken too",
            path=info.path,
        )


@contextlib.contextmanager
def open_factors(info: ArtifactInfo) -> Iterator[WeightSource]:
    """The adapter's weights opened for math: every operation reads its factors through this,
    so none of them writes an output from a file with NaN/Inf factors (:func:`check_finite`)."""
    with open_weights(info.path) as src:
        check_finite(info, src)
        yield src


def block_of(layer: LayerInfo, base: str) -> str:
    """Block label as LoRA-block-weight tools spell it: BASE, IN00–IN11, MID, OUT00–OUT11, a DiT's
    IN, D0…/J0…, S0…, OUT, TE.00 / TE2.31 / TE3.23 for text-encoder layers
    (:func:`loradex.adapters.model.layermap.block_label`); ``?`` on a base loradex does not know (its
    blocks are not laid out as in the families')."""
    if base not in BASES:
        return block_label(None, layer.component)
    return block_label(layer.canonical, layer.component, architecture(base).denoiser.get("layers_per_block", 2), base)


def layer_factors(
    info: ArtifactInfo, layer: LayerInfo, src: WeightSource, base_weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, A)`` in float32 with ΔW = B @ A exactly (scale folded into B, convs flattened).

    A DoRA layer's ΔW depends on the base: ``base_weight`` (float32, the layer's shape) is
    needed, and its exact factors are as wide as the SVD of ΔW needs (usually full rank).
    """
    if layer.algorithm == "dora":
        if base_weight is None:
            raise UnsupportedError(
                f"layer {layer.stem} is DoRA: its delta depends on the base weights; give the base checkpoint (--base)",
                path=info.path,
            )
        return exact_factors(dora_delta(layer, src, base_weight))
    t = {k: v.float() for k, v in layer_tensors(src, layer).items()}
    factors = product_factors(layer.algorithm, t, layer.scale)
    if factors is not None:
        return factors
    # LoKr, full deltas and CP-decomposed convs: an exact factorisation from the SVD of ΔW.
    return exact_factors(delta(layer.algorithm, t, layer.scale, layer.shape))


def exact_factors(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, A)`` with B @ A = ``d`` (flattened to 2-D), as narrow as its numerical rank."""
    u, s, vh = torch.linalg.svd(d.flatten(1), full_matrices=False)
    keep = int((s > s.max() * 1e-7).sum()) if s.numel() and float(s.max()) > 0 else 1
    return split_svd(u, s, vh, keep)


def dora_delta(layer: LayerInfo, src: WeightSource, w: torch.Tensor) -> torch.Tensor:
    """ΔW of a DoRA layer on the base weight ``w`` (float32, the layer's shape):
    m·(W+BA)/‖W+BA‖ − W, the norm per output row when the magnitude has one entry per output
    channel (PEFT, LyCORIS ``wd_on_out``), else per input column. Agrees with PEFT's merge."""
    t = {k: v.float() for k, v in layer_tensors(src, layer).items()}
    factors = product_factors("lora", t, layer.scale)
    assert factors is not None  # a DoRA layer's direction is plain LoRA factors (no lora_mid)
    b, a = factors
    direction = (w + (b @ a).reshape(w.shape)).flatten(1)
    m = t["dora_scale"] if "dora_scale" in t else t["magnitude"]
    if m.numel() == w.shape[0]:
        new = m.reshape(-1, 1) * direction / direction.norm(dim=1, keepdim=True)
    else:
        new = m.reshape(1, -1) * direction / direction.norm(dim=0, keepdim=True)
    return new.reshape(w.shape) - w


@dataclass
class LoraLayer:
    """One layer as plain LoRA factors: ΔW = scale · up @ down.

    ``up`` is (out, r) or stored as (out, r, 1, 1); ``down`` is (r, in) or (r, in, kh, kw) or
    flattened; ``shape`` is the adapted weight's shape.
    """

    canonical: str
    up: torch.Tensor
    down: torch.Tensor
    shape: tuple[int, ...]
    scale: float = 1.0

    @property
    def rank(self) -> int:
        return self.down.shape[0]


def _kohya_stem(lm, name: str) -> str:
    return lm.layers[name].kohya if name in lm.layers else name


def kohya_module(lm: LayerMap, canonical: str) -> str:
    """What a canonical layer is written in by kohya: the original fused module (its weight key) for a
    DiT layer that is rows of one (q/k/v, Flux's ``linear1``), else the layer itself."""
    layer = lm.layers[canonical]
    return layer.ldm_key if layer.ldm_rows and layer.component == "transformer" else canonical


def _fused_for_kohya(lm, layers: Sequence[LoraLayer]) -> list[LoraLayer]:
    """``layers`` with those kohya names as one original fused module (a DiT's q/k/v, Flux's
    ``linear1``, a reordered final modulation) fused into one layer per module, named by its kohya
    stem: each part's up placed at its rows. Parts that share one down (a file read from that
    module) keep it, so a round trip keeps the rank; otherwise the downs are stacked and the ups
    laid block-diagonally (the rank is the parts' ranks summed)."""
    out: list[LoraLayer] = []
    groups: dict[str, list[LoraLayer]] = {}
    for layer in layers:
        module = kohya_module(lm, layer.canonical)
        if module != layer.canonical:
            groups.setdefault(module, []).append(layer)
        else:
            out.append(layer)
    for key, parts in groups.items():
        members = lm.by_ldm_key()[key]
        first = parts[0]
        # A model of another width than the map's: its module holds the parts in the same proportions.
        published = rows_shape(next(m.ldm_rows for m in members if m.name == first.canonical), (0,))[0]
        rows = fused_rows(members, max(b for m in members for _, b in m.ldm_rows) * first.shape[0] // published)
        total = max(b for segments in rows.values() for _, b in segments)
        shared = all(p.down.shape == first.down.shape and torch.equal(p.down, first.down) for p in parts)
        downs = [first.down.flatten(1).float()] if shared else [p.down.flatten(1).float() for p in parts]
        up = torch.zeros(total, sum(d.shape[0] for d in downs))
        column = 0
        for part in parts:
            width = part.rank
            for stored, piece in row_pieces(rows[part.canonical]):
                up[stored, column : column + width] = part.up.flatten(1).float()[piece] * part.scale
            column += 0 if shared else width
        dtype = first.down.dtype
        out.append(LoraLayer(members[0].kohya, up.to(dtype), torch.cat(downs).to(dtype), (total, first.shape[1])))
    return out


def save_kohya(
    out: str | Path,
    layers: Sequence[LoraLayer],
    *,
    base: str,
    size: str = "",
    dtype: torch.dtype | None = None,
    metadata: Mapping[str, str] | None = None,
    protect: Iterable[str | Path] = (),
) -> FileHashes:
    """Write ``layers`` as a kohya-format LoRA of family ``base`` at ``size`` (atomically; never over
    ``protect``). The size matters for a DiT: its fused modules' rows are the size's widths.

    One alpha for the whole file. When every layer has the same rank and scale, that is
    alpha = scale·rank and the factors are written as they are; otherwise alpha is the largest
    rank and each layer's own scale is folded into its ``lora_up``. Per-layer alphas that differ
    are what diffusers misreads (it builds alpha_pattern keys such as
    ``mid_block…processor.to_k_lora.down.weight`` that match nothing, so a mixed-rank file
    loaded there scaled the mid block wrongly).

    Args:
        dtype: storage dtype of the factors; None keeps each tensor's own.
        metadata: written as given, with ``ss_network_module``/``_dim``/``_alpha`` set to
            what the file holds.

    Returns:
        The written file's hashes (computed while writing it).
    """
    lm = layer_map(base, size)
    layers = _fused_for_kohya(lm, layers)
    uniform = len({(layer.rank, layer.scale) for layer in layers}) <= 1
    alpha = (
        layers[0].scale * layers[0].rank
        if uniform and layers
        else float(max((layer.rank for layer in layers), default=1))
    )
    tensors: dict[str, torch.Tensor] = {}
    for layer in layers:
        stem, r, conv = _kohya_stem(lm, layer.canonical), layer.rank, len(layer.shape) == 4
        fold = 1.0 if uniform else layer.scale * r / alpha
        up = layer.up if fold == 1.0 else (layer.up.float() * fold).to(layer.up.dtype)
        store = dtype or layer.down.dtype
        tensors[f"{stem}.lora_down.weight"] = layer.down.reshape(r, *layer.shape[1:]).to(store).contiguous()
        tensors[f"{stem}.lora_up.weight"] = (
            up.reshape(layer.shape[0], r, *([1, 1] if conv else [])).to(dtype or up.dtype).contiguous()
        )
        tensors[f"{stem}.alpha"] = torch.tensor(alpha, dtype=store)
    rank = max((layer.rank for layer in layers), default=0)
    header = {
        **(metadata or {}),
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": f"{alpha:g}",
    }
    return save_tensors(out, tensors, header, protect=list(protect), hashes=True)
