"""Changes to an artifact's own data: tags, note, preferred weight. The session first; each
function commits its change. The artifact comes from :func:`loradex.registry.queries.orm.resolve`.
Forgetting an artifact is :mod:`.forget`.
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
        tag_id = known[name].id
        # Rows read from the catalog (resolve's artifact, the known tags) or flushed just above.
        assert artifact.id is not None and tag_id is not None
        session.add(ArtifactTag(artifact_id=artifact.id, tag_id=tag_id))
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


def edit(session: Session, artifact: Artifact, *, tags: Iterable[str], note: str, weight: float | None) -> list[str]:
    """Set everything a user edits at once (the TUI's edit dialog): the tags to exactly ``tags``,
    the note, the preferred weight. Commits.

    Returns:
        The artifact's tags afterwards, sorted.

    Raises:
        QueryError: a weight that is not a finite number (nothing is changed then).
    """
    if weight is not None and not math.isfinite(weight):
        raise QueryError(f"a preferred weight must be a finite number, not {weight}")
    present = set(lookup.tags_of(session, artifact))
    wanted = {lookup.tag_name(t) for t in tags if t.strip()}
    after = set_tags(session, artifact, add=sorted(wanted - present), remove=sorted(present - wanted))
    set_note(session, artifact, note)
    set_preferred_weight(session, artifact, weight)
    return after
