"""mix / resize: weighted sums of LoRAs and rank reduction, from the low-rank factors.

A weighted sum of LoRAs is itself a LoRA: ΔW = Σ wᵢ·sᵢ·Bᵢ·Aᵢ = [w₁s₁B₁ … wₙsₙBₙ]·[A₁; …; Aₙ].
``concat`` writes exactly that (rank Σrᵢ). ``svd`` reduces it to rank R through QR of both
stacked factors and the SVD of the small core, never forming the m×n ΔW of a LoRA layer —
kohya's merge sums up- and down-matrices separately (cross terms) and its svd_merge forms
every dense ΔW; both are what this module exists to avoid. LyCORIS inputs enter through their
exact low-rank form (LoHa: Khatri–Rao factors of rank r²) or, for LoKr and full deltas,
through the SVD of their delta; DoRA, whose delta depends on the base weights, the same way
once a base checkpoint is given.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from loradex.adapters.errors import IncompatibleError, UnsupportedError
from loradex.adapters.io.hashing import FileHashes
from loradex.adapters.io.torch_dtypes import torch_dtype
from loradex.adapters.model.artifact import ArtifactInfo, LayerInfo
from loradex.adapters.model.checkpoint import LayerWeights
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.adapters.threads import torch_threads
from loradex.adapters.words import article, count

from .block_weights import block_multiplier, block_multipliers
from .factors import LoraLayer, block_of, kohya_module, layer_factors, open_factors, save_kohya
from .lowrank import lowrank_svd, retained_energy, split_svd
from .options import BlockWeights
from .recipe import Recipe
from .recipe_sources import stamp

RankRule = Callable[[torch.Tensor], int]
#: ``ss_base_model_version`` as kohya's sd-scripts writes it per family.
_BASE_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0", "flux": "flux1"}


@dataclass
class MixReport:
    output: Path
    method: str
    layers: int
    ranks: list[int]
    #: stem (as written) → share of ‖ΔW‖² kept by the SVD (``svd`` only).
    retained_energy: dict[str, float] = field(default_factory=dict)
    #: The recipe embedded in the output.
    recipe: Recipe | None = None
    #: The output's hashes, computed while it was written.
    hashes: FileHashes | None = None


def _dora_base(path: Path, family: str) -> LayerWeights:
    """The checkpoint DoRA inputs of ``family`` are applied to."""
    info = probe(path)
    if info.kind != "checkpoint":
        raise UnsupportedError(f"the base must be a checkpoint; this is {article(info.kind)}", path=path)
    if info.base != family:
        raise IncompatibleError(f"this is {article(info.base)} checkpoint; the inputs are {family}", path=path)
    return LayerWeights(path, info)


def _base_weight(base: LayerWeights, layer: LayerInfo) -> torch.Tensor:
    w = base.weight(layer.canonical or "")
    if w is None:
        raise IncompatibleError(f"has no layer {layer.canonical} (DoRA layer {layer.stem})", path=base.path)
    return w


@torch_threads()
def mix(
    inputs: Sequence[tuple[str | Path, float]],
    out: str | Path,
    *,
    method: str = "concat",
    rank: int | None = None,
    rank_rule: RankRule | None = None,
    block_weights: BlockWeights | None = None,
    base: str | Path | None = None,
    recorded: tuple[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> MixReport:
    """Write Σ wᵢ·ΔWᵢ of the input LoRAs as one kohya-format LoRA.

    Args:
        inputs: (path, weight) pairs; negative weights subtract.
        out: output file, written atomically; never one of the inputs.
        method: ``"concat"`` (exact, rank = Σ ranks) or ``"svd"`` (best rank-``rank`` approximation).
        rank: target rank for ``svd``.
        rank_rule: per-layer rank from the singular values (overrides ``rank``; used by resize).
        block_weights: multipliers by block (``IN``, ``MID``, ``OUT``, ``TE``, ``TE2``, ``BASE``, ``D``,
            ``S``, ``J`` or an exact label such as ``IN04`` / ``TE.03`` / ``D7``), or a LoRA Block Weight
            vector or preset (:mod:`.block_weights`); checked against the inputs' family.
        base: the checkpoint DoRA inputs were trained on (their delta depends on its weights);
            recorded in the recipe. Use ``svd`` with a rank to keep DoRA deltas small.
        recorded: the op and parameters the output's recipe records (default: this mix's
            ``method``, ``rank`` and ``block_weights``; resize records its own).
        progress: called with a :class:`ProgressEvent` (phase: the recorded op) per layer.

    Returns:
        A :class:`MixReport`.

    Raises:
        IncompatibleError: the inputs are for different bases, a layer maps to no layer of the base, or
            ``block_weights`` names what the base does not have.
        UnsupportedError: DoRA inputs without ``base``, or ``svd`` without a rank.
    """
    out = Path(out)
    op, params = recorded or ("mix", {"method": method, "rank": rank, "block_weights": block_weights or {}})
    if method not in ("concat", "svd"):
        raise UnsupportedError(f"unknown mix method {method!r}; choose concat or svd")
    if method == "svd" and rank is None and rank_rule is None:
        raise UnsupportedError("the svd method needs --rank R")
    infos = [probe(path) for path, _ in inputs]
    family, size = _common_base(infos)
    multipliers = block_multipliers(block_weights, family, size, path=infos[0].path) if block_weights else None
    per_layer: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    shapes: dict[str, tuple[tuple[int, ...], Path]] = {}  # canonical → its shape, and the first file with it
    dtypes: Counter[str] = Counter()
    with _dora_base(Path(base), family) if base is not None else contextlib.nullcontext() as base_weights:
        for info, (_, weight) in zip(infos, inputs, strict=True):
            with open_factors(info) as src:
                for layer in info.layers:
                    w = weight * block_multiplier(block_of(layer, family), multipliers)
                    if w == 0:  # a block weighted 0 is left out, not written as zero-norm layers
                        continue
                    canonical = layer.canonical
                    assert canonical is not None  # files with unmatched layers are refused above
                    _check_same_shape(layer, info.path, shapes.setdefault(canonical, (layer.shape, info.path)))
                    w0 = _base_weight(base_weights, layer) if base_weights and layer.algorithm == "dora" else None
                    b, a = layer_factors(info, layer, src, w0)
                    per_layer.setdefault(canonical, []).append((b * w, a))
                    dtypes[layer.dtype] += 1
    dtype = torch_dtype(dtypes.most_common(1)[0][0]) if dtypes else torch.float16
    lm = layer_map(family, size)
    # The layers one kohya module holds (a DiT's fused q/k/v or linear1) are reduced together, as the
    # one weight they are in the file: rank R for the module, one down shared by its parts.
    modules: dict[str, list[str]] = {}
    for canonical in per_layer:
        modules.setdefault(kohya_module(lm, canonical), []).append(canonical)
    layers: list[LoraLayer] = []
    report = MixReport(out, method, len(per_layer), [])
    for done, members in enumerate(modules.values(), 1):
        if progress:
            progress(ProgressEvent(op, done, len(modules), members[0]))
        factors = [
            (torch.cat([b for b, _ in per_layer[c]], dim=1), torch.cat([a for _, a in per_layer[c]], dim=0))
            for c in members
        ]
        if method == "svd":
            u, s, vh = lowrank_svd(torch.block_diag(*(b for b, _ in factors)), torch.cat([a for _, a in factors]))
            wanted = rank_rule(s) if rank_rule else rank
            assert wanted is not None  # svd without a rank or a rule is refused above
            r = max(1, min(wanted, s.numel()))
            report.retained_energy[lm.layers[members[0]].kohya] = retained_energy(s, r)
            b, a = split_svd(u, s, vh, r)
            factors = [(up, a) for up in b.split([up.shape[0] for up, _ in factors])]
        for canonical, (b, a) in zip(members, factors, strict=True):
            layers.append(LoraLayer(canonical, b, a, shapes[canonical][0]))
            report.ranks.append(a.shape[0])
    recipe = stamp(op, [(info.path, w) for info, (_, w) in zip(infos, inputs, strict=True)], params, base=base)
    report.recipe = recipe
    metadata = {
        "ss_base_model_version": _BASE_VERSION.get(family, family),
        "loradex.recipe": recipe.to_json(),
        "loradex.inputs_metadata": json.dumps([_training_metadata(i) for i in infos]),
    }
    report.hashes = save_kohya(
        out,
        layers,
        base=family,
        size=size,
        dtype=dtype,
        metadata=metadata,
        protect=[info.path for info in infos] + ([Path(base)] if base else []),
    )
    return report


def _check_same_shape(layer: LayerInfo, path: Path, first: tuple[tuple[int, ...], Path]) -> None:
    """Refuse a layer whose delta is not the shape the same layer has in an earlier input (its
    factors would not stack): one of the two files is not for this base.

    Raises:
        IncompatibleError: naming both files, the layer and the shapes.
    """
    shape, where = first
    if (shape[0], math.prod(shape[1:])) != (layer.shape[0], math.prod(layer.shape[1:])):
        raise IncompatibleError(
            f"layer {layer.stem} is {list(layer.shape)} here but {list(shape)} in {where.name}; they cannot be mixed",
            path=path,
        )


def _common_base(infos: list[ArtifactInfo]) -> tuple[str, str]:
    """The family and size every input is for.

    Raises:
        UnsupportedError: an input is not a LoRA/LyCORIS adapter.
        IncompatibleError: an input has unmatched layers, or the inputs differ in family or size.
    """
    for info in infos:
        if info.kind not in ("lora", "lycoris"):
            raise UnsupportedError(f"only LoRA/LyCORIS adapters mix; this is {article(info.kind)}", path=info.path)
        if info.unmatched:
            raise IncompatibleError(
                f"{count(len(info.unmatched), 'layers')} without a matching {info.base} layer "
                f"(first: {info.unmatched[0]})",
                path=info.path,
            )
    bases = {(info.base, info.base_size) for info in infos}
    if len(bases) != 1:
        listing = ", ".join(f"{i.path.name}={i.base}{i.base_size and ' ' + i.base_size}" for i in infos)
        raise IncompatibleError(f"inputs are for different base models ({listing})")
    return bases.pop()


def _training_metadata(info: ArtifactInfo) -> dict[str, str]:
    """What an input says about its training; in recipe-input order, so no file name (which
    would make the output depend on where the inputs lie, and a rebuild from moved inputs differ)."""
    keep = (
        "ss_output_name",
        "ss_tag_frequency",
        "ss_base_model_version",
        "modelspec.title",
        "modelspec.trigger_phrase",
    )
    return {k: info.metadata[k] for k in keep if k in info.metadata}


def dynamic_rank_rule(method: str, value: float) -> RankRule:
    """Per-layer rank from singular values, as kohya's resize_lora names the methods.

    ``sv_ratio``: keep σᵢ ≥ σ₁/value; ``sv_fro``: smallest r with ‖σ≤r‖₂/‖σ‖₂ ≥ value;
    ``sv_cumulative``: smallest r with Σσ≤r/Σσ ≥ value.
    """

    def sv_ratio(s: torch.Tensor) -> int:
        return int((s >= s[0] / value).sum())

    def cumulative(s: torch.Tensor, power: int) -> int:
        acc = torch.cumsum(s**power, 0) / (s**power).sum()
        if power == 2:
            acc = acc.sqrt()
        return int((acc < value - 1e-7).sum()) + 1

    rules = {"sv_ratio": sv_ratio, "sv_fro": lambda s: cumulative(s, 2), "sv_cumulative": lambda s: cumulative(s, 1)}
    if method not in rules:
        raise UnsupportedError(f"unknown dynamic method {method!r}; choose {', '.join(rules)}")
    return rules[method]


#: Algorithms whose delta has exactly the stored rank (LoHa's is up to r², LoKr's and DoRA's are full).
_EXACT_RANK = {"lora", "locon"}


def resize(
    path: str | Path,
    out: str | Path,
    *,
    rank: int | None = None,
    dynamic: tuple[str, float] | None = None,
    base: str | Path | None = None,
    progress: Progress | None = None,
) -> MixReport:
    """Reduce every layer of a LoRA to ``rank`` (or a per-layer rank from ``dynamic``), from
    its factors; the report gives each layer's retained energy. A DoRA needs its ``base``
    (the result is a plain LoRA).

    Raises:
        UnsupportedError: not exactly one of ``rank`` and ``dynamic``, or ``rank`` above the rank
            of every layer of a plain LoRA (SVD cannot add rank).
    """
    if (rank is None) == (dynamic is None):
        raise UnsupportedError("resize needs exactly one of rank and dynamic")
    if rank is not None:
        info = probe(path)
        if info.ranks and rank > info.ranks[-1] and set(info.algorithms) <= _EXACT_RANK:
            raise UnsupportedError(
                f"cannot grow a rank-{info.ranks[-1]} LoRA to rank {rank}: resize only reduces "
                f"(give a rank up to {info.ranks[-1]})",
                path=info.path,
            )
    rule = dynamic_rank_rule(*dynamic) if dynamic else None
    return mix(
        [(path, 1.0)],
        out,
        method="svd",
        rank=rank,
        rank_rule=rule,
        base=base,
        recorded=("resize", {"rank": rank, "dynamic": dynamic}),
        progress=progress,
    )
