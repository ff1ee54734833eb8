"""The base a file was made for, from evidence in its shapes and names (cross-attention and
text-encoder widths, block names), and the metadata's claims kept beside that verdict."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from loradex.adapters.io.sources import WeightSource

from .architectures import CROSS_ATTENTION_DIM, DIT_BASES, FAMILY_SIZES, TEXT_WIDTH
from .artifact import ArtifactInfo
from .layermap import Layer, LayerMap, layer_map, legacy_processor_path, rows_shape


def dit_fit(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, str, list[str]] | None:
    """``(family, size, evidence)`` of the DiT whose denoiser layers the stems name with their shapes,
    or None when no stem names a DiT denoiser layer (then the UNet families' evidence decides).

    Every size of every DiT family is tried against its layer map: a stem counts when it resolves
    and its delta has the layer's shape (a fused module's: its in-width and no more rows than the
    module). The size explaining most stems wins; on a tie the family listed first does.

    A model of unpublished widths (a tiny test model, a pruned or distilled one) fits no size by
    shape: when nine in ten of its stems name one family's denoiser or text-encoder layers, that
    family is the verdict, with no size.
    """
    from .adapter_layers import resolve_parts

    best: tuple[int, int, LayerMap, list[str]] | None = None
    best_named: tuple[int, LayerMap, str] | None = None
    for base in DIT_BASES:
        for arch in FAMILY_SIZES[base]:
            lm = layer_map(arch)
            fits: list[str] = []
            denoiser = 0
            named: list[str] = []
            for stem, shape in shapes.items():
                parts = resolve_parts(lm, stem, None, shape[0])
                names = [name for name, _ in parts if name]
                if names and lm.layers[names[0]].component == "transformer":
                    named.insert(0, stem)
                elif names:
                    named.append(stem)
                if (
                    names
                    and all(
                        rows_shape(rows, lm.layers[name].shape)[1:2] == tuple(shape[1:2])
                        for name, rows in parts
                        if name
                    )
                    and (len(parts) > 1 or lm.layers[names[0]].shape[:2] == tuple(shape[:2]))
                ):
                    on_denoiser = lm.layers[names[0]].component == "transformer"
                    fits.insert(denoiser if on_denoiser else len(fits), stem)  # denoiser layers first, as examples
                    denoiser += on_denoiser
            if denoiser and (best is None or len(fits) > best[0]):
                best = (len(fits), denoiser, lm, fits)
            if named and (best_named is None or len(named) > best_named[0]):
                best_named = (len(named), lm, named[0])
    if best is None and best_named and 10 * best_named[0] >= 9 * len(shapes):
        count, lm, example = best_named
        return (
            lm.base,
            "",
            [f"{count} of {len(shapes)} layers name {lm.base} layers, at widths of no published size (e.g. {example})"],
        )
    if best is None:
        return None
    count, _, lm, fits = best
    size = f" {lm.size}" if lm.size else ""
    return lm.base, lm.size, [f"{count} of {len(shapes)} layers fit {lm.base}{size} by name and shape (e.g. {fits[0]})"]


#: A diffusers folder's ``transformer/config.json`` ``_class_name`` → its family.
DIT_CLASSES = {sizes[0].denoiser_class: base for base, sizes in FAMILY_SIZES.items() if base in DIT_BASES}


def dit_checkpoint_fit(
    shapes: Mapping[str, tuple[int, ...]], families: Sequence[str] = DIT_BASES
) -> tuple[str, str, list[str]] | None:
    """``(family, size, evidence)`` of the DiT whose denoiser a checkpoint stores, from its stored
    keys and shapes (the checkpoint counterpart of :func:`dit_fit`), or None when no stored weight
    is a DiT denoiser's.

    Keys may be a single file's, bare (BFL's ``double_blocks.0.img_attn.qkv.weight``, SAI's
    ``joint_blocks.0.x_block.attn.qkv.weight``) or under ComfyUI's ``model.diffusion_model.``, or a
    diffusers folder's (``transformer.transformer_blocks.0.attn.to_q.weight``). Every size of
    ``families`` is tried: a key counts when it holds denoiser layers of that size's map with the
    shape stored there (a fused weight: all its parts' rows). The size with most such keys wins,
    the family listed first on a tie; text-encoder weights are left out (CLIP-L is in several).
    """
    keys = set(shapes)
    best: tuple[int, int, LayerMap, str] | None = None
    most_named = 0
    for base in families:
        for arch in FAMILY_SIZES[base]:
            lm = layer_map(arch)
            held = lm.single_file_layers(keys) | {
                k: [lm.layers[k[:-7]]] for k in keys if k.endswith(".weight") and k[:-7] in lm.layers
            }
            named = {key: layers for key, layers in held.items() if layers[0].component == "transformer"}
            fits = sorted(key for key, layers in named.items() if _stored_shape(layers, key) == tuple(shapes[key]))
            most_named = max(most_named, len(named))
            if fits and (best is None or len(fits) > best[0]):
                best = (len(fits), len(named), lm, fits[0])
    # A few shapes that happen to agree (SD3 Medium's final modulation is Flux.1's at half width)
    # say nothing when most of the names are another family's at other widths.
    if best is None or 2 * best[0] < most_named:
        return None
    count, named_count, lm, example = best
    size = f" {lm.size}" if lm.size else ""
    return (
        lm.base,
        lm.size,
        [f"{count} of {named_count} denoiser weights fit {lm.base}{size} by name and shape (e.g. {example})"],
    )


def _stored_shape(layers: list[Layer], key: str) -> tuple[int, ...]:
    """The shape of the stored weight ``key`` holding ``layers``: a diffusers folder stores a layer
    as it is, a single file the whole of a fused weight (every part's rows) or a transposed one."""
    layer = layers[0]
    if key == layer.name + ".weight":
        return layer.shape
    if layer.ldm_transposed:
        return tuple(reversed(layer.shape))
    return (max((b for part in layers for _, b in part.ldm_rows), default=layer.shape[0]), *layer.shape[1:])


def base_from_width(width: int | None, what: str, table: dict[int, str] = CROSS_ATTENTION_DIM) -> tuple[str, list[str]]:
    if width in table:
        return table[width], [f"{what} {width} ({table[width]})"]
    return "unknown", []


def base_from_keys_widths(src: WeightSource, prefix: str) -> tuple[str, list[str]]:
    for key in src.keys():
        if key.startswith(prefix) and re.search(r"attn2\.to_k\.(weight|down|up)$", key):
            width = src.shape(key)[1] if not key.endswith(".up") else None
            if width in CROSS_ATTENTION_DIM:
                return base_from_width(width, f"cross-attention input width of {key}:")
    if any("label_emb" in k for k in src.keys()):
        return "sdxl", ["label_emb (SDXL's size/crop conditioning)"]
    return "unknown", []


def base_from_lora_stems(widths: Mapping[str, int | None]) -> tuple[str, list[str]]:
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
    (
        "ss_base_model_version",
        (("sdxl", "sdxl"), ("sd_v1", "sd1"), ("sd_v2", "sd2"), ("sd3", "sd3"), ("flux2", "flux2"), ("flux", "flux")),
    ),
    (
        "modelspec.architecture",
        (
            ("stable-diffusion-xl", "sdxl"),
            ("stable-diffusion-v1", "sd1"),
            ("stable-diffusion-v2", "sd2"),
            ("stable-diffusion-3", "sd3"),
            ("flux-2", "flux2"),
            ("flux.2", "flux2"),
            ("flux", "flux"),
        ),
    ),
    (
        # A GGUF's own claim, as city96's ComfyUI-GGUF converter writes it (its arch names).
        "general.architecture",
        (("sdxl", "sdxl"), ("sd1", "sd1"), ("sd2", "sd2"), ("sd3", "sd3"), ("flux2", "flux2"), ("flux", "flux")),
    ),
)


def add_claims(info: ArtifactInfo) -> None:
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


#: Names only a DiT's modules have, in any producer's spelling: a file none of whose stems has one
#: is judged by the UNet families' evidence without loading a DiT layer map.
_DIT_NAMES = re.compile(
    r"double_blocks|single_blocks|joint_blocks|single_transformer_blocks|stream_modulation|final_layer|"
    r"img_in|txt_in|x_embedder|context_embedder|time_text_embed|time_guidance_embed|"
    r"^(?:transformer\.|lora_transformer_|lycoris_transformer_|transformer_blocks\.|diffusion_model\.)"
)


def lora_verdict(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, str, list[str]]:
    """``(family, size, evidence)`` of an adapter from its stems and their delta shapes: a DiT when
    its stems name DiT denoiser layers (:func:`dit_fit`), else the UNet families' vote."""
    looks_dit = any(_DIT_NAMES.search(stem.removeprefix("base_model.model.")) for stem in shapes)
    if looks_dit and (fit := dit_fit(shapes)):
        return fit
    base, evidence = base_from_lora_stems(
        {stem: shape[1] if len(shape) > 1 else None for stem, shape in shapes.items()}
    )
    return base, "", evidence
