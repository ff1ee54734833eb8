"""The catalog's rows as plain dataclasses, read with plain SQL (:mod:`.reading`, :mod:`.lookup`).

What the front ends receive: typed records with the columns of the SQLModel tables
(:mod:`.models`, which a test keeps in step with these), without SQLModel, pydantic or
SQLAlchemy, so that the commands that only read start in a fraction of the time. A value is
turned from its stored form into the one the code uses by its column's name (:func:`build`):
JSON text into lists and dicts, SQLite's timestamps into ``datetime``, stored paths into
absolute ones (:mod:`.paths`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from loradex.registry.store.paths import absolute, status_on_disk

if TYPE_CHECKING:
    from .reading import Reader

__all__ = [
    "ArtifactRow",
    "CivitaiRow",
    "artifact_rows",
    "PreviewRow",
    "PublicationRow",
    "RecipeInputRow",
    "RecipeRow",
    "build",
    "column_list",
    "row_dict",
    "shape_text",
]

_R = TypeVar("_R")

# Columns by what their stored form needs; the names are unique in meaning across the tables.
_JSON = frozenset(
    {
        "base_evidence",
        "base_claims",
        "line_evidence",
        "ranks",
        "algorithms",
        "components",
        "trigger_words",
        "training_metadata",
        "sidecar",
        "sources",
        "adapters",
        "params",
        "resources",
        "trained_words",
        "license",
        "tags",
        "files",
        "model_versions",
        "raw",
    }
)
_TIMES = frozenset(
    {
        "created_at",
        "scanned_at",
        "hashed_at",
        "added_at",
        "last_scan_at",
        "published_at",
        "first_matched_at",
        "deleted_at",
        "last_checked",
    }
)
_FLAGS = frozenset({"is_dir"})
_PATHS = frozenset({"path"})


def _decoded(name: str, value: Any, folder: str | None) -> Any:
    if value is None:
        return None
    if name in _JSON:  # SQLite hands JSON columns over as text; PostgreSQL's driver parses them
        return json.loads(value) if isinstance(value, (str, bytes)) else value
    if name in _TIMES:
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if name in _FLAGS:
        return bool(value)
    if name in _PATHS:
        return absolute(value, folder)
    return value


@cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def column_list(cls: type, table: str) -> str:
    """``table."col", …`` for every field of ``cls``, in order: the SELECT list :func:`build` reads
    (quoted: ``commit``, ``format``, ``rank`` are words of SQL)."""
    return ", ".join(f'{table}."{name}"' for name in _names(cls))


def build(cls: type[_R], values: Sequence[Any], folder: str | None) -> _R:
    """A ``cls`` from ``values`` selected in :func:`column_list`'s order (``folder``: the catalog's,
    against which stored paths are made absolute). An artifact whose file is gone reads as missing."""
    decoded = {name: _decoded(name, value, folder) for name, value in zip(_names(cls), values, strict=True)}  # type: ignore[arg-type]  # a class is hashable; mypy checks type[X] against X's own __hash__
    if "status" in decoded and "path" in decoded:
        decoded["status"] = status_on_disk(decoded["status"], decoded["path"])
    return cls(**decoded)


def shape_text(shape: Sequence[int]) -> str:
    """``(320, 4, 3, 3)`` → ``"320x4x3x3"`` (the layer-set and module shape notation)."""
    return "x".join(map(str, shape))


def row_dict(row: Any, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row as a dict, its columns in the order the table declares them."""
    names = _names(type(row))  # type: ignore[arg-type]  # a class is hashable; mypy checks type[X] against X's own __hash__
    return {name: getattr(row, name) for name in names if name not in without}


@dataclass
class ArtifactRow:
    """One catalogued file or folder: the columns of :class:`.models.Artifact` (see there)."""

    id: int | None = None
    path: str = ""
    name: str = ""
    kind: str = ""
    format: str = ""
    base: str = "unknown"
    base_override: str | None = None
    base_evidence: list[str] = field(default_factory=list)
    base_claims: dict[str, str] = field(default_factory=dict)
    base_conflict: str | None = None
    base_size: str | None = None
    line: str | None = None
    line_confidence: str | None = None
    line_evidence: list[str] | None = None
    trained_on_sha256: str | None = None
    is_dir: bool = False
    size: int = 0
    mtime: float = 0.0
    sha256: str | None = None
    autov2: str | None = None
    tensor_hash: str | None = None
    model_hash: str | None = None
    autov3: str | None = None
    blake3: str | None = None
    crc32: str | None = None
    safety: str = "safetensors"
    status: str = "ok"
    error: str | None = None
    dtype: str | None = None
    rank_min: int | None = None
    rank_max: int | None = None
    ranks: list[int] = field(default_factory=list)
    algorithms: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    layer_count: int = 0
    parameters: int = 0
    unmatched: int = 0
    layer_set_id: int | None = None
    trigger_words: list[str] = field(default_factory=list)
    search_text: str = ""
    training_metadata: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    preferred_weight: float | None = None
    rating: int | None = None
    activation_text: str | None = None
    sidecar: dict[str, Any] = field(default_factory=dict)
    sidecar_seen: str | None = None
    source: str = "local"
    sources: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    scanned_at: datetime | None = None
    probed_with: int = 0
    hashed_at: datetime | None = None

    @property
    def provenance(self) -> list[str]:
        """Every provenance of the row, the first first ("local" for a file only ever scanned)."""
        return list(self.sources or []) or [self.source]


def artifact_rows(
    reader: Reader, where: str, params: dict[str, Any], *, order: str = "a.id", limit: int | None = None
) -> list[ArtifactRow]:
    """Whole artifact rows ``WHERE where`` (over ``artifact a``), in ``order``."""
    sql = f"SELECT {column_list(ArtifactRow, 'a')} FROM artifact a WHERE {where} ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [build(ArtifactRow, values, reader.folder) for values in reader.rows(sql, params)]


@dataclass
class PreviewRow:
    """A preview image of an artifact: the columns of :class:`.models.Preview`."""

    id: int
    artifact_id: int
    path: str
    prompt: str | None
    seed: int | None
    scale: float | None
    base: str | None
    base_family: str | None
    adapters: list[dict[str, Any]] | None
    source: str
    sampler: str | None
    steps: int | None
    cfg: float | None
    negative_prompt: str | None
    resources: list[dict[str, Any]] | None
    url: str | None
    nsfw_level: int | None
    width: int | None
    height: int | None
    created_at: datetime


@dataclass
class CivitaiRow:
    """What Civitai said about an artifact: the columns of :class:`.models.CivitaiRecord` (see there)."""

    id: int
    artifact_id: int
    state: str
    site: str | None
    matched_hash: str | None
    model_id: int | None
    model_name: str | None
    model_type: str | None
    version_id: int | None
    version_name: str | None
    air: str | None
    base_model: str | None
    trained_words: list[str]
    description: str | None
    nsfw_level: int | None
    license: dict[str, Any] | None
    tags: list[str]
    creator: str | None
    published_at: datetime | None
    files: list[dict[str, Any]]
    model_versions: list[dict[str, Any]] | None
    raw: dict[str, Any] | None
    first_matched_at: datetime | None
    deleted_at: datetime | None
    last_checked: datetime


@dataclass
class PublicationRow:
    """Where an artifact was published: the columns of :class:`.models.Publication`."""

    id: int
    artifact_id: int
    repo: str
    commit: str | None
    url: str | None
    created_at: datetime


@dataclass
class RecipeRow:
    """How a derived artifact was made: the columns of :class:`.models.Recipe`."""

    id: int
    artifact_id: int | None
    output_sha256: str | None
    op: str
    params: dict[str, Any]
    loradex_version: str
    created_at: datetime


@dataclass
class RecipeInputRow:
    """One input of a recipe: the columns of :class:`.models.RecipeInput`."""

    id: int
    recipe_id: int
    position: int
    sha256: str | None
    ref: str
    weight: float
    role: str
