"""probe(path) -> ArtifactInfo: what an artifact is, from its keys, shapes and header.

Probing a safetensors adapter reads the header and the alpha scalars only. The base model is
decided by evidence in the shapes (the input width of cross-attention, text-encoder widths,
SDXL's block layout), never by the metadata alone; metadata claims are kept beside the
verdict and a disagreement is reported.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loradex.adapters.errors import CorruptFileError
from loradex.adapters.io import bounded_json
from loradex.adapters.io.opening import input_is_dir
from loradex.adapters.io.sources import WeightSource
from loradex.adapters.io.weights import open_weights

from .architectures import BASES, CROSS_ATTENTION_DIM, TEXT_WIDTH
from .artifact import ArtifactInfo, LayerInfo
from .keys import WEIGHT_PARTS, algorithm_of, split_key
from .layermap import layer_map, legacy_processor_path

_EMBEDDING_WIDTHS = {768: "sd1", 1024: "sd2"}

#: Raised whenever probe's verdict on an unchanged file can change (a format it learnt to read,
#: a better base rule), so that a catalog re-probes rows an older loradex described.
#: 2: LDM ``.ckpt`` checkpoints with their weights under ``state_dict``.
PROBE_VERSION = 2


def probe(path: str | Path) -> ArtifactInfo:
    """Identify an artifact file or folder.

    Args:
        path: a weights file (``.safetensors``, ``.pt``, ``.bin``, ``.ckpt``) or a diffusers /
            PEFT / ControlNet folder.

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
        return _probe_folder(path)
    with open_weights(path) as src:
        info = _probe_source(path, src)
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


def _probe_folder(path: Path) -> ArtifactInfo:
    peft_parts = (
        [path]
        if (path / "adapter_config.json").exists()
        else sorted(p.parent for p in path.glob("*/adapter_config.json"))
    )
    if peft_parts:
        return _probe_peft(path, peft_parts)
    if (path / "model_index.json").exists():
        return _probe_pipeline_folder(path)
    config = _read_json(path / "config.json")
    if "ControlNet" in str(config.get("_class_name", "")):
        with open_weights(path) as src:
            base, evidence = _base_from_width(config.get("cross_attention_dim"), "config.json cross_attention_dim")
            info = ArtifactInfo(path, "controlnet", "diffusers_folder", base, evidence, safety=src.safety)
            _fill_counts(info, src)
            _fill_inventory(info, src)
        return info
    lora_files = sorted(path.glob("pytorch_lora_weights.safetensors")) or sorted(path.glob("*.safetensors"))
    if len(lora_files) == 1:
        info = probe(lora_files[0])
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
    base, evidence = _base_from_width(unet_config.get("cross_attention_dim"), "unet/config.json cross_attention_dim")
    if (path / "text_encoder_2").exists() or unet_config.get("addition_embed_type") == "text_time":
        base, evidence = "sdxl", ["second text encoder and text_time conditioning (SDXL)", *evidence]
    with open_weights(path) as src:
        info = ArtifactInfo(path, "checkpoint", "diffusers_folder", base, evidence, safety=src.safety)
        _fill_counts(info, src)
        _fill_inventory(info, src)
        info.components = sorted({k.split(".")[0] for k in src.keys()})
        info.bytes_read = src.bytes_read
    return info


def _probe_peft(path: Path, parts: list[Path]) -> ArtifactInfo:
    """A PEFT adapter folder, or one PEFT folder per component (``unet/``, ``text_encoder/``…).

    The base is judged over all parts together: a text encoder alone cannot tell SD1 from SDXL.
    """
    opened = []
    for part in parts:
        src = open_weights(next(iter(sorted(part.glob("adapter_model.*"))), part))
        opened.append((part, None if part == path else part.name, _read_json(part / "adapter_config.json"), src))
    try:
        widths = {
            f"{component or 'unet'}.{stem.removeprefix('base_model.model.')}": _factor_shape(src, parts)[1]
            for _, component, _, src in opened
            for stem, parts in _adapter_stems(src).items()
        }
        verdict = _base_from_lora_stems(widths)
        infos = [
            _lora_info(part, src, "peft", peft=(config, component), verdict=verdict)
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
    keys = src.keys()
    info.tensors = len(keys)
    info.parameters = sum(_numel(src.shape(k)) for k in keys)
    dtypes = Counter(src.dtype(k) for k in keys)
    info.dtype = dtypes.most_common(1)[0][0] if dtypes else None
    info.size = sum(f.stat().st_size for f in src.files)
    info.metadata = dict(src.metadata)
    info.safety = src.safety
    _fill_training_metadata(info)


def _fill_inventory(info: ArtifactInfo, src: WeightSource, strip: str = "") -> None:
    """The base-model layers a checkpoint folder or ControlNet holds (canonical → shape).

    A ControlNet's encoder copies the UNet's layers under the same names, so its inventory is
    what `check` compares with a base; its own zero convs and hint block match nothing.
    """
    if info.base not in BASES:
        return
    lm = layer_map(info.base)
    for key in src.keys():
        if key.endswith(".weight") and (name := lm.resolve(key.removeprefix(strip).removesuffix(".weight"))):
            info.inventory[name] = src.shape(key)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _probe_source(path: Path, src: WeightSource) -> ArtifactInfo:
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
        base, evidence = _base_from_width(
            max(w for w in widths if w in TEXT_WIDTH) if set(widths) & set(TEXT_WIDTH) else None,
            "hypernetwork context width",
        )
        info = ArtifactInfo(path, "hypernetwork", "a1111_hypernetwork", base, evidence)
        _fill_counts(info, src)
        return info
    if "lora_controlnet" in meta or "lora_controlnet" in keys:  # Stability's marker (a tensor in their files)
        info = ArtifactInfo(path, "control_lora", "control_lora")
        _fill_counts(info, src)
        info.base, info.base_evidence = _base_from_keys_widths(src, "")
        return info
    if any(k.startswith("control_model.") for k in keys) or (
        any("input_hint_block" in k for k in keys) and any("zero_convs" in k for k in keys)
    ):
        info = ArtifactInfo(path, "controlnet", "ldm_single_file")
        _fill_counts(info, src)
        info.base, info.base_evidence = _base_from_keys_widths(src, "control_model.")
        _fill_inventory(info, src, strip="control_model.")
        return info
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return _checkpoint_info(path, src)
    if any((s := split_key(k)) and s[1] in WEIGHT_PARTS for k in keys):
        return _lora_info(path, src, None)
    info = ArtifactInfo(path, "unknown", "unknown")
    _fill_counts(info, src)
    sample = ", ".join(keys[:3]) or "no tensors"
    info.reason = f"no adapter, embedding, ControlNet or checkpoint key layout recognised (first keys: {sample})"
    return info


def _textual_inversion(path: Path, src: WeightSource) -> ArtifactInfo | None:
    keys = src.keys()
    shapes = {k: src.shape(k) for k in keys}
    fmt = base = None
    if set(keys) >= {"clip_l", "clip_g"}:
        fmt, base, evidence = "sdxl_embedding", "sdxl", ["clip_l and clip_g vectors (SDXL's two text encoders)"]
    elif "emb_params" in keys or any(k.startswith("string_to_param.") for k in keys):
        key = "emb_params" if "emb_params" in keys else next(k for k in keys if k.startswith("string_to_param."))
        fmt = "a1111_embedding"
        base, evidence = _base_from_width(shapes[key][-1], "embedding width", table=_EMBEDDING_WIDTHS)
    elif (
        0 < len(keys) <= 4
        and all(len(s) in (1, 2) and s[-1] in _EMBEDDING_WIDTHS for s in shapes.values())
        and not any(split_key(k) for k in keys)
    ):
        fmt = "diffusers_embedding"
        base, evidence = _base_from_width(next(iter(shapes.values()))[-1], "embedding width", table=_EMBEDDING_WIDTHS)
    if fmt is None or base is None:  # every branch that names a format names a base
        return None
    info = ArtifactInfo(path, "textual_inversion", fmt, base, evidence)
    _fill_counts(info, src)
    tokens = [k for k in keys if fmt == "diffusers_embedding"] or [info.metadata.get("name") or path.stem]
    info.trigger_words = tokens + [t for t in info.trigger_words if t not in tokens]
    info.components = ["text_encoder", "text_encoder_2"] if base == "sdxl" else ["text_encoder"]
    return info


def _checkpoint_info(path: Path, src: WeightSource) -> ArtifactInfo:
    info = ArtifactInfo(path, "checkpoint", "ldm_single_file")
    _fill_counts(info, src)
    info.base, info.base_evidence = _base_from_keys_widths(src, "model.diffusion_model.")
    if any(k.startswith("conditioner.embedders.1.") for k in src.keys()):
        info.base, info.base_evidence = (
            "sdxl",
            ["OpenCLIP second text encoder (conditioner.embedders.1)", *info.base_evidence],
        )
    _add_claims(info)
    if info.base in BASES:
        lm = layer_map(info.base)
        keys = set(src.keys())
        for key, layers in lm.by_ldm_key().items():
            if key in keys:
                shape = src.shape(key)
                for layer in layers:
                    rows = layer.ldm_rows
                    info.inventory[layer.name] = (
                        (rows[1] - rows[0], *shape[1:])
                        if rows
                        else tuple(reversed(shape))
                        if layer.ldm_transposed
                        else shape
                    )
        info.components = sorted(
            {lm.layers[n].component for n in info.inventory}
            | ({"vae"} if any(k.startswith("first_stage_model.") for k in keys) else set())
        )
    return info


# ---------------------------------------------------------------------------------------
# Adapters


def _adapter_stems(src: WeightSource) -> dict[str, dict[str, str]]:
    """Layer stem → {normalised part: key} for every stem that spells an adapter algorithm."""
    groups: dict[str, dict[str, str]] = {}
    for key in src.keys():
        if split := split_key(key):
            groups.setdefault(split[0], {})[split[1]] = key
    return {stem: parts for stem, parts in groups.items() if algorithm_of(set(parts))}


def _lora_info(
    path: Path,
    src: WeightSource,
    fmt: str | None,
    peft: tuple[dict, str | None] | None = None,
    verdict: tuple[str, list[str]] | None = None,
) -> ArtifactInfo:
    stems = _adapter_stems(src)
    if fmt is None:
        fmt = (
            "kohya"
            if any(s.startswith(("lora_unet_", "lora_te")) for s in stems)
            else "diffusers_legacy"
            if any(".processor." in s or s.endswith("_lora") for s in stems)
            else "diffusers"
        )
    info = ArtifactInfo(path, "lora", fmt)
    _fill_counts(info, src)
    for stem, parts in stems.items():
        _check_factors(path, src, stem, parts)

    info.base, info.base_evidence = verdict or _base_from_lora_stems(
        {stem: _factor_shape(src, parts)[1] for stem, parts in stems.items()}
    )
    _add_claims(info)
    lm = layer_map(info.base) if info.base in BASES else None
    config, component = peft if peft else ({}, None)

    for stem, parts in sorted(stems.items()):
        canonical = _resolve(lm, stem, component) if lm else None
        layer = lm.layers[canonical] if lm and canonical else None
        algorithm = algorithm_of(set(parts))
        assert algorithm is not None  # _adapter_stems keeps only stems with an algorithm
        rank = _rank(src, parts)
        shape = _delta_shape(src, parts, layer)
        if algorithm == "lora" and len(shape) == 4 and shape[2:] != (1, 1):
            algorithm = "locon"
        alpha = _alpha(src, parts, rank, config, stem)
        info.layers.append(
            LayerInfo(
                stem,
                canonical,
                layer.component if layer else _guess_component(stem),
                algorithm,
                rank,
                alpha,
                shape,
                src.dtype(next(iter(parts.values()))),
                dict(sorted(parts.items())),
            )
        )
        if canonical is None:
            info.unmatched.append(stem)
    if any(layer.algorithm in ("loha", "lokr", "dora", "full") or "lora_mid" in layer.keys for layer in info.layers):
        info.kind = "lycoris"
        if fmt == "kohya":
            info.format = "lycoris"
    info.components = sorted({layer.component for layer in info.layers if layer.component})
    return info


def _resolve(lm, stem: str, component: str | None) -> str | None:
    stem = stem.removeprefix("base_model.model.")
    if component:
        return lm.resolve(f"{component}.{stem}")
    return lm.resolve(stem) or lm.resolve(f"text_encoder.{stem}")


def _guess_component(stem: str) -> str | None:
    for marker, component in (
        ("te2", "text_encoder_2"),
        ("text_encoder_2", "text_encoder_2"),
        ("te", "text_encoder"),
        ("text_encoder", "text_encoder"),
        ("unet", "unet"),
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


def _check_factors(path: Path, src: WeightSource, stem: str, parts: dict[str, str]) -> None:
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


def _rank(src: WeightSource, parts: dict[str, str]) -> int | None:
    if "lora_down" in parts:
        return src.shape(parts["lora_down"])[0]
    if "hada_w1_b" in parts:
        return src.shape(parts["hada_w1_b"])[0]
    for part in ("lokr_w2_b", "lokr_w1_b"):
        if part in parts:
            return src.shape(parts[part])[0]
    return None


def _delta_shape(src: WeightSource, parts: dict[str, str], layer) -> tuple[int, ...]:
    """Shape of the weight the delta applies to, from the file's own tensors (the base's layer
    only lends the kernel size that LoHa/LoKr factors flatten away)."""
    shape = _factor_shape(src, parts)
    if layer is not None and len(layer.shape) == 4 and len(shape) == 2:
        kh, kw = layer.shape[2:]
        if shape[1] % (kh * kw) == 0:
            return (shape[0], shape[1] // (kh * kw), kh, kw)
    return shape


def _factor_shape(src: WeightSource, parts: dict[str, str]) -> tuple[int, ...]:
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


def _alpha(src: WeightSource, parts: dict[str, str], rank: int | None, config: dict, stem: str) -> float | None:
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


# ---------------------------------------------------------------------------------------
# Base evidence


def _base_from_width(
    width: int | None, what: str, table: dict[int, str] = CROSS_ATTENTION_DIM
) -> tuple[str, list[str]]:
    if width in table:
        return table[width], [f"{what} {width} ({table[width]})"]
    return "unknown", []


def _base_from_keys_widths(src: WeightSource, prefix: str) -> tuple[str, list[str]]:
    for key in src.keys():
        if key.startswith(prefix) and re.search(r"attn2\.to_k\.(weight|down|up)$", key):
            width = src.shape(key)[1] if not key.endswith(".up") else None
            if width in CROSS_ATTENTION_DIM:
                return _base_from_width(width, f"cross-attention input width of {key}:")
    if any("label_emb" in k for k in src.keys()):
        return "sdxl", ["label_emb (SDXL's size/crop conditioning)"]
    return "unknown", []


def _base_from_lora_stems(widths: Mapping[str, int | None]) -> tuple[str, list[str]]:
    """Vote on the base from what each adapted layer's shape and name says."""
    votes: Counter[str] = Counter()
    seen: dict[tuple[str, str], list[str]] = {}  # (base, observation) → stems showing it
    strength: dict[str, int] = {}

    def vote(base: str, weight: int, observation: str, stem: str = "") -> None:
        votes[base] += weight
        seen.setdefault((base, observation), []).append(stem)
        strength[observation] = weight

    te2 = any(s.startswith(("lora_te2_", "text_encoder_2.")) for s in widths)
    for stem, width in widths.items():
        s = legacy_processor_path(stem).replace(".", "_")
        if re.search(r"attn2_(to_k|to_v)$", s) and width in CROSS_ATTENTION_DIM:
            vote(CROSS_ATTENTION_DIM[width], 100, f"cross-attention input width {width}", stem)
        elif re.search(r"self_attn_(q|k|v)_proj$", s) and width in TEXT_WIDTH:
            vote("sdxl" if te2 else TEXT_WIDTH[width], 10, f"text-encoder width {width}", stem)
        elif re.search(r"(double_blocks|single_blocks|single_transformer_blocks)", s):
            vote("flux", 50, "Flux block names", stem)
        elif re.search(r"attn_add_q_proj|context_block", s):
            vote("sd3", 50, "SD3 joint-attention names", stem)
        if re.match(r"lora_unet_(input_blocks|middle_block|output_blocks)_", s):
            vote("sdxl", 1, "SGM block names (kohya trains SDXL on the SGM UNet)", stem)
        if (m := re.search(r"transformer_blocks_(\d+)_", s)) and int(m[1]) >= 2:
            vote("sdxl", 1, "transformer blocks deeper than 1 (only SDXL has them)", stem)
    if te2:
        vote("sdxl", 20, "layers of a second text encoder (te2)")
    if not votes:
        return "unknown", []
    base = votes.most_common(1)[0][0]

    def describe(observation: str, stems: list[str]) -> str:
        stems = [s for s in stems if s]
        return f"{observation} ({len(stems)} layers, e.g. {stems[0]})" if stems else observation

    ours = sorted(((obs, stems) for (b, obs), stems in seen.items() if b == base), key=lambda o: -strength[o[0]])
    found = [describe(obs, stems) for obs, stems in ours]
    others = sorted({b for b, _ in seen} - {base})
    if others:
        found.append(
            "weaker evidence for "
            + ", ".join(next(f"{b}: {describe(obs, st)}" for (bb, obs), st in seen.items() if bb == b) for b in others)
        )
    return base, found


_CLAIMS = (
    ("ss_base_model_version", (("sdxl", "sdxl"), ("sd_v1", "sd1"), ("sd_v2", "sd2"), ("sd3", "sd3"), ("flux", "flux"))),
    (
        "modelspec.architecture",
        (
            ("stable-diffusion-xl", "sdxl"),
            ("stable-diffusion-v1", "sd1"),
            ("stable-diffusion-v2", "sd2"),
            ("stable-diffusion-3", "sd3"),
            ("flux", "flux"),
        ),
    ),
)


def _add_claims(info: ArtifactInfo) -> None:
    for key, table in _CLAIMS:
        value = info.metadata.get(key)
        if not value:
            continue
        claimed = next((base for prefix, base in table if value.lower().startswith(prefix)), "unknown")
        info.base_claims[key] = value
        if info.base == "unknown" and claimed != "unknown":
            info.base, info.base_evidence = claimed, [f"only the metadata claim {key}={value}"]
        elif claimed != info.base and info.base_conflict is None:
            info.base_conflict = f"metadata claims {key}={value} ({claimed}) but the tensor shapes say {info.base}"


def _fill_training_metadata(info: ArtifactInfo) -> None:
    meta = info.metadata
    words = [w.strip() for w in meta.get("modelspec.trigger_phrase", "").split(",") if w.strip()]
    counts = tag_counts(meta)
    info.tag_frequency = counts.most_common()
    info.trigger_words = words + [t for t, _ in counts.most_common(10) if t not in words]


def tag_counts(metadata: Mapping[str, Any]) -> Counter[str]:
    """Tag → count over every dataset folder of kohya's ``ss_tag_frequency``; empty if absent or
    unreadable (a malformed tag table is not worth refusing a file for), parsed within bounds."""
    raw = metadata.get("ss_tag_frequency")
    try:
        folders = bounded_json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return Counter()
    counts: Counter[str] = Counter()
    for tags in folders.values() if isinstance(folders, dict) else ():
        for tag, n in tags.items() if isinstance(tags, dict) else ():
            if isinstance(n, (int, float)) and math.isfinite(n):
                counts[tag.strip()] += int(n)
    return counts


__all__ = ["probe", "tag_counts"]
