"""What the catalog's views hand the front ends: small documented dataclasses, no queries.

:mod:`.lookup` fills them (``lineage``, ``layer_summary``, ``details``, ``listing``), :mod:`.orm`
``counts``; the CLI prints them, or their JSON (:func:`loradex.adapters.jsonable.jsonable`) under ``--json``;
the Textual app reads
their attributes. Artifacts in them are :class:`.rows.ArtifactRow` records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loradex.adapters.model.model_lines import family_named, line_of

from .rows import ArtifactRow, CivitaiRow, PreviewRow, PublicationRow

if TYPE_CHECKING:  # what show finds; list, check and tag need none of its module
    from loradex.adapters.io.embedded_hashes import HashMismatch

__all__ = [
    "Details",
    "KindCount",
    "LayerSummary",
    "Lineage",
    "LineageInput",
    "Listed",
    "MadeBy",
    "TrainedOn",
    "UsedIn",
    "applied",
    "civitai_license",
    "civitai_page",
    "line_shown",
    "shows_only",
]


@dataclass(frozen=True)
class LineageInput:
    """One input of a recipe that made an artifact.

    Attributes:
        position: its place among the recipe's inputs.
        role: ``input`` or ``base``.
        weight: its weight in the recipe.
        sha256: the input file's sha256 as recorded.
        ref: the reference it was given by (a path or catalog ref).
        artifact: the catalogued artifact with that sha256, or None.
    """

    position: int
    role: str
    weight: float
    sha256: str | None
    ref: str | None
    artifact: ArtifactRow | None


@dataclass(frozen=True)
class MadeBy:
    """A recipe that made an artifact.

    Attributes:
        id: the recipe's row id.
        op: ``mix``, ``resize``, ``bake`` or ``extract``.
        params: the operation's parameters.
        loradex_version: the loradex that ran it.
        created_at: when it was recorded.
        inputs: its inputs in order.
    """

    id: int | None
    op: str
    params: dict[str, Any]
    loradex_version: str | None
    created_at: datetime
    inputs: list[LineageInput]


@dataclass(frozen=True)
class UsedIn:
    """A recipe that used an artifact as one of its inputs.

    Attributes:
        id: the recipe's row id.
        op: the operation.
        role: the artifact's role in it (``input`` or ``base``).
        weight: the artifact's weight in it.
        artifact: the recipe's output, or None when the output is not catalogued.
    """

    id: int | None
    op: str
    role: str
    weight: float
    artifact: ArtifactRow | None


@dataclass(frozen=True)
class Lineage:
    """Where an artifact came from and what was made from it.

    Attributes:
        made_by: the recipes that made it (oldest first).
        used_in: the recipes it is an input of.
    """

    made_by: list[MadeBy]
    used_in: list[UsedIn]

    def __json__(self) -> dict[str, Any]:
        """Artifacts appear as ``{id, name, path}`` (or None), not as whole rows."""
        made_by = [
            {**_field_values(r), "inputs": [{**_field_values(i), "artifact": _brief(i.artifact)} for i in r.inputs]}
            for r in self.made_by
        ]
        used_in = [{**_field_values(u), "artifact": _brief(u.artifact)} for u in self.used_in]
        return {"made_by": made_by, "used_in": used_in}


@dataclass(frozen=True)
class LayerSummary:
    """An artifact's layers in counts, and the first few.

    Attributes:
        layers: how many layers.
        by_component: layers per component (``unet``, ``text_encoder``, … ``unmatched``), sorted.
        by_algorithm: layers per algorithm (``lora``, ``locon``, …), sorted; empty for checkpoints.
        by_rank: layers per rank (as text; ``-`` for none), sorted; empty for checkpoints.
        first: the first stems with their canonical layer (None when unmatched).
    """

    layers: int = 0
    by_component: dict[str, int] = field(default_factory=dict)
    by_algorithm: dict[str, int] = field(default_factory=dict)
    by_rank: dict[str, int] = field(default_factory=dict)
    first: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainedOn:
    """The catalogued checkpoint an artifact was trained on: the one whose sha256 its metadata
    records (kohya's ``ss_new_sd_model_hash``, the row's ``trained_on_sha256``).

    Attributes:
        id: the checkpoint's row id.
        name: its name.
        path: its path.
        line: its model line (None when not known).
    """

    id: int
    name: str
    path: str
    line: str | None

    @property
    def label(self) -> str:
        """As the front ends show it: ``tiny-ponyDiffusionV6XL (id 26, pony)``."""
        return f"{self.name} (id {self.id}{', ' + self.line if self.line else ''})"


@dataclass(frozen=True)
class Details:
    """Everything the catalog knows about an artifact beyond its row.

    Attributes:
        tags: its tags, sorted.
        layers: its :class:`LayerSummary`.
        lineage: its :class:`Lineage`.
        previews: its preview images.
        publications: where it was published.
        trained_on: the catalogued checkpoint it was trained on, or None.
        hash_mismatches: the tensor hashes its header claims that its data does not have.
        civitai: what Civitai said of it (``loradex civitai sync``), or None when never asked.
    """

    tags: list[str]
    layers: LayerSummary
    lineage: Lineage
    previews: list[PreviewRow]
    publications: list[PublicationRow]
    trained_on: TrainedOn | None = None
    hash_mismatches: list[HashMismatch] = field(default_factory=list)
    civitai: CivitaiRow | None = None


@dataclass(frozen=True)
class Listed:
    """One row of a listing: the columns ``list`` shows (and its JSON holds), none of the metadata,
    so that a listing of 100,000 artifacts reads no JSON blob it does not print. Attributes are
    the :class:`.rows.ArtifactRow` columns of the same names (``status`` as read: see
    :func:`.paths.status_on_disk`)."""

    id: int
    name: str
    path: str
    kind: str
    format: str
    base: str
    base_override: str | None
    line: str | None
    status: str
    rank_min: int | None
    rank_max: int | None
    ranks: list[int]
    size: int
    sha256: str | None
    autov2: str | None
    autov3: str | None
    blake3: str | None
    crc32: str | None
    source: str
    sources: list[str]

    @property
    def provenance(self) -> list[str]:
        """As :attr:`.rows.ArtifactRow.provenance`."""
        return list(self.sources or []) or [self.source]


@dataclass(frozen=True)
class KindCount:
    """How many artifacts of one kind, format and (effective) base.

    Attributes:
        kind: ``lora``, ``checkpoint`` …
        format: ``kohya``, ``ldm_single_file`` …
        base: the effective base (the user's override where set).
        count: how many.
    """

    kind: str
    format: str
    base: str
    count: int


def _field_values(obj: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (``dataclasses.asdict`` would deep-copy
    the artifacts)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _brief(a: ArtifactRow | None) -> dict[str, Any] | None:
    return {"id": a.id, "name": a.name, "path": a.path} if a is not None else None


# ---------------------------------------------------------------------------------------
# What a preview shows (of a row read here, or of an ORM row: the same columns)


def _active(preview: PreviewRow) -> list[dict[str, Any]]:
    return [a for a in preview.adapters or [] if a.get("weight")]


def shows_only(preview: PreviewRow, artifact_id: int, family: str) -> bool:
    """Whether ``preview`` is a picture of this adapter alone on a base of ``family``: it was the
    only adapter applied (at a weight other than 0) and the base was of that family. An image
    whose adapters or base are not recorded is not known to be one."""
    return (
        preview.adapters is not None
        and preview.base_family == family
        and [a.get("artifact_id") for a in _active(preview)] == [artifact_id]
    )


def applied(preview: PreviewRow) -> str:
    """The adapters applied to the image as ``name:weight`` (the syntax `try` and `mix` take),
    ``base alone`` when none was, ``""`` when that is not recorded."""
    if preview.adapters is None:
        return ""
    return ", ".join(f"{a['name']}:{a['weight']:g}" for a in _active(preview)) or "base alone"


def settings(preview: PreviewRow) -> list[str]:
    """How an image was made, as the front ends say it: ``seed 3``, ``scale 0.5``, ``steps 20``,
    ``CFG 7`` (in the order of `try`'s file names), ``832x1216``, each where recorded."""
    values = (("seed", preview.seed), ("scale", preview.scale), ("steps", preview.steps), ("CFG", preview.cfg))
    size = [f"{preview.width}x{preview.height}"] if preview.width and preview.height else []
    return [f"{name} {value:g}" for name, value in values if value is not None] + size


def line_shown(artifact: Any) -> str:
    """An artifact's model line as the front ends show it: with its confidence (``pony (exact)``);
    ``none`` where evidence was found but names no line of the artifact's family (its evidence
    says why); ``""`` where none was found."""
    if artifact.line:
        return f"{artifact.line} ({artifact.line_confidence})"
    return "none" if artifact.line_evidence else ""


def civitai_page(record: CivitaiRow) -> str:
    """The version's page on the site that answered (``""`` while nothing ever matched)."""
    if not record.model_id:
        return ""
    return f"{record.site or 'https://civitai.com'}/models/{record.model_id}?modelVersionId={record.version_id}"


def civitai_base_model(name: str, family: str) -> str:
    """Civitai's base model ``name`` with the line it names, and a warning where that is another
    family than the file's layers say (``family``): uploads filed under the wrong base are common.

    >>> civitai_base_model("Pony", "sdxl"), civitai_base_model("SD 1.5", "flux")
    ('Pony (line pony)', 'SD 1.5 — but its layers are flux, not sd1')
    """
    line = line_of(name)
    said = name + (f" (line {line.value})" if line else "")
    named = family_named(name)
    if named and family not in ("", "unknown", named):
        said += f" — but its layers are {family}, not {named}"
    return said


def civitai_license(record: CivitaiRow) -> str:
    """The model's license flags in words (``no credit needed, commercial use: Image, …``), the
    flags Civitai did not say left out."""
    flags = record.license or {}
    commercial = flags.get("allowCommercialUse")
    if isinstance(commercial, list):
        commercial_text = "commercial use: " + (", ".join(map(str, commercial)) if commercial else "none")
    else:
        commercial_text = f"commercial use: {commercial}" if commercial else "no commercial use"
    words = {
        "allowNoCredit": "no credit needed" if flags.get("allowNoCredit") else "credit required",
        "allowCommercialUse": commercial_text,
        "allowDerivatives": "derivatives allowed" if flags.get("allowDerivatives") else "no derivatives",
        "allowDifferentLicense": "relicensing allowed" if flags.get("allowDifferentLicense") else "same license",
    }
    return ", ".join(text for flag, text in words.items() if flag in flags)
