"""inspect(path) -> Inspection: per-layer and per-block statistics of an adapter's deltas.

Norms and singular values come from the low-rank factors (see :mod:`.lowrank`), so
inspecting an SDXL LoRA never forms a 1280×1280 delta per layer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.io.weights import open_weights
from loradex.adapters.jsonable import jsonable
from loradex.adapters.model.artifact import ArtifactInfo
from loradex.adapters.model.blocks import block_order
from loradex.adapters.model.probe import probe
from loradex.adapters.threads import torch_threads
from loradex.adapters.words import article

from .factors import block_of, layer_is_finite, layer_tensors
from .lowrank import effective_rank, numerical_rank, singular_values


@dataclass
class LayerStats:
    """Statistics of one adapted layer's delta (alpha/rank scale included, weight 1)."""

    stem: str
    canonical: str | None
    component: str | None
    block: str
    algorithm: str
    rank: int | None
    alpha: float | None
    scale: float
    shape: tuple[int, ...]
    norm: float | None
    effective_rank: float | None
    numerical_rank: int | None
    singular_values: list[float] = field(default_factory=list)
    finite: bool = True


@dataclass
class BlockStats:
    block: str
    layers: int
    norm: float
    ranks: list[int]


@dataclass
class Inspection:
    """The result of :func:`inspect`."""

    info: ArtifactInfo
    layers: list[LayerStats]
    blocks: list[BlockStats]
    rank_histogram: dict[int, int]
    component_share: dict[str, float]
    nonfinite: list[str]

    def __json__(self) -> dict[str, Any]:
        """The artifact without its layer list (``layers`` holds each layer's spectrum instead)."""
        return {
            "artifact": jsonable(self.info) | {"layers": None},
            "layers": self.layers,
            "blocks": self.blocks,
            "rank_histogram": self.rank_histogram,
            "component_share": self.component_share,
            "nonfinite": self.nonfinite,
            "parameters": self.info.parameters,
        }


@torch_threads()
def inspect(path: str | Path) -> Inspection:
    """Per-layer and per-block statistics of an adapter.

    Args:
        path: a LoRA / LyCORIS file or PEFT folder.

    Returns:
        An :class:`Inspection` with one :class:`LayerStats` per adapted layer.

    Raises:
        UnsupportedError: the artifact is not a LoRA-family adapter.

    Example:
        >>> report = inspect("my_lora.safetensors")  # doctest: +SKIP
        >>> report.rank_histogram  # doctest: +SKIP
        {16: 264}
    """
    info = probe(path)
    if info.kind not in ("lora", "lycoris"):
        raise UnsupportedError(f"inspect works on LoRA/LyCORIS adapters; this is {article(info.kind)}", path=path)
    stats: list[LayerStats] = []
    with open_weights(info.path) as src:
        for layer in info.layers:
            t = layer_tensors(src, layer)
            finite = layer_is_finite(layer, t)
            s = None
            if finite:
                try:
                    s = singular_values(layer.algorithm, t, layer.scale, layer.shape)
                except UnsupportedError:
                    s = None
            stats.append(
                LayerStats(
                    layer.stem,
                    layer.canonical,
                    layer.component,
                    block_of(layer, info.base),
                    layer.algorithm,
                    layer.rank,
                    layer.alpha,
                    layer.scale,
                    layer.shape,
                    norm=float(s.square().sum().sqrt()) if s is not None else None,
                    effective_rank=effective_rank(s) if s is not None else None,
                    numerical_rank=numerical_rank(s) if s is not None else None,
                    singular_values=[float(x) for x in s[:16]] if s is not None else [],
                    finite=finite,
                )
            )
    return Inspection(
        info,
        stats,
        _blocks(stats),
        dict(sorted(Counter(s.rank for s in stats if s.rank).items())),
        _share(stats),
        [s.stem for s in stats if not s.finite],
    )


def _blocks(stats: list[LayerStats]) -> list[BlockStats]:
    """One row per block, in network order (``D2`` before ``D10``)."""
    out: dict[str, BlockStats] = {}
    for s in stats:
        b = out.setdefault(s.block, BlockStats(s.block, 0, 0.0, []))
        b.layers += 1
        b.norm = (b.norm**2 + (s.norm or 0.0) ** 2) ** 0.5
        if s.rank and s.rank not in b.ranks:
            b.ranks.append(s.rank)
    return sorted(out.values(), key=lambda b: block_order(b.block))


def _share(stats: list[LayerStats]) -> dict[str, float]:
    counts = Counter(s.component or "unresolved" for s in stats)
    return {k: v / len(stats) for k, v in sorted(counts.items())} if stats else {}
