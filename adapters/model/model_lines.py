"""Model lines: the named derivatives of a family. Pony, Illustrious, NoobAI, SDXL Lightning and
SDXL Hyper are SDXL; Flux.1 dev, schnell, Kontext and Krea are Flux.1. A line's weights have its
family's shapes exactly, so the tensors cannot tell lines apart: only what a file says about
itself, about the base it was trained on, and what a sidecar beside it says.

This module is that vocabulary and its rules, as data:

* :data:`LINES` -- each line with its family, its title, the tokens that name it in a model or
  file name, and the Civitai ``baseModel`` values that mean it;
* :func:`line_claims` -- what a file's metadata, its Civitai sidecar and (for a checkpoint) its
  own name say, as :class:`LineClaim` s in the order of their strength;
* :func:`judge_line` -- the verdict: the strongest claim of a line of the artifact's family, with
  every other claim kept as evidence; a claim of another family's line is ignored and said so.

The strongest rule of all -- the checkpoint the adapter was trained on, catalogued (kohya writes
its sha256 as ``ss_new_sd_model_hash``) -- needs the catalog: ``loradex.registry`` puts that
claim in front of these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loradex.adapters.vocabulary import Family

__all__ = [
    "LINES",
    "TRAINING_BASE_KEY",
    "Confidence",
    "Line",
    "LineClaim",
    "LineSpec",
    "LineVerdict",
    "judge_line",
    "line_claims",
    "line_of",
    "spec_of",
    "trained_on_sha256",
]

#: kohya's metadata key for the sha256 of the whole file it trained on (``ss_sd_model_hash`` is
#: A1111's old 8-hex hash of 64 KiB of it, too weak to name one file among thousands).
TRAINING_BASE_KEY = "ss_new_sd_model_hash"


class Line(StrEnum):
    """A named line within a family (see :data:`LINES`)."""

    PONY = "pony"
    ILLUSTRIOUS = "illustrious"
    NOOBAI = "noobai"
    LIGHTNING = "lightning"
    HYPER = "hyper"
    DEV = "dev"
    SCHNELL = "schnell"
    KONTEXT = "kontext"
    KREA = "krea"


class Confidence(StrEnum):
    """How sure a line verdict is, strongest first."""

    #: The adapter's training base is catalogued (its sha256 is ``ss_new_sd_model_hash``): the
    #: adapter's line is exactly that checkpoint's.
    EXACT = "exact"
    #: A file names the line's own release (``ponyDiffusionV6XL``, ``flux-1-schnell``).
    STRONG = "strong"
    #: A name mentions the line (a merge, a renamed file), or a sidecar's label says it.
    LIKELY = "likely"


@dataclass(frozen=True)
class LineSpec:
    """One line and what names it.

    Attributes:
        line: the line.
        family: the family its weights are (a line belongs to exactly one).
        title: how people write it.
        strong: tokens naming the line's own release, in a name lowercased down to its letters
            and digits (``ponyDiffusionV6XL_v6`` → ``ponydiffusionv6xlv6``).
        likely: tokens that name the line in the names of merges and renamed files.
        civitai: Civitai's ``baseModel`` values for it.
        parent: the line it was trained from: a name that names both names this one.
    """

    line: Line
    family: Family
    title: str
    strong: tuple[str, ...]
    likely: tuple[str, ...] = ()
    civitai: tuple[str, ...] = ()
    parent: Line | None = None


#: Every line, the more specific first: the first line a name names is the one it is taken for
#: (NoobAI before its parent Illustrious, Kontext and Krea before dev, the base lines before the
#: few-step distillations that are merged into them).
LINES: tuple[LineSpec, ...] = (
    LineSpec(Line.NOOBAI, Family.SDXL, "NoobAI", ("noobaixl",), ("noobai",), ("NoobAI",), parent=Line.ILLUSTRIOUS),
    LineSpec(Line.ILLUSTRIOUS, Family.SDXL, "Illustrious", ("illustriousxl",), ("illustrious",), ("Illustrious",)),
    LineSpec(Line.PONY, Family.SDXL, "Pony", ("ponydiffusion", "ponyxl"), ("pony",), ("Pony",)),
    LineSpec(Line.LIGHTNING, Family.SDXL, "SDXL Lightning", ("sdxllightning",), ("lightning",), ("SDXL Lightning",)),
    # Not "hyper" alone: hyperrealistic checkpoints are legion.
    LineSpec(Line.HYPER, Family.SDXL, "SDXL Hyper", ("hypersdxl", "hypersd"), (), ("SDXL Hyper",)),
    LineSpec(
        Line.KONTEXT,
        Family.FLUX,
        "Flux.1 Kontext",
        ("flux1kontext", "fluxkontext"),
        ("kontext",),
        ("Flux.1 Kontext",),
        parent=Line.DEV,
    ),
    LineSpec(Line.KREA, Family.FLUX, "Flux.1 Krea", ("flux1krea", "fluxkrea"), ("krea",), ("Flux.1 Krea",), Line.DEV),
    LineSpec(Line.SCHNELL, Family.FLUX, "Flux.1 schnell", ("flux1schnell", "fluxschnell"), ("schnell",), ("Flux.1 S",)),
    LineSpec(Line.DEV, Family.FLUX, "Flux.1 dev", ("flux1dev", "fluxdev"), (), ("Flux.1 D",)),
)
_SPECS = {spec.line: spec for spec in LINES}

#: Metadata that speaks of the base an adapter was trained on, most direct first: the training
#: file's name (kohya), a base-model field (several trainers), the architecture (kohya's
#: ``flux-1-dev/lora``). An adapter's ``modelspec.title`` is its own title, not its base's.
_ADAPTER_KEYS = ("ss_sd_model_name", "modelspec.base_model", "ss_base_model_version", "modelspec.architecture")
#: Metadata in which a checkpoint speaks of itself.
_CHECKPOINT_KEYS = ("modelspec.title", "modelspec.base_model", "modelspec.architecture")


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def spec_of(line: str) -> LineSpec:
    """The :class:`LineSpec` of a stored line value."""
    return _SPECS[Line(line)]


_SPELLINGS = {
    spelling: spec.line
    for spec in LINES
    for spelling in {_squashed(spec.line), _squashed(spec.title), *map(_squashed, spec.civitai), *spec.strong}
}


def line_of(spelling: str) -> Line | None:
    """The line a user means (``pony``, ``SDXL Lightning``, ``flux1-kontext``, ``Flux.1 D`` …), or None.

    >>> line_of("Pony"), line_of("sdxl-lightning"), line_of("Flux.1 Kontext")
    (<Line.PONY: 'pony'>, <Line.LIGHTNING: 'lightning'>, <Line.KONTEXT: 'kontext'>)
    """
    return _SPELLINGS.get(_squashed(spelling))


def family_named(spelling: str) -> str | None:
    """The family a base-model name means, a line's name included (Civitai's ``SD 1.5``, ``Pony``,
    ``Flux.1 D``, ``SDXL Lightning``), or None where it names neither (``Other``, a video model).

    >>> family_named("SD 1.5"), family_named("Pony"), family_named("Flux.1 Kontext"), family_named("Other")
    ('sd1', 'sdxl', 'flux', None)
    """
    from .artifact import family_of

    line = line_of(spelling)
    return str(spec_of(line).family) if line else family_of(spelling)


def trained_on_sha256(metadata: Mapping[str, Any]) -> str | None:
    """The sha256 of the file an adapter was trained on, as kohya records it (lowercase hex), or None."""
    value = metadata.get(TRAINING_BASE_KEY)
    if not isinstance(value, str):
        return None
    value = value.strip().lower().removeprefix("0x")
    return value if re.fullmatch(r"[0-9a-f]{64}", value) else None


@dataclass(frozen=True)
class LineClaim:
    """One piece of evidence that names a line.

    Attributes:
        line: the line it names.
        confidence: how much it weighs alone.
        evidence: what was seen, in words (``ss_sd_model_name=ponyDiffusionV6XL.safetensors names Pony``).
    """

    line: Line
    confidence: Confidence
    evidence: str


@dataclass(frozen=True)
class LineVerdict:
    """An artifact's line and why.

    Attributes:
        line: the line, or None when nothing of its family names one.
        confidence: how sure (None with no line).
        evidence: the claim taken first, then every other one (``weaker evidence for …`` where it
            names another line, ``ignored: …`` where it names a line of another family).
    """

    line: Line | None = None
    confidence: Confidence | None = None
    evidence: list[str] = field(default_factory=list)


def _named(text: str, where: str, ceiling: Confidence = Confidence.STRONG) -> LineClaim | None:
    """The claim of the first line that ``text`` names, or None. A text that also names an
    unrelated line ("ponyIllustriousMix") is taken for the first but only as likely."""
    squashed = _squashed(text)
    found = []
    for spec in LINES:
        if any(token in squashed for token in spec.strong):
            found.append((spec, Confidence.STRONG))
        elif any(token in squashed for token in spec.likely):
            found.append((spec, Confidence.LIKELY))
    if not found:
        return None
    spec, confidence = found[0]
    others = [other.title for other, _ in found[1:] if other.line != spec.parent]
    if others or ceiling == Confidence.LIKELY:
        confidence = Confidence.LIKELY
    also = f" (also names {', '.join(others)})" if others else ""
    return LineClaim(spec.line, confidence, f"{where} names {spec.title}{also}")


def line_claims(
    metadata: Mapping[str, Any],
    *,
    checkpoint: bool,
    name: str = "",
    civitai_base: str | None = None,
    civitai_source: str = ".civitai.info",
) -> list[LineClaim]:
    """What a file says about its line, strongest first: its metadata (a checkpoint's about
    itself, an adapter's about its training base), its Civitai sidecar's ``baseModel``, and a
    checkpoint's own name (a user may have renamed it: likely at best).

    Args:
        metadata: the file's metadata (``ss_*``, ``modelspec.*`` …).
        checkpoint: whether the file is a checkpoint (it names itself) or an adapter (it names
            its base).
        name: the artifact's name (its file name without the suffix); read for checkpoints only:
            an adapter named "pony" may well be a LoRA of ponies.
        civitai_base: Civitai's ``baseModel`` for it.
        civitai_source: where ``civitai_base`` was read, as the evidence names it.

    Returns:
        Claims in the order of their strength (each text names at most one line).
    """
    claims = []
    for key in _CHECKPOINT_KEYS if checkpoint else _ADAPTER_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and (claim := _named(value, f"{key}={value}")):
            claims.append(claim)
    if civitai_base and (line := _CIVITAI.get(_squashed(civitai_base))):
        claims.append(LineClaim(line, Confidence.LIKELY, f"{civitai_source} baseModel={civitai_base}"))
    if checkpoint and name and (claim := _named(name, f"the file name {name}", ceiling=Confidence.LIKELY)):
        claims.append(claim)
    return claims


_CIVITAI = {_squashed(value): spec.line for spec in LINES for value in spec.civitai}


def judge_line(family: str, claims: Sequence[LineClaim]) -> LineVerdict:
    """The line of an artifact of ``family`` from ``claims`` (strongest first).

    The first claim of a line of ``family`` decides; a claim of a line of another family is
    ignored (the shapes decide the family, and a line never contradicts it), and every claim is
    kept as evidence.
    """
    chosen = next((c for c in claims if spec_of(c.line).family == family), None)
    evidence = []
    for claim in claims:
        spec = spec_of(claim.line)
        if spec.family != family:
            known = f"the file is {family}" if family != Family.UNKNOWN else "the file's family is not known"
            evidence.append(f"ignored: {claim.evidence}, a line of {spec.family}, but {known}")
        elif chosen is None or claim is chosen or claim.line in (chosen.line, spec_of(chosen.line).parent):
            evidence.append(claim.evidence)
        else:
            evidence.append(f"weaker evidence for {spec.title}: {claim.evidence}")
    if chosen is None:
        return LineVerdict(evidence=evidence)
    evidence.insert(0, evidence.pop(list(claims).index(chosen)))
    return LineVerdict(chosen.line, chosen.confidence, evidence)
