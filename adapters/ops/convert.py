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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from loradex.adapters.errors import IncompatibleError, UnsupportedError
from loradex.adapters.io.atomic import atomic_path
from loradex.adapters.io.hashing import FileHashes
from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.artifact import ArtifactInfo
from loradex.adapters.model.probe import probe
from loradex.adapters.threads import torch_threads
from loradex.adapters.words import article, count

from .factors import LoraLayer, layer_factors, layer_tensors, open_factors, save_kohya
from .lowrank import lowrank_svd, retained_energy, split_svd
from .options import FORMATS
from .recipe import METADATA_KEY, Recipe
from .recipe_sources import stamp


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
    #: The recipe embedded in the output (``rebuild`` re-runs it).
    recipe: Recipe | None = None
    #: The output's hashes when they were computed while writing it (kohya files).
    hashes: FileHashes | None = None


@torch_threads()
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
    layers, energy = lora_layers(info, rank=rank)
    report = ConversionReport(path, out, info.format, to, len(layers), rank, energy)
    if rank is not None:
        algos = ", ".join(info.algorithms)
        report.notes.append(
            f"converted {algos} to rank-{rank} LoRA by truncated SVD; "
            f"lowest retained energy {min(energy.values(), default=1):.4f}"
        )
    recipe = stamp("convert", [(path, 1.0)], {"to": to, "rank": rank})
    report.recipe = recipe
    metadata = {**info.metadata, "loradex.converted_from": info.format, METADATA_KEY: recipe.to_json()}
    if to == "peft":
        _write_peft(layers, out, metadata, protect=[path])
    elif to == "kohya":
        report.hashes = save_kohya(out, layers, base=info.base, size=info.base_size, metadata=metadata, protect=[path])
    else:
        save_tensors(out, _diffusers_tensors(layers), metadata, protect=[path])
    return report


def lora_layers(info: ArtifactInfo, *, rank: int | None = None) -> tuple[list[LoraLayer], dict[str, float]]:
    """Every layer of a LoRA-family artifact as plain LoRA factors in the file's dtype (SVD to
    ``rank`` when given), and, with ``rank``, each layer's retained energy by stem.

    Raises:
        UnsupportedError / IncompatibleError: as :func:`convert`.
    """
    if info.kind not in ("lora", "lycoris"):
        raise UnsupportedError(f"only LoRA/LyCORIS adapters convert; this is {article(info.kind)}", path=info.path)
    if "dora" in info.algorithms:
        raise UnsupportedError(
            "DoRA layers depend on the base weights and cannot be written as plain LoRA", path=info.path
        )
    exotic = sorted(
        {
            layer.algorithm
            for layer in info.layers
            if layer.algorithm not in ("lora", "locon") or "lora_mid" in layer.keys
        }
    )
    if exotic and rank is None:
        raise UnsupportedError(
            f"{'/'.join(exotic)} layers have no exact LoRA form; pass a rank to convert them by truncated SVD",
            path=info.path,
        )
    if info.unmatched:
        raise IncompatibleError(
            f"{count(len(info.unmatched), 'layers')} without a matching {info.base} layer "
            f"(first: {info.unmatched[0]}); cannot name them in another format",
            path=info.path,
        )
    layers, energy = [], {}
    with open_factors(info) as src:
        for layer in info.layers:
            canonical = layer.canonical
            assert canonical is not None  # unmatched layers are refused above
            t = layer_tensors(src, layer)
            if rank is None:
                layers.append(LoraLayer(canonical, t["lora_up"], t["lora_down"], layer.shape, layer.scale))
                continue
            dtype = t["lora_down" if "lora_down" in t else next(iter(t))].dtype
            b, a = layer_factors(info, layer, src)
            u, s, vh = lowrank_svd(b, a)
            energy[layer.stem] = retained_energy(s, rank)
            up, down = split_svd(u, s, vh, rank)
            layers.append(LoraLayer(canonical, up.to(dtype), down.to(dtype), layer.shape))
    return layers, energy


def _diffusers_tensors(layers: list[LoraLayer]) -> dict[str, torch.Tensor]:
    """diffusers loads these files with scale 1: each layer's scale is folded into lora_B."""
    tensors = {}
    for layer in layers:
        up = layer.up if layer.scale == 1.0 else (layer.up.float() * layer.scale).to(layer.up.dtype)
        tensors[f"{layer.canonical}.lora_A.weight"] = layer.down
        tensors[f"{layer.canonical}.lora_B.weight"] = up
    return tensors


def _component(layer: LoraLayer) -> str:
    return layer.canonical.split(".", 1)[0]


def _write_peft(layers: list[LoraLayer], out: Path, metadata: dict[str, str], protect: list[Path]) -> None:
    """One PEFT adapter folder per component (top level when only the UNet is adapted)."""
    by_component: dict[str, list[LoraLayer]] = {}
    for layer in layers:
        by_component.setdefault(_component(layer), []).append(layer)
    with atomic_path(out, directory=True, protect=protect) as tmp:
        for component, group in by_component.items():
            folder = tmp if list(by_component) == ["unet"] else tmp / component
            folder.mkdir(exist_ok=True)
            tensors, config = {}, _peft_config(group, component)
            for layer in group:
                path = _module_path(layer.canonical, component)
                tensors[f"base_model.model.{path}.lora_A.weight"] = layer.down
                tensors[f"base_model.model.{path}.lora_B.weight"] = layer.up
            save_tensors(folder / "adapter_model.safetensors", tensors, {"format": "pt", **metadata})
            (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))


def _module_path(canonical: str, component: str) -> str:
    return canonical.removeprefix(component + ".")


def _peft_config(group: list[LoraLayer], component: str) -> dict:
    alphas = [layer.scale * layer.rank for layer in group]
    r = Counter(layer.rank for layer in group).most_common(1)[0][0]
    alpha = Counter(alphas).most_common(1)[0][0]
    paths = [_module_path(layer.canonical, component) for layer in group]
    # Per-module overrides keep every layer's own rank and alpha exactly.
    rank_pattern = {p: layer.rank for p, layer in zip(paths, group, strict=True) if layer.rank != r}
    alpha_pattern = {p: a for p, a in zip(paths, alphas, strict=True) if a != alpha}
    return {
        "peft_type": "LORA",
        "task_type": None,
        "base_model_name_or_path": None,
        "r": r,
        "lora_alpha": alpha,
        "target_modules": sorted(paths),
        "rank_pattern": rank_pattern,
        "alpha_pattern": alpha_pattern,
        "lora_dropout": 0.0,
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "fan_in_fan_out": False,
        "init_lora_weights": True,
        "modules_to_save": None,
    }
