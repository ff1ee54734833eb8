"""Changes to the catalog: tags, notes, preferred weights, forgetting. The session first; each
function commits its change. The artifact comes from :func:`loradex.registry.queries.orm.resolve`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sqlalchemy import delete
from sqlmodel import Session, col, select

from loradex.registry.errors import QueryError
from loradex.registry.queries import lookup
from loradex.registry.store.models import Artifact, ArtifactTag, Tag


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
    known = {t.name: t for t in session.exec(select(Tag).where(col(Tag.name).in_(adding)))}
    for name in sorted(adding - present):
        if name not in known:
            known[name] = Tag(name=name)
            session.add(known[name])
            session.flush()
        session.add(ArtifactTag(artifact_id=artifact.id, tag_id=known[name].id))
    if removing:
        dropped = select(Tag.id).where(col(Tag.name).in_(removing))
        session.exec(
            delete(ArtifactTag).where(
                col(ArtifactTag.artifact_id) == artifact.id,
                col(ArtifactTag.tag_id).in_(dropped),
            )
        )
        session.exec(
            delete(Tag).where(
                col(Tag.name).in_(removing),
                col(Tag.id).not_in(select(ArtifactTag.tag_id)),
            )
        )
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
    session.exec(delete(Artifact).where(col(Artifact.id) == artifact.id))
    session.exec(delete(Tag).where(col(Tag.id).not_in(select(ArtifactTag.tag_id))))
    session.commit()
    session.expunge(artifact)
