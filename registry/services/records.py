"""From a probe result to catalog rows: the artifact's probe-derived columns, its module rows
and its (shared) layer set.

The user's own data on an artifact (notes, tags, preferred weight, rating, activation text,
imported sidecar, base override) is never written here: a rescan refreshes what the file says
and leaves what the user says alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from loradex.adapters.model.artifact import ArtifactInfo
from loradex.adapters.model.probe_version import PROBE_VERSION
from loradex.adapters.vocabulary import Safety
from loradex.registry.queries.rows import shape_text
from loradex.registry.store.models import Artifact, LayerSet, LayerSetLayer, Module, utcnow

__all__ = [
    "MODULE_COLUMNS",
    "ModuleValues",
    "apply_error",
    "apply_probe",
    "fill_probe",
    "layer_set_for",
    "lead_with",
    "replace_modules",
    "search_text",
    "storable",
    "training_metadata",
]

#: The module table's columns as :func:`replace_modules` writes them, in the order of its tuples.
MODULE_COLUMNS = ("artifact_id", "stem", "canonical", "component", "algorithm", "rank", "alpha", "shape")
#: One module row as :func:`fill_probe` returns it: :data:`MODULE_COLUMNS` less ``artifact_id``.
ModuleValues = tuple[str, str | None, str | None, str, int | None, float | None, str]

# Metadata outside ss_*/modelspec.* is kept only when it is a short string: pickles flatten
# arbitrary leaves into metadata, and a catalog row is not the place for a blob.
_SHORT = 256
# Base64 images (modelspec.thumbnail) are not text anyone searches or reads in a table.
_DROPPED = ("modelspec.thumbnail",)


def search_text(name: str, trigger_words: Sequence[str], metadata: Mapping[str, Any]) -> str:
    """The lowercased text that list filters search: name, trigger words, metadata values.

    ``ss_tag_frequency`` is left out (a JSON table of every training caption tag, whose words
    already appear ranked in the trigger words). Same rule as migration 0002, which fills the
    column for rows made before it existed.

    Args:
        name: the artifact's name.
        trigger_words: suggested trigger words.
        metadata: the stored training metadata.

    Returns:
        One lowercased string.
    """
    parts = [name or "", *trigger_words, *(str(v) for k, v in sorted(metadata.items()) if k != "ss_tag_frequency")]
    return " ".join(parts).lower()


def lead_with(artifact: Artifact, words: Sequence[str]) -> None:
    """Put ``words`` (Civitai's trained words for the file) first among ``artifact``'s suggested
    trigger words, without repeats, and let list filters find them."""
    if not words:
        return
    artifact.trigger_words = [*words, *[w for w in artifact.trigger_words or [] if w not in words]]
    artifact.search_text = search_text(artifact.name, artifact.trigger_words, artifact.training_metadata or {})


def training_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The metadata worth keeping on a row: every ``ss_*`` and ``modelspec.*`` entry (except
    embedded images), plus other entries that are short strings.

    Args:
        metadata: the probe's metadata, verbatim.

    Returns:
        A new dict.
    """
    kept: dict[str, str] = {}
    for key, value in metadata.items():
        if key in _DROPPED:
            continue
        if key.startswith(("ss_", "modelspec.")) or (isinstance(value, str) and len(value) <= _SHORT):
            kept[key] = value
    return kept


def storable(value: Any) -> Any:
    """``value`` (a file's string, or a list or map of them) with every NUL character replaced by
    U+FFFD: PostgreSQL text cannot hold NUL (SQLite can), and one catalog must take the same files on
    either backend."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def layer_set_for(session: Session, layers: Mapping[str, str]) -> LayerSet | None:
    """The layer set holding exactly ``layers``, reused when one exists, else created.

    Many artifacts share one set (every kohya SD1.5 LoRA with the same targets), so
    compatibility with a base is computed once per set.

    Args:
        session: an open session (the new rows are flushed, not committed).
        layers: canonical layer → shape string (``"320x4x3x3"``).

    Returns:
        The :class:`LayerSet`, or None when ``layers`` is empty.
    """
    if not layers:
        return None
    text = "\n".join(sorted(f"{canonical}={shape}" for canonical, shape in layers.items()))
    # A scan batch meets the same few sets again and again; the cache lives and dies with the
    # session (and its transaction), so a rolled-back set is never reused. It is keyed by the
    # text, not its digest: hashlib lets go of the GIL for a text over 2 KB (a LoRA's 59 layers
    # are 4 KB), and a scan's thread that lets go of it waits for a hashing worker to hand it
    # back (15 % of a cold scan's row-writing thread, sampled).
    cache: dict[str, LayerSet] = session.info.setdefault("loradex.layer_sets", {})
    if text in cache:
        return cache[text]
    digest = hashlib.sha256(text.encode()).hexdigest()
    found = session.exec(select(LayerSet).where(col(LayerSet.digest) == digest)).first()
    if found is None:
        found = LayerSet(digest=digest, size=len(layers))
        session.add(found)
        session.flush()
        # Core executemany on the table: a checkpoint has hundreds of layers.
        session.exec(
            # SQLModel declares no __table__ on table models; SQLAlchemy's declarative base sets it.
            insert(LayerSetLayer.__table__),  # type: ignore[attr-defined]
            params=[{"layer_set_id": found.id, "canonical": c, "shape": s} for c, s in sorted(layers.items())],
        )
    cache[text] = found
    return found


def apply_probe(session: Session, artifact: Artifact, info: ArtifactInfo) -> None:
    """Fill ``artifact``'s probe-derived columns from ``info`` and replace its module rows.

    Args:
        session: an open session; ``artifact`` is added and flushed if it has no id yet.
        artifact: the row to fill.
        info: what :func:`loradex.adapters.probe` found.
    """
    modules = fill_probe(session, artifact, info)
    artifact.is_dir = info.path.is_dir()
    session.add(artifact)
    existed = artifact.id is not None
    if not existed:
        session.flush()  # the module rows need its id
    assert artifact.id is not None
    replace_modules(session, {artifact.id: modules}, existing=[artifact.id] if existed else [])


def fill_probe(session: Session, artifact: Artifact, info: ArtifactInfo) -> list[ModuleValues]:
    """Fill ``artifact``'s probe-derived columns from ``info``; its module rows are returned, to be
    written by :func:`replace_modules` (a scan writes a whole batch's at once).

    The row gets status ``ok``; its layer set is the adapter's resolved layers (canonical →
    shape) or, for checkpoints and ControlNets, their inventory. ``name``, ``path``, size,
    mtime, whether it is a folder and hashes are the scanner's business (discovery knows them:
    a ``stat`` here, on the thread writing rows, waited for the GIL); user data is left untouched.

    Args:
        session: an open session (a layer set not seen before is added and flushed).
        artifact: the row to fill.
        info: what :func:`loradex.adapters.probe` found.

    Returns:
        The module rows, without ``artifact_id`` (:data:`MODULE_COLUMNS` less the first).
    """
    artifact.kind, artifact.format, artifact.base = info.kind, info.format, info.base
    artifact.base_evidence = storable(list(info.base_evidence))
    artifact.base_claims = storable(dict(info.base_claims))
    artifact.base_conflict = storable(info.base_conflict)
    artifact.base_size = info.base_size or None
    artifact.dtype = info.dtype
    artifact.safety = info.safety
    ranks = info.ranks
    artifact.ranks = ranks
    artifact.rank_min, artifact.rank_max = (ranks[0], ranks[-1]) if ranks else (None, None)
    artifact.algorithms = info.algorithms
    artifact.components = list(info.components)
    artifact.layer_count = len(info.layers) or len(info.inventory)
    artifact.parameters = info.parameters
    artifact.unmatched = len(info.unmatched)
    artifact.trigger_words = storable(list(info.trigger_words))
    artifact.training_metadata = storable(training_metadata(info.metadata))
    artifact.search_text = search_text(artifact.name, artifact.trigger_words, artifact.training_metadata)
    artifact.status, artifact.error = "ok", None
    artifact.scanned_at, artifact.probed_with = utcnow(), PROBE_VERSION
    texts = [shape_text(layer.shape) for layer in info.layers]  # each layer's, for its set and its row
    if info.layers:
        shapes = {layer.canonical: text for layer, text in zip(info.layers, texts, strict=True) if layer.canonical}
    else:
        shapes = {name: shape_text(shape) for name, shape in info.inventory.items()}
    layer_set = layer_set_for(session, storable(shapes))
    artifact.layer_set_id = layer_set.id if layer_set else None
    return [
        (storable(layer.stem), layer.canonical, layer.component, layer.algorithm, layer.rank, layer.alpha, text)
        for layer, text in zip(info.layers, texts, strict=True)
    ]


def apply_error(artifact: Artifact, message: str, *, refused: bool = False) -> None:
    """Mark ``artifact`` as unreadable: status ``error`` with ``message``, kind/format/base
    ``unknown`` and no layer set (what an earlier probe said no longer holds; its module rows go
    too: :func:`replace_modules` with none).

    Args:
        artifact: the row.
        message: the one-line error.
        refused: a pickle refused as needing code execution: safety ``pickle-refused``
            (else ``unknown``: nothing was read that could say).
    """
    artifact.kind = artifact.format = artifact.base = "unknown"
    artifact.safety = Safety.PICKLE_REFUSED if refused else Safety.UNKNOWN
    artifact.status, artifact.error = "error", storable(message)
    artifact.layer_set_id = None
    artifact.layer_count = artifact.parameters = artifact.unmatched = 0
    artifact.ranks, artifact.algorithms, artifact.components = [], [], []
    artifact.rank_min = artifact.rank_max = None
    artifact.scanned_at, artifact.probed_with = utcnow(), PROBE_VERSION


def replace_modules(
    session: Session, modules: Mapping[int, Sequence[ModuleValues]], *, existing: Sequence[int]
) -> None:
    """Replace the module rows of artifacts: those of ``existing`` deleted, ``modules`` (by artifact
    id, from :func:`fill_probe`) inserted, each in as few statements as the backend allows."""
    for start in range(0, len(existing), 500):  # bound the IN list (SQLite's parameter limit)
        session.exec(delete(Module).where(col(Module.artifact_id).in_(existing[start : start + 500])))
    rows = [(artifact_id, *row) for artifact_id, layers in modules.items() for row in layers]
    if rows:
        # Tuples to the driver's executemany: a small LoRA has 59 module rows, and SQLAlchemy's
        # executemany (a dict per row, each turned into the driver's parameters) cost twice what
        # SQLite's inserts do. The module columns need no type conversion on either backend.
        connection = session.connection()
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"  # sqlite3; psycopg (pyformat)
        connection.exec_driver_sql(
            f"INSERT INTO {Module.__tablename__} ({', '.join(MODULE_COLUMNS)}) "
            f"VALUES ({', '.join([mark] * len(MODULE_COLUMNS))})",
            rows,
        )
