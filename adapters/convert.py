"""convert(path, to, out): LoRA / LoCon between kohya, diffusers and PEFT-folder formats.

Every layer and the file's metadata are kept. The conventions differ in how they scale:
kohya and PEFT store an alpha (ΔW = up·down·alpha/rank); diffusers-format files are loaded
with scale 1, so converting *to* diffusers folds alpha/rank into ``lora_B`` (exact). LyCORIS
algorithms (LoHa, LoKr, full) have no LoRA form of the same rank: they convert only through
an explicit ``rank`` (truncated SVD of the delta), and the report says how much of the delta's
energy each layer kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .artifact import ArtifactInfo, LayerInfo
from .errors import IncompatibleError, UnsupportedError
from .inspection import layer_tensors
from .layermap import layer_map
from .lowrank import delta, lowrank_svd, product_factors
from .probe import probe
from .safetensors_io.atomic import atomic_path
from .safetensors_io.writer import save_tensors
from .weights import open_weights

FORMATS = ("kohya", "diffusers", "peft")


@dataclass
class LoraFactors:
    """One layer as plain LoRA factors: ΔW = up @ down · alpha / rank."""

    layer: LayerInfo
    down: torch.Tensor
    up: torch.Tensor
    alpha: float
    retained_energy: float = 1.0

    @property
    def rank(self) -> int:
        return self.down.shape[0]


@dataclass
class ConversionReport:
    source: Path
    target: Path
    source_format: str
    target_format: str
    layers: int
    rank: int | None = None
    #: stem → share of the delta's squared Frobenius norm kept by the SVD (only with ``rank``).
    retained_energy: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def convert(path: str | Path, to: str, out: str | Path, *, rank: int | None = None) -> ConversionReport:
    """Write the LoRA at ``path`` in another key convention.

    Args:
        path: a LoRA / LoCon / LyCORIS file or PEFT folder.
        to: ``"kohya"``, ``"diffusers"`` or ``"peft"`` (a folder).
        out: the output file (kohya, diffusers) or folder (peft). Written atomically; never
            one of the inputs.
        rank: required for LyCORIS inputs (LoHa, LoKr, full): the rank of the SVD
            approximation. With a LoRA input it also reduces every layer to this rank.

    Returns:
        A :class:`ConversionReport`.

    Raises:
        UnsupportedError: not a LoRA-family file, a LyCORIS input without ``rank``, or DoRA.
        IncompatibleError: some layers map to no layer of the base (nothing to name them by).

    Example:
        >>> convert("lora_kohya.safetensors", "diffusers", "lora_diffusers.safetensors")  # doctest: +SKIP
    """
    path, out = Path(path), Path(out)
    if to not in FORMATS:
        raise UnsupportedError(f"unknown target format {to!r}; choose one of {', '.join(FORMATS)}")
    info = probe(path)
    factors = lora_factors(info, rank=rank)
    report = ConversionReport(path, out, info.format, to, len(factors), rank)
    if rank is not None:
        report.retained_energy = {f.layer.stem: f.retained_energy for f in factors}
        algos = ", ".join(info.algorithms)
        report.notes.append(f"converted {algos} to rank-{rank} LoRA by truncated SVD; "
                            f"lowest retained energy {min(report.retained_energy.values(), default=1):.4f}")
    metadata = dict(info.metadata)
    metadata["loradex.converted_from"] = info.format
    if to == "peft":
        _write_peft(factors, out, metadata, protect=[path])
    else:
        tensors = _kohya_tensors(factors, info) if to == "kohya" else _diffusers_tensors(factors)
        if to == "kohya":
            metadata.setdefault("ss_network_module", "networks.lora")
        save_tensors(out, tensors, metadata, protect=[path])
    return report


def lora_factors(info: ArtifactInfo, *, rank: int | None = None) -> list[LoraFactors]:
    """Every layer of a LoRA-family artifact as plain LoRA factors (SVD to ``rank`` when given).

    Raises:
        UnsupportedError / IncompatibleError: as :func:`convert`.
    """
    if info.kind not in ("lora", "lycoris"):
        raise UnsupportedError(f"only LoRA/LyCORIS adapters convert; this is a {info.kind}", path=info.path)
    if "dora" in info.algorithms:
        raise UnsupportedError("DoRA layers depend on the base weights and cannot be written as plain LoRA",
                               path=info.path)
    exotic = sorted({l.algorithm for l in info.layers if l.algorithm not in ("lora", "locon") or "lora_mid" in l.keys})
    if exotic and rank is None:
        raise UnsupportedError(f"{'/'.join(exotic)} layers have no exact LoRA form; pass a rank to convert them "
                               "by truncated SVD", path=info.path)
    if info.unmatched:
        raise IncompatibleError(f"{len(info.unmatched)} layers match no {info.base} layer "
                                f"(first: {info.unmatched[0]}); cannot name them in another format", path=info.path)
    out = []
    with open_weights(info.path) as src:
        for layer in info.layers:
            t = layer_tensors(src, layer)
            if rank is None:
                alpha = layer.alpha if layer.alpha is not None else float(layer.rank)
                out.append(LoraFactors(layer, t["lora_down"], t["lora_up"], alpha))
            else:
                out.append(_svd_factors(layer, t, rank))
    return out


def _svd_factors(layer: LayerInfo, t: dict[str, torch.Tensor], rank: int) -> LoraFactors:
    """Best rank-``rank`` LoRA of the layer's delta (Eckart–Young), alpha = rank (scale 1)."""
    dtype = next(iter(t.values())).dtype
    factors = product_factors(layer.algorithm, t, layer.scale)
    if factors is not None:
        u, s, vh = lowrank_svd(*factors)
    else:
        u, s, vh = torch.linalg.svd(delta(layer.algorithm, t, layer.scale, layer.shape).flatten(1),
                                    full_matrices=False)
    r = min(rank, s.numel())
    energy = float(s[:r].square().sum() / s.square().sum()) if float(s.square().sum()) > 0 else 1.0
    out_dim, rest = layer.shape[0], layer.shape[1:]
    up = (u[:, :r] * s[:r]).reshape(out_dim, r, *([1, 1] if len(rest) == 3 else []))
    down = vh[:r].reshape(r, *rest)
    return LoraFactors(layer, down.to(dtype).contiguous(), up.to(dtype).contiguous(), float(r), energy)


def _kohya_tensors(factors: list[LoraFactors], info: ArtifactInfo) -> dict[str, torch.Tensor]:
    lm = layer_map(info.base)
    tensors = {}
    for f in factors:
        stem = lm.layers[f.layer.canonical].kohya
        tensors[f"{stem}.lora_down.weight"] = f.down
        tensors[f"{stem}.lora_up.weight"] = f.up
        tensors[f"{stem}.alpha"] = torch.tensor(f.alpha, dtype=f.down.dtype)
    return tensors


def _folded_up(f: LoraFactors) -> torch.Tensor:
    scale = f.alpha / f.rank
    return f.up if scale == 1.0 else (f.up.float() * scale).to(f.up.dtype)


def _diffusers_tensors(factors: list[LoraFactors]) -> dict[str, torch.Tensor]:
    tensors = {}
    for f in factors:
        tensors[f"{f.layer.canonical}.lora_A.weight"] = f.down
        tensors[f"{f.layer.canonical}.lora_B.weight"] = _folded_up(f)
    return tensors


def _write_peft(factors: list[LoraFactors], out: Path, metadata: dict[str, str], protect: list[Path]) -> None:
    """One PEFT adapter folder per component (top level when only the UNet is adapted)."""
    by_component: dict[str, list[LoraFactors]] = {}
    for f in factors:
        by_component.setdefault(f.layer.component, []).append(f)
    with atomic_path(out, directory=True, protect=protect) as tmp:
        for component, group in by_component.items():
            folder = tmp if list(by_component) == ["unet"] else tmp / component
            folder.mkdir(exist_ok=True)
            tensors, config = {}, _peft_config(group, component)
            for f in group:
                path = _module_path(f.layer.canonical, component)
                tensors[f"base_model.model.{path}.lora_A.weight"] = f.down
                tensors[f"base_model.model.{path}.lora_B.weight"] = f.up
            save_tensors(folder / "adapter_model.safetensors", tensors, {"format": "pt", **metadata})
            (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))


def _module_path(canonical: str, component: str) -> str:
    return canonical.removeprefix(component + ".")


def _peft_config(group: list[LoraFactors], component: str) -> dict:
    from collections import Counter

    r = Counter(f.rank for f in group).most_common(1)[0][0]
    alpha = Counter(f.alpha for f in group).most_common(1)[0][0]
    paths = [_module_path(f.layer.canonical, component) for f in group]
    # Per-module overrides keep every layer's own rank and alpha exactly.
    rank_pattern = {p: f.rank for p, f in zip(paths, group) if f.rank != r}
    alpha_pattern = {p: f.alpha for p, f in zip(paths, group) if f.alpha != alpha}
    return {
        "peft_type": "LORA", "task_type": None, "base_model_name_or_path": None, "r": r, "lora_alpha": alpha,
        "target_modules": sorted(paths), "rank_pattern": rank_pattern, "alpha_pattern": alpha_pattern,
        "lora_dropout": 0.0, "bias": "none", "use_rslora": False, "use_dora": False, "fan_in_fan_out": False,
        "init_lora_weights": True, "modules_to_save": None,
    }
