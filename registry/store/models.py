"""Catalog tables (SQLModel). Tables only: queries live in :mod:`loradex.registry.queries`, schema changes
in ``migrations/versions``.

JSON columns hold lists and small dicts that are shown, not filtered on; everything a query
filters or sorts by is a real column with an index. Paths are :class:`.paths.CatalogPath`
columns (relative to a catalog file's folder when under it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .columns import CatalogPath, watch_files


def utcnow() -> datetime:
    return datetime.now(UTC)


class ScanRoot(SQLModel, table=True):
    __tablename__ = "scan_root"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(sa_column=Column(CatalogPath(4096), unique=True, nullable=False))
    added_at: datetime = Field(default_factory=utcnow)
    last_scan_at: datetime | None = None


class LayerSet(SQLModel, table=True):
    """A distinct set of (canonical layer, shape): many adapters share one (every kohya SD1.5
    LoRA with the same targets), so compatibility is computed per layer set, not per file."""

    __tablename__ = "layer_set"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    size: int = 0


class LayerSetLayer(SQLModel, table=True):
    __tablename__ = "layer_set_layer"
    __table_args__ = (UniqueConstraint("layer_set_id", "canonical"),)

    id: int | None = Field(default=None, primary_key=True)
    layer_set_id: int = Field(
        sa_column=Column(Integer, ForeignKey("layer_set.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    canonical: str = Field(sa_column=Column(String(512), nullable=False, index=True))
    shape: str = Field(sa_column=Column(String(64), nullable=False))  # "320x4x3x3"


#: What the app's table filters, sorts and counts by, answered from an index without reading the
#: rows (kilobytes each with their training metadata): migration 0012.
BROWSE_COLUMNS = (
    "kind",
    "base",
    "base_override",
    "line",
    "status",
    "rank_min",
    "rank_max",
    "size",
    "created_at",
    "name",
)


class Artifact(SQLModel, table=True):
    __table_args__ = (
        Index("ix_artifact_browse", *BROWSE_COLUMNS),
        #: The same columns keyed by id, for the rows a text filter finds in the trigram index
        #: (which the models cannot declare: an FTS5 table, a pg_trgm index): migration 0013.
        Index("ix_artifact_browse_by_id", "id", *BROWSE_COLUMNS),
    )

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(sa_column=Column(CatalogPath(4096), unique=True, nullable=False))
    name: str = Field(index=True)
    kind: str = Field(index=True)
    format: str = Field(index=True)
    base: str = Field(index=True)
    base_override: str | None = None
    base_evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    base_claims: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    base_conflict: str | None = None
    #: The family's size the shapes fit (``medium``, ``large``, ``klein-4b`` …); None for a family of one size.
    base_size: str | None = None
    #: The model line within the family (``pony``, ``illustrious``, ``kontext`` … of
    #: ``loradex.adapters.model.model_lines.Line``), None when nothing of the family names one.
    line: str | None = Field(default=None, index=True)
    line_confidence: str | None = None
    #: Why: the deciding claim first, then the others; None on rows scanned before lines were kept.
    line_evidence: list[str] | None = Field(default=None, sa_column=Column(JSON))
    #: The sha256 of the checkpoint the file was trained on, as its metadata records it (kohya's
    #: ``ss_new_sd_model_hash``): the catalogued checkpoint with that sha256 gives its line.
    trained_on_sha256: str | None = Field(default=None, index=True)
    is_dir: bool = False
    #: Bytes, and below parameters: 64-bit (a Flux.1 all-in-one file holds 12 billion parameters in 24 GB).
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    mtime: float = 0.0
    sha256: str | None = Field(default=None, index=True)
    autov2: str | None = Field(default=None, index=True)
    tensor_hash: str | None = Field(default=None, index=True)
    model_hash: str | None = None
    #: Civitai's AutoV3: the first 12 hex digits of ``tensor_hash``, for safetensors files only.
    autov3: str | None = Field(default=None, index=True)
    #: BLAKE3 and CRC-32 (8 hex digits) of the file; None on a row hashed before they were kept,
    #: until the next scan reads the file again (it does for such rows, changed or not).
    blake3: str | None = Field(default=None, index=True)
    crc32: str | None = Field(default=None, index=True)
    safety: str = "safetensors"
    status: str = Field(default="ok", index=True)
    error: str | None = None
    dtype: str | None = None
    rank_min: int | None = Field(default=None, index=True)
    rank_max: int | None = Field(default=None, index=True)
    ranks: list[int] = Field(default_factory=list, sa_column=Column(JSON))
    algorithms: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    components: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    layer_count: int = 0
    parameters: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    unmatched: int = 0
    layer_set_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("layer_set.id", ondelete="SET NULL"), index=True)
    )
    trigger_words: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    #: Lowercased name + trigger words + training-metadata text, for substring search.
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    training_metadata: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    # The user's own data: never overwritten by a scan.
    notes: str = ""
    preferred_weight: float | None = None
    rating: int | None = None
    activation_text: str | None = None
    sidecar: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    #: The names and mtimes of the sidecars when they were last read (discovery's signature): a
    #: scan reads them again when it changes. None: never read (a row from before revision 0011).
    sidecar_seen: str | None = Field(default=None, sa_column=Column(Text))
    #: The first provenance: "local" (found by a scan), or ``hub:OWNER/NAME@COMMIT`` once pulled.
    source: str = "local"
    #: Every provenance the row was given, in order (a file pulled from two repos has both).
    sources: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    scanned_at: datetime | None = None
    #: ``loradex.adapters.model.probe_version.PROBE_VERSION`` of the probe that filled the row (0: before
    #: versions were kept); a rescan re-probes older rows even when the file is unchanged.
    probed_with: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    hashed_at: datetime | None = None

    @property
    def provenance(self) -> list[str]:
        """Every provenance of the row, the first first ("local" for a file only ever scanned)."""
        return list(self.sources or []) or [self.source]


watch_files(Artifact)  # a row whose file is gone reads as missing


class Module(SQLModel, table=True):
    """One adapted layer of an adapter (the layer-name map row)."""

    id: int | None = Field(default=None, primary_key=True)
    artifact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("artifact.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    stem: str = Field(sa_column=Column(String(512), nullable=False))
    canonical: str | None = Field(default=None, sa_column=Column(String(512), index=True))
    component: str | None = None
    algorithm: str = "lora"
    rank: int | None = None
    alpha: float | None = None
    shape: str = ""


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(200), unique=True, nullable=False))


class ArtifactTag(SQLModel, table=True):
    __tablename__ = "artifact_tag"

    artifact_id: int = Field(sa_column=Column(Integer, ForeignKey("artifact.id", ondelete="CASCADE"), primary_key=True))
    tag_id: int = Field(
        sa_column=Column(Integer, ForeignKey("tag.id", ondelete="CASCADE"), primary_key=True, index=True)
    )


class Recipe(SQLModel, table=True):
    """How a derived artifact was made."""

    id: int | None = Field(default=None, primary_key=True)
    artifact_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("artifact.id", ondelete="SET NULL"), index=True)
    )
    output_sha256: str | None = Field(default=None, index=True)
    op: str
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    loradex_version: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class RecipeInput(SQLModel, table=True):
    __tablename__ = "recipe_input"

    id: int | None = Field(default=None, primary_key=True)
    recipe_id: int = Field(
        sa_column=Column(Integer, ForeignKey("recipe.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    position: int = 0
    sha256: str | None = Field(default=None, index=True)
    ref: str = ""
    weight: float = 1.0
    role: str = "input"  # input | base


class Preview(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    artifact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("artifact.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    path: str = Field(sa_type=CatalogPath)
    prompt: str | None = None
    #: 64-bit: Civitai's example images carry seeds past 2**31 (PostgreSQL's INTEGER refused them).
    seed: int | None = Field(default=None, sa_column=Column(BigInteger))
    scale: float | None = None
    base: str | None = None
    #: The family of ``base`` (sd1, sd2, sdxl) as the quick-test loaded it.
    base_family: str | None = None
    #: Every adapter applied to the image with its effective weight (its weight × the scale):
    #: ``[{"artifact_id", "name", "kind", "sha256", "weight"}]``, a zero weight meaning not applied.
    #: None where nobody knows (an image beside the file, a row older than revision 0005).
    adapters: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    source: str = "sidecar"  # sidecar | quicktest | civitai
    #: How an example image was made, as Civitai tells it (``source="civitai"``; None elsewhere).
    sampler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    negative_prompt: str | None = Field(default=None, sa_column=Column(Text))
    #: The models, LoRAs and embeddings the image was made with: ``[{"name", "type", "weight", "hash"}]``.
    resources: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    #: Where the image was downloaded from, and its Civitai NSFW level (1 PG … 16 XXX).
    url: str | None = Field(default=None, sa_column=Column(Text))
    nsfw_level: int | None = None
    #: The size an example image was generated at, as Civitai tells it (before any upscaling:
    #: what ``try --like`` renders at); None elsewhere (a quick-test's PNG records its own).
    width: int | None = None
    height: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CivitaiRecord(SQLModel, table=True):
    """What Civitai said about an artifact, by one of its hashes: kept when the page goes away
    upstream (``state`` ``deleted``), so the catalog still knows what the file is."""

    __tablename__ = "civitai_record"

    id: int | None = Field(default=None, primary_key=True)
    artifact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("artifact.id", ondelete="CASCADE"), nullable=False, unique=True)
    )
    #: ``matched``, ``not-found`` (never on Civitai), ``deleted`` (matched once, gone since).
    state: str = Field(index=True)
    #: The site that answered (``https://civitai.com``, ``https://civitai.red``, a mirror): its pages are there.
    site: str | None = None
    #: The hash Civitai answered to (None while nothing ever matched).
    matched_hash: str | None = None
    model_id: int | None = Field(default=None, index=True)
    model_name: str | None = None
    model_type: str | None = None
    version_id: int | None = Field(default=None, index=True)
    version_name: str | None = None
    air: str | None = None
    base_model: str | None = None
    trained_words: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    #: The model's description (else the version's), as plain text.
    description: str | None = Field(default=None, sa_column=Column(Text))
    nsfw_level: int | None = None
    #: ``allowNoCredit``, ``allowCommercialUse``, ``allowDerivatives``, ``allowDifferentLicense`` of the model.
    license: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    creator: str | None = None
    published_at: datetime | None = None
    #: The version's files: ``[{"name", "type", "size_kb", "primary", "hashes": {"SHA256": …}}]``.
    files: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    #: The model's versions, newest first, as last asked: ``[{"id", "name", "base_model", "published_at"}]``.
    model_versions: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    #: The version JSON exactly as Civitai answered (a ``.civitai.info`` sidecar is this).
    raw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    first_matched_at: datetime | None = None
    deleted_at: datetime | None = None
    last_checked: datetime = Field(default_factory=utcnow)


class Publication(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    artifact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("artifact.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    repo: str
    commit: str | None = None
    url: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
