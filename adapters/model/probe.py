"""probe(path) -> ArtifactInfo: what an artifact is, from its keys, shapes and header.

Probing a safetensors adapter reads the header and the alpha scalars only. The base model is
decided by evidence in the shapes (the input width of cross-attention, text-encoder widths,
SDXL's block layout), never by the metadata alone; metadata claims are kept beside the
verdict and a disagreement is reported.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from loradex.adapters.io import bounded_json
from loradex.adapters.io.opening import input_is_dir
from loradex.adapters.io.sources import WeightSource
from loradex.adapters.io.weights import open_weights

from .adapter_layers import (
    adapter_stems,
    check_factors,
    delta_shape,
    factor_rank,
    factor_shape,
    guess_component,
    layer_alpha,
    resolve_parts,
)
from .architectures import BASES, LDM_PREFIXES, TEXT_WIDTH, Architecture
from .artifact import ArtifactInfo, LayerInfo
from .base_evidence import (
    DIT_CLASSES,
    add_claims,
    base_from_keys_widths,
    base_from_width,
    dit_checkpoint_fit,
    lora_verdict,
)
from .gguf_checkpoint import as_single_file, describe_gguf
from .keys import WEIGHT_PARTS, algorithm_of, split_key
from .layermap import LayerMap, layer_map, rows_shape
from .training_metadata import fill_training_metadata

_EMBEDDING_WIDTHS = {768: "sd1", 1024: "sd2"}


def probe(path: str | Path, *, placed_on: Architecture | None = None) -> ArtifactInfo:
    """Identify an artifact file or folder.

    Args:
        path: a weights file (``.safetensors``, ``.pt``, ``.bin``, ``.ckpt``) or a diffusers /
            PEFT / ControlNet folder.
        placed_on: for an adapter, the architecture to place its layers on instead of judging
            its family (quick-test: the base it loaded, whose depth or widths may be none of the
            family's published sizes).

    Returns:
        An :class:`ArtifactInfo`. Files loradex cannot place get kind ``unknown`` with a reason.

    Raises:
        ArtifactNotFoundError: the path does not exist or a folder holds no weights.
        UnreadableFileError: the OS refuses to open it, or it is not a regular file or folder.
        CorruptFileError: the file is truncated or malformed.
        RefusedFileError: a pickle needs code execution to load.

    Example:
        >>> info = probe("my_lora.safetensors")  # doctest: +SKIP
        >>> info.kind, info.base, info.ranks  # doctest: +SKIP
        ('lora', 'sdxl', [16])
    """
    path = Path(path)
    if input_is_dir(path):
        return _probe_folder(path, placed_on)
    with open_weights(path) as src:
        info = _probe_source(path, src, placed_on)
        info.bytes_read = src.bytes_read
    return info


# ---------------------------------------------------------------------------------------
# Folders


def _read_json(path: Path) -> dict:
    try:
        data = bounded_json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _probe_folder(path: Path, placed_on: Architecture | None) -> ArtifactInfo:
    peft_parts = (
        [path]
        if (path / "adapter_config.json").exists()
        else sorted(p.parent for p in path.glob("*/adapter_config.json"))
    )
    if peft_parts:
        return _probe_peft(path, peft_parts, placed_on)
    if (path / "model_index.json").exists():
        return _probe_pipeline_folder(path)
    config = _read_json(path / "config.json")
    if "ControlNet" in str(config.get("_class_name", "")):
        with open_weights(path) as src:
            base, evidence = base_from_width(config.get("cross_attention_dim"), "config.json cross_attention_dim")
            info = ArtifactInfo(path, "controlnet", "diffusers_folder", base, evidence, safety=src.safety)
            _fill_counts(info, src)
            _fill_inventory(info, src)
        return info
    lora_files = sorted(path.glob("pytorch_lora_weights.safetensors")) or sorted(path.glob("*.safetensors"))
    if len(lora_files) == 1:
        info = probe(lora_files[0], placed_on=placed_on)
        info.path = path
        return info
    with open_weights(path) as src:  # raises ArtifactNotFoundError for a folder without weights
        info = ArtifactInfo(
            path,
            "unknown",
            "unknown",
            safety=src.safety,
            reason="folder is not a diffusers pipeline, ControlNet or PEFT adapter",
        )
        _fill_counts(info, src)
    return info


def _probe_pipeline_folder(path: Path) -> ArtifactInfo:
    unet_config = _read_json(path / "unet" / "config.json")
    dit_class = str(_read_json(path / "transformer" / "config.json").get("_class_name", ""))
    base, evidence = base_from_width(unet_config.get("cross_attention_dim"), "unet/config.json cross_attention_dim")
    if not dit_class and ((path / "text_encoder_2").exists() or unet_config.get("addition_embed_type") == "text_time"):
        base, evidence = "sdxl", ["second text encoder and text_time conditioning (SDXL)", *evidence]
    with open_weights(path) as src:
        info = ArtifactInfo(path, "checkpoint", "diffusers_folder", base, evidence, safety=src.safety)
        if family := DIT_CLASSES.get(dit_class):
            # The class names the family; the shapes name its size.
            fit = dit_checkpoint_fit({k: src.shape(k) for k in src.keys()}, (family,))
            info.base, info.base_size = family, fit[1] if fit else ""
            info.base_evidence = [
                f"transformer/config.json _class_name {dit_class} ({family})",
                *(fit[2] if fit else []),
            ]
        _fill_counts(info, src)
        _fill_inventory(info, src)
        info.components = sorted({k.split(".")[0] for k in src.keys()})
        info.bytes_read = src.bytes_read
    return info


def _probe_peft(path: Path, parts: list[Path], placed_on: Architecture | None) -> ArtifactInfo:
    """A PEFT adapter folder, or one PEFT folder per component (``unet/``, ``text_encoder/``…).

    The base is judged over all parts together: a text encoder alone cannot tell SD1 from SDXL.
    """
    opened = []
    for part in parts:
        src = open_weights(next(iter(sorted(part.glob("adapter_model.*"))), part))
        opened.append((part, None if part == path else part.name, _read_json(part / "adapter_config.json"), src))
    try:
        shapes = {
            f"{component or 'unet'}.{stem.removeprefix('base_model.model.')}": factor_shape(src, parts)
            for _, component, _, src in opened
            for stem, parts in adapter_stems(src).items()
        }
        verdict = _placed(placed_on) if placed_on else lora_verdict(shapes)
        infos = [
            _lora_info(part, src, "peft", peft=(config, component), verdict=verdict, placed_on=placed_on)
            for part, component, config, src in opened
        ]
    finally:
        for *_, src in opened:
            src.close()
    for (_, component, _, _), part_info in zip(opened, infos, strict=True):
        if component:
            # Keys as open_weights(path) spells them for the whole folder.
            for layer in part_info.layers:
                layer.keys = {k: f"{component}.{v}" for k, v in layer.keys.items()}
    info = infos[0]
    for other in infos[1:]:
        info.layers += other.layers
        info.unmatched += other.unmatched
        info.tensors += other.tensors
        info.parameters += other.parameters
        info.size += other.size
    info.path = path
    info.components = sorted({layer.component for layer in info.layers if layer.component})
    info.bytes_read = sum(src.bytes_read for *_, src in opened)
    return info


# ---------------------------------------------------------------------------------------
# Files


def _fill_counts(info: ArtifactInfo, src: WeightSource) -> None:
    info.tensors, info.parameters, info.dtype = _counts(src)
    _fill_file_facts(info, src)


def _counts(src: WeightSource) -> tuple[int, int, str | None]:
    """(tensors, parameters, the dtype most tensors are stored in)."""
    keys = src.keys()
    dtypes = Counter(src.dtype(k) for k in keys)
    return len(keys), sum(_numel(src.shape(k)) for k in keys), dtypes.most_common(1)[0][0] if dtypes else None


def _fill_file_facts(info: ArtifactInfo, src: WeightSource) -> None:
    """What a file says beyond its tensors: size, metadata, safety, training metadata."""
    info.size = sum(f.stat().st_size for f in src.files)
    info.metadata = dict(src.metadata)
    info.safety = src.safety
    fill_training_metadata(info)


def _fill_inventory(info: ArtifactInfo, src: WeightSource, strip: str = "") -> None:
    """The base-model layers a checkpoint folder or ControlNet holds (canonical → shape).

    A ControlNet's encoder copies the UNet's layers under the same names, so its inventory is
    what `check` compares with a base; its own zero convs and hint block match nothing.
    """
    if info.base not in BASES:
        return
    lm = layer_map(info.base, info.base_size)
    for key in src.keys():
        if key.endswith(".weight") and (name := lm.resolve(key.removeprefix(strip).removesuffix(".weight"))):
            info.inventory[name] = src.shape(key)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _probe_source(path: Path, src: WeightSource, placed_on: Architecture | None = None) -> ArtifactInfo:
    if src.container == "gguf":  # a denoiser alone, quantised: probed as the single file it came from
        return describe_gguf(_checkpoint_info(path, as_single_file(src)), src)
    keys = src.keys()
    meta = src.metadata
    if ti := _textual_inversion(path, src):
        return ti
    if (
        src.container == "pickle"
        and keys
        and all(k.split(".")[0].isdigit() for k in keys)
        and ("layer_structure" in meta or "activation_func" in meta)
    ):
        widths = sorted({int(k.split(".")[0]) for k in keys})
        base, evidence = base_from_width(
            max(w for w in widths if w in TEXT_WIDTH) if set(widths) & set(TEXT_WIDTH) else None,
            "hypernetwork context width",
        )
        info = ArtifactInfo(path, "hypernetwork", "a1111_hypernetwork", base, evidence)
        _fill_counts(info, src)
        return info
    if "lora_controlnet" in meta or "lora_controlnet" in keys:  # Stability's marker (a tensor in their files)
        info = ArtifactInfo(path, "control_lora", "control_lora")
        _fill_counts(info, src)
        info.base, info.base_evidence = base_from_keys_widths(src, "")
        return info
    if any(k.startswith("control_model.") for k in keys) or (
        any("input_hint_block" in k for k in keys) and any("zero_convs" in k for k in keys)
    ):
        info = ArtifactInfo(path, "controlnet", "ldm_single_file")
        _fill_counts(info, src)
        info.base, info.base_evidence = base_from_keys_widths(src, "control_model.")
        _fill_inventory(info, src, strip="control_model.")
        return info
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return _checkpoint_info(path, src)
    if any((s := split_key(k)) and s[1] in WEIGHT_PARTS for k in keys):
        return _lora_info(path, src, None, placed_on=placed_on)
    if dit := dit_checkpoint_fit({k: src.shape(k) for k in keys}):  # a bare BFL/SAI denoiser (flux1-dev.safetensors)
        return _checkpoint_info(path, src, dit)
    info = ArtifactInfo(path, "unknown", "unknown")
    _fill_counts(info, src)
    sample = ", ".join(keys[:3]) or "no tensors"
    info.reason = f"no adapter, embedding, ControlNet or checkpoint key layout recognised (first keys: {sample})"
    return info


def _textual_inversion(path: Path, src: WeightSource) -> ArtifactInfo | None:
    keys = src.keys()
    fmt = base = None
    if set(keys) >= {"clip_l", "clip_g"}:
        fmt, base, evidence = "sdxl_embedding", "sdxl", ["clip_l and clip_g vectors (SDXL's two text encoders)"]
    elif "emb_params" in keys or any(k.startswith("string_to_param.") for k in keys):
        key = "emb_params" if "emb_params" in keys else next(k for k in keys if k.startswith("string_to_param."))
        fmt = "a1111_embedding"
        base, evidence = base_from_width(src.shape(key)[-1], "embedding width", table=_EMBEDDING_WIDTHS)
    elif (
        0 < len(keys) <= 4
        and all(len(s) in (1, 2) and s[-1] in _EMBEDDING_WIDTHS for s in map(src.shape, keys))
        and not any(split_key(k) for k in keys)
    ):
        fmt = "diffusers_embedding"
        base, evidence = base_from_width(src.shape(keys[0])[-1], "embedding width", table=_EMBEDDING_WIDTHS)
    if fmt is None or base is None:  # every branch that names a format names a base
        return None
    info = ArtifactInfo(path, "textual_inversion", fmt, base, evidence)
    _fill_counts(info, src)
    tokens = [k for k in keys if fmt == "diffusers_embedding"] or [info.metadata.get("name") or path.stem]
    info.trigger_words = tokens + [t for t in info.trigger_words if t not in tokens]
    info.components = ["text_encoder", "text_encoder_2"] if base == "sdxl" else ["text_encoder"]
    return info


def _checkpoint_info(path: Path, src: WeightSource, dit: tuple[str, str, list[str]] | None = None) -> ArtifactInfo:
    """A single-file checkpoint (``dit``: the DiT its keys fit, when the caller knows already)."""
    info = ArtifactInfo(path, "checkpoint", "ldm_single_file")
    _fill_counts(info, src)
    info.base, info.base_evidence = base_from_keys_widths(src, "model.diffusion_model.")
    if any(k.startswith("conditioner.embedders.1.") for k in src.keys()):
        info.base, info.base_evidence = (
            "sdxl",
            ["OpenCLIP second text encoder (conditioner.embedders.1)", *info.base_evidence],
        )
    if info.base == "unknown" and (dit := dit or dit_checkpoint_fit({k: src.shape(k) for k in src.keys()})):
        info.base, info.base_size, info.base_evidence = dit
    add_claims(info)
    if info.base in BASES:
        lm = layer_map(info.base, info.base_size)
        keys = set(src.keys())
        for key, layers in lm.single_file_layers(keys).items():
            shape = src.shape(key)
            for layer in layers:
                info.inventory[layer.name] = (
                    tuple(reversed(shape)) if layer.ldm_transposed else rows_shape(layer.ldm_rows, shape)
                )
        vae = LDM_PREFIXES[info.base]["vae"]
        info.components = sorted(
            {lm.layers[n].component for n in info.inventory}
            | ({"vae"} if any(k.startswith(vae) for k in keys) else set())
        )
    return info


# ---------------------------------------------------------------------------------------
# Adapters


def _placed(arch: Architecture) -> tuple[str, str, list[str]]:
    return arch.base, arch.size, [f"layers placed on the given {arch.base} architecture"]


@dataclass(frozen=True)
class _AdapterLayout:
    """What an adapter's tensor names, dtypes and shapes say, alphas and metadata aside: the same
    for every file that stores the same tensors. ``stems``: stem → {part: key}, in stem order;
    ``placements``: its :class:`_Placement` on each base it was placed on (a verdict the metadata
    settles places the same tensors on the claimed base)."""

    format: str
    counts: tuple[int, int, str | None]
    verdict: tuple[str, str, list[str]]
    stems: dict[str, dict[str, str]]
    placements: dict[tuple[str, str], _Placement] = field(default_factory=dict)


@dataclass(frozen=True)
class _Placement:
    """An adapter's layers on one base. ``stems``: (stem, parts, rank, layers), each layer the
    fields of a :class:`LayerInfo` but the alpha, which is read from each file."""

    kind: str
    format: str
    stems: list[tuple[str, dict[str, str], int | None, list[tuple]]]
    unmatched: list[str]
    components: list[str]


#: Adapter layouts by their tensors' (name, dtype, shape): a library's thousands of LoRAs share a
#: few dozen, and deciding one (stems, factor checks, the base verdict, layer-map lookups) was
#: most of a small LoRA's probe. The most recently used are kept.
_LAYOUTS: OrderedDict[tuple[tuple[str, str, tuple[int, ...]], ...], _AdapterLayout] = OrderedDict()
_LAYOUTS_KEPT = 64
_LAYOUTS_LOCK = threading.Lock()


def _lora_info(
    path: Path,
    src: WeightSource,
    fmt: str | None,
    peft: tuple[dict, str | None] | None = None,
    verdict: tuple[str, str, list[str]] | None = None,
    placed_on: Architecture | None = None,
) -> ArtifactInfo:
    config, component = peft if peft else ({}, None)
    alone = fmt is None and peft is None and verdict is None and placed_on is None  # a file on its own
    layout = _cached_layout(path, src) if alone else _adapter_layout(path, src, fmt, verdict, placed_on)
    info = ArtifactInfo(path, "lora", layout.format)
    info.tensors, info.parameters, info.dtype = layout.counts
    _fill_file_facts(info, src)
    base, info.base_size, evidence = layout.verdict
    info.base, info.base_evidence = base, list(evidence)
    add_claims(info)
    placement = layout.placements.get((info.base, info.base_size)) if alone else None
    if placement is None:
        lm = layer_map(placed_on) if placed_on else layer_map(info.base, info.base_size) if info.base in BASES else None
        placement = _placement(src, layout, lm, component)
        if alone:
            layout.placements[info.base, info.base_size] = placement
    info.kind, info.format = placement.kind, placement.format
    for stem, parts, rank, layers in placement.stems:
        alpha = layer_alpha(src, parts, rank, config, stem)
        info.layers += [
            LayerInfo(stem, canonical, comp, kind, rank, alpha, shape, dtype, dict(parts), rows)
            for canonical, comp, kind, shape, dtype, rows in layers
        ]
    info.unmatched = list(placement.unmatched)
    info.components = list(placement.components)
    return info


def _cached_layout(path: Path, src: WeightSource) -> _AdapterLayout:
    key = src.layout()
    with _LAYOUTS_LOCK:
        layout = _LAYOUTS.get(key)
        if layout is not None:
            _LAYOUTS.move_to_end(key)
            return layout
    layout = _adapter_layout(path, src, None, None, None)  # raises for a file whose factors do not multiply
    with _LAYOUTS_LOCK:
        _LAYOUTS[key] = layout
        while len(_LAYOUTS) > _LAYOUTS_KEPT:
            _LAYOUTS.popitem(last=False)
    return layout


def _adapter_layout(
    path: Path,
    src: WeightSource,
    fmt: str | None,
    verdict: tuple[str, str, list[str]] | None,
    placed_on: Architecture | None,
) -> _AdapterLayout:
    """Decide an adapter's format and base from its keys and shapes (see :class:`_AdapterLayout`).

    Raises:
        CorruptFileError: a layer's factors cannot multiply.
    """
    stems = adapter_stems(src)
    if fmt is None:
        fmt = (
            "kohya"
            if any(s.startswith(("lora_unet_", "lora_te")) for s in stems)
            else "diffusers_legacy"
            if any(".processor." in s or s.endswith("_lora") for s in stems)
            else "diffusers"
        )
    for stem, parts in stems.items():
        check_factors(path, src, stem, parts)
    verdict = (
        verdict
        or (placed_on and _placed(placed_on))
        or lora_verdict({stem: factor_shape(src, parts) for stem, parts in stems.items()})
    )
    ordered = {stem: dict(sorted(parts.items())) for stem, parts in sorted(stems.items())}
    return _AdapterLayout(format=fmt, counts=_counts(src), verdict=verdict, stems=ordered)


def _placement(src: WeightSource, layout: _AdapterLayout, lm: LayerMap | None, component: str | None) -> _Placement:
    """The layout's layers on ``lm`` (None: on no base; every stem unmatched)."""
    placed: list[tuple[str, dict[str, str], int | None, list[tuple]]] = []
    unmatched = []
    for stem, parts in layout.stems.items():
        stored = factor_shape(src, parts)
        targets = resolve_parts(lm, stem, component, stored[0]) if lm else [(None, ())]
        algorithm = algorithm_of(set(parts))
        assert algorithm is not None  # adapter_stems keeps only stems with an algorithm
        # The first weight part: an alpha scalar is stored in F32 whatever the factors' dtype.
        dtype = src.dtype(next(key for part, key in parts.items() if part in WEIGHT_PARTS))
        layers = []
        for canonical, rows in targets:
            layer = lm.layers[canonical] if lm and canonical else None
            shape = rows_shape(rows, delta_shape(src, parts, layer))
            kind = "locon" if algorithm == "lora" and len(shape) == 4 and shape[2:] != (1, 1) else algorithm
            layers.append((canonical, layer.component if layer else guess_component(stem), kind, shape, dtype, rows))
        placed.append((stem, parts, factor_rank(src, parts), layers))
        if targets[0][0] is None:
            unmatched.append(stem)
    lycoris = any(
        kind in ("loha", "lokr", "dora", "full") or "lora_mid" in parts
        for _, parts, _, layers in placed
        for _, _, kind, *_ in layers
    )
    return _Placement(
        kind="lycoris" if lycoris else "lora",
        format="lycoris" if lycoris and layout.format == "kohya" else layout.format,
        stems=placed,
        unmatched=unmatched,
        components=sorted({comp for _, _, _, layers in placed for _, comp, *_ in layers if comp}),
    )


__all__ = ["probe"]
