"""The data probe() returns: what an artifact is, which layers it touches, and why we think so."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from loradex.adapters.vocabulary import Family, Kind

KINDS: tuple[Kind, ...] = tuple(Kind)
#: Base-model families an artifact is for.
FAMILIES: tuple[Family, ...] = tuple(Family)
#: How users spell the families (after lower-casing, dropping ".", "-", "_", " " and a "v" before a digit).
_FAMILY_SPELLINGS = {
    "sd1": ("sd1", "sd14", "sd15", "sd1x", "stablediffusion1", "stablediffusion15"),
    "sd2": ("sd2", "sd20", "sd21", "sd2x", "stablediffusion2", "stablediffusion21"),
    "sdxl": ("sdxl", "sdxl1", "sdxl10", "sdxlbase", "sdxlbase10"),
    "sd3": ("sd3", "sd35", "sd3medium", "sd35medium", "sd35large", "stablediffusion3", "stablediffusion35"),
    "flux": ("flux", "flux1", "flux1dev", "fluxdev", "flux1schnell", "flux1d", "flux1s"),
    "flux2": ("flux2", "flux2dev", "flux2klein", "flux2klein4b", "flux2klein9b"),
    "unknown": ("unknown",),
}
_FAMILY_OF = {spelling: family for family, spellings in _FAMILY_SPELLINGS.items() for spelling in spellings}


def family_of(spelling: str) -> str | None:
    """The family a user means (``sd15``, ``SD 1.5``, ``sdxl1.0`` …), or None for none.

    >>> family_of("sd1.5"), family_of("SDXL 1.0"), family_of("sd21")
    ('sd1', 'sdxl', 'sd2')
    """
    key = re.sub(r"v(?=\d)", "", re.sub(r"[.\-_ ]", "", spelling.lower()))
    return _FAMILY_OF.get(key)


_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def looks_like_hub_id(text: str) -> bool:
    """Whether ``text`` is spelled like a Hub repo id (``owner/name``) rather than a file path:
    one slash, no leading ``.``/``/``/``~``, no weights-file suffix.

    >>> looks_like_hub_id("stabilityai/stable-diffusion-xl-base-1.0"), looks_like_hub_id("loras/a.safetensors")
    (True, False)
    """
    from loradex.adapters.io.suffixes import WEIGHT_SUFFIXES

    return bool(_HUB_ID.fullmatch(text)) and Path(text).suffix.lower() not in WEIGHT_SUFFIXES


@dataclass
class LayerInfo:
    """One adapted layer of an adapter file.

    Attributes:
        stem: the layer's key stem exactly as stored in the file.
        canonical: the canonical layer name (diffusers module path with component), or None
            when no layer of the base answers to the stem.
        component: ``unet``, ``text_encoder``, ``text_encoder_2`` (None when unresolved).
        algorithm: ``lora``, ``locon`` (k×k conv LoRA), ``loha``, ``lokr``, ``dora``, ``full``.
        rank: the factor rank (None for full deltas and unfactored LoKr).
        alpha: the stored alpha (rank when the file stores none).
        shape: shape of the weight the delta applies to, (out, in[, kh, kw]).
        keys: normalised part (``lora_down``, ``alpha``, ``hada_w1_a`` …) → key in the file.
        rows: the rows of the stored factors' product that are this layer's delta, when the file
            adapts an original fused module (kohya's ``img_attn_qkv`` is diffusers' ``to_q``, ``to_k``
            and ``to_v``: three layers of one stem); empty: all of it.
    """

    stem: str
    canonical: str | None
    component: str | None
    algorithm: str
    rank: int | None
    alpha: float | None
    shape: tuple[int, ...]
    dtype: str
    keys: dict[str, str] = field(default_factory=dict)
    rows: tuple[tuple[int, int], ...] = ()

    @property
    def scale(self) -> float:
        """The factor the product of the factors is multiplied by (alpha / rank)."""
        if self.rank and self.alpha is not None:
            return self.alpha / self.rank
        return 1.0


@dataclass
class ArtifactInfo:
    """What :func:`loradex.adapters.probe` found in a file or folder.

    Attributes:
        kind: one of :data:`KINDS`.
        format: the key convention (``kohya``, ``diffusers``, ``peft``, ``diffusers_legacy``,
            ``lycoris``, ``a1111_embedding``, ``diffusers_embedding``, ``sdxl_embedding``,
            ``ldm_single_file``, ``diffusers_folder``, ``gguf`` (a quantised denoiser),
            ``control_lora``, ``a1111_hypernetwork``, ``unknown``).
        base: ``sd1``, ``sd2``, ``sdxl``, ``sd3``, ``flux``, ``flux2`` or ``unknown``.
        base_size: the family's size the shapes fit (``medium``, ``large``, ``klein-4b`` …); empty for
            a family of one size.
        base_evidence: the observations the base verdict rests on, strongest first.
        base_claims: what the metadata says (``ss_base_model_version``, ``modelspec.architecture``).
        base_conflict: a sentence when claims and evidence disagree, else None.
        layers: adapted layers (adapters only).
        inventory: canonical layer → weight shape (checkpoints and ControlNets).
        unmatched: key stems that map to no layer of the base.
        dtype: the dtype most tensors are stored in (a GGUF: its GGML types, most parameters first).
        metadata: training metadata and other header entries, verbatim.
        trigger_words: suggestions, strongest first (trigger phrase, then top training tags).
        tag_frequency: training-caption tags with their counts, most frequent first.
        reason: why the kind is ``unknown`` (None otherwise).
        bytes_read: bytes read from disk to probe (header and small tensors only for safetensors).
    """

    path: Path
    kind: str
    format: str
    base: str = "unknown"
    base_evidence: list[str] = field(default_factory=list)
    base_claims: dict[str, str] = field(default_factory=dict)
    base_conflict: str | None = None
    base_size: str = ""
    components: list[str] = field(default_factory=list)
    layers: list[LayerInfo] = field(default_factory=list)
    inventory: dict[str, tuple[int, ...]] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    dtype: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    trigger_words: list[str] = field(default_factory=list)
    tag_frequency: list[tuple[str, int]] = field(default_factory=list)
    safety: str = "safetensors"
    size: int = 0
    bytes_read: int = 0
    tensors: int = 0
    parameters: int = 0
    reason: str | None = None
    #: Properties its JSON holds beside its fields.
    json_computed: ClassVar = ("ranks", "algorithms")

    @property
    def ranks(self) -> list[int]:
        return sorted({layer.rank for layer in self.layers if layer.rank})

    @property
    def algorithms(self) -> list[str]:
        return sorted({layer.algorithm for layer in self.layers})
