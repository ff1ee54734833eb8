"""Changes to the catalog, and the ORM rows the operations work on: resolve a reference to its
:class:`.models.Artifact`, find rows with the listing filters, tags, notes, preferred weights,
forgetting, counts. Keyword-only options, the session first. The questions themselves (which
rows, in what order, with what details) are asked in plain SQL by :mod:`.lookup`; this module
turns their answers into ORM rows where a caller changes or hands on the row.

Functions that edit (``set_tags``, ``set_note``, ``set_preferred_weight``, ``forget``) commit their change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.orm import defer
from sqlmodel import Session, select

from . import lookup
from .columns import under
from .errors import QueryError
from .models import Artifact, ArtifactTag, Tag
from .views import KindCount

#: What a listing never shows: training metadata (kohya's ss_tag_frequency alone can be tens
#: of KB), sidecar, base evidence and claims, search text. Deferring them halves the time to
#: build thousands of rows; they then load on first access, only while the session is open.
_DETAIL_COLUMNS = (Artifact.training_metadata, Artifact.sidecar, Artifact.base_evidence, Artifact.base_claims,
                   Artifact.search_text)


def resolve(session: Session, ref: str) -> Artifact:
    """The artifact a user means by ``ref`` (:func:`.lookup.resolve`), as an ORM row.

    Raises:
        RefNotFoundError: nothing matches.
        AmbiguousRefError: several artifacts match (the message names up to five).
    """
    return session.get(Artifact, lookup.resolve(session, ref).id)  # type: ignore[return-value]


def find(session: Session, *, fits: Any = None, details: bool = True, **filters: Any) -> list[Artifact]:
    """The ORM rows :func:`.lookup.listing` lists with the same filters, in its order.

    Args:
        session: an open catalog session.
        fits: a checkpoint: keep adapters whose layers fit it.
        details: False defers training metadata, sidecar, base evidence/claims and search
            text: about twice as fast for long listings; those columns then load on access,
            only while the session is open.
        filters: :func:`.lookup.listing`'s other keyword arguments.

    Raises:
        QueryError: an unknown ``sort`` key or a ``min_share`` outside [0, 1].
        NoLayersError: ``fits`` has no stored layer inventory.
    """
    ids = lookup.matching_ids(session, fits=fits, **filters)
    options = () if details else tuple(defer(column) for column in _DETAIL_COLUMNS)
    rows: dict[int, Artifact] = {}
    for part in lookup.batched(ids, lookup.CHUNK):
        stmt = select(Artifact).options(*options).where(Artifact.id.in_(part))  # type: ignore[union-attr]
        rows.update((row.id, row) for row in session.exec(stmt))  # type: ignore[misc]
    return [rows[i] for i in ids if i in rows]


def set_tags(session: Session, artifact: Artifact, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """Add and remove tags (removals apply after additions); tags no artifact uses any more
    are deleted. Commits.

    Args:
        session: an open catalog session.
        artifact: the artifact to tag.
        add: tag names to add (case-insensitive; surrounding blanks ignored).
        remove: tag names to remove; absent ones are ignored.

    Returns:
        The artifact's tags afterwards, sorted.

    Raises:
        QueryError: an empty tag name.
    """
    adding, removing = {lookup.tag_name(t) for t in add}, {lookup.tag_name(t) for t in remove}
    present = set(lookup.tags_of(session, artifact))
    known = {t.name: t for t in session.exec(select(Tag).where(Tag.name.in_(adding)))}  # type: ignore[attr-defined]
    for name in sorted(adding - present):
        if name not in known:
            known[name] = Tag(name=name)
            session.add(known[name])
            session.flush()
        session.add(ArtifactTag(artifact_id=artifact.id, tag_id=known[name].id))
    if removing:
        dropped = select(Tag.id).where(Tag.name.in_(removing))  # type: ignore[attr-defined]
        session.exec(delete(ArtifactTag).where(ArtifactTag.artifact_id == artifact.id,  # type: ignore[call-overload]
                                               ArtifactTag.tag_id.in_(dropped)))  # type: ignore[attr-defined]
        session.exec(delete(Tag).where(Tag.name.in_(removing),  # type: ignore[call-overload,attr-defined]
                                       Tag.id.not_in(select(ArtifactTag.tag_id))))  # type: ignore[union-attr]
    session.commit()
    return lookup.tags_of(session, artifact)


def set_note(session: Session, artifact: Artifact, text: str) -> Artifact:
    """Replace the artifact's note (an empty text clears it). Commits.

    Returns:
        The updated artifact.
    """
    artifact.notes = text.strip()
    session.add(artifact)
    session.commit()
    return artifact


def set_preferred_weight(session: Session, artifact: Artifact, weight: float | None) -> Artifact:
    """Set (or, with None, clear) the weight the artifact is used at by default. Commits.

    Raises:
        QueryError: a weight that is not a finite number.
    """
    if weight is not None and not math.isfinite(weight):
        raise QueryError(f"a preferred weight must be a finite number, not {weight}")
    artifact.preferred_weight = None if weight is None else float(weight)
    session.add(artifact)
    session.commit()
    return artifact


def forget(session: Session, artifact: Artifact) -> None:
    """Remove the artifact from the catalog: its row, layers, tags, previews and publications (the
    image files stay). Recipes that made it keep their inputs but lose the link; tags no artifact
    uses any more are deleted. The file on disk is not touched (a later scan of its folder adds it
    back). Commits.
    """
    # The schema does the rest: layers, tags, previews and publications cascade, recipes are set
    # NULL (ON DELETE rules; SQLite connections enforce them with PRAGMA foreign_keys).
    session.exec(delete(Artifact).where(Artifact.id == artifact.id))  # type: ignore[call-overload]
    session.exec(delete(Tag).where(Tag.id.not_in(select(ArtifactTag.tag_id))))  # type: ignore[call-overload,union-attr]
    session.commit()
    session.expunge(artifact)


def counts(session: Session, *, folder: str | None = None) -> list[KindCount]:
    """How many artifacts per kind, format and effective base, over the catalog (or the
    artifacts in ``folder``), sorted."""
    base = func.coalesce(Artifact.base_override, Artifact.base)
    stmt = select(Artifact.kind, Artifact.format, base, func.count())
    if folder:
        stmt = stmt.where(under(Artifact.path, folder, session.get_bind().dialect))
    stmt = stmt.group_by(Artifact.kind, Artifact.format, base).order_by(Artifact.kind, Artifact.format, base)
    return [KindCount(*row) for row in session.exec(stmt)]
