"""Changes to an artifact's own data: tags, note, preferred weight. The session first; each
function commits its change. The artifact comes from :func:`loradex.registry.queries.orm.resolve`.
Forgetting an artifact is :mod:`.forget`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from loradex.registry.errors import QueryError
from loradex.registry.queries import filters, lookup
from loradex.registry.queries.reading import Reader, as_reader, in_list

if TYPE_CHECKING:
    from sqlmodel import Session

    from loradex.registry.queries.rows import ArtifactRow
    from loradex.registry.store.models import Artifact


def set_tags(
    source: Reader | Session,
    artifact: Artifact | ArtifactRow,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> list[str]:
    """Add and remove tags (removals apply after additions); tags no artifact uses any more
    are deleted. Commits.

    SQL text, so that ``loradex tag`` changes a SQLite catalog through plain ``sqlite3``
    (:func:`.reading.open_reader` with ``write``) as the TUI does through its session.

    Args:
        source: a reader opened to write, or an open catalog session.
        artifact: the artifact to tag.
        add: tag names to add (case-insensitive; surrounding blanks ignored).
        remove: tag names to remove; absent ones are ignored.

    Returns:
        The artifact's tags afterwards, sorted.

    Raises:
        QueryError: an empty tag name.
    """
    adding, removing = {filters.tag_name(t) for t in add}, {filters.tag_name(t) for t in remove}
    writer = as_reader(source)
    present = set(lookup.tags_of(writer, artifact))
    for name in sorted(adding - present):
        params = {"name": name, "artifact": artifact.id}
        # The casts: PostgreSQL deduces a parameter's type once, and text is not the column's varchar.
        writer.execute(
            "INSERT INTO tag (name) SELECT CAST(:name AS VARCHAR(200)) "
            "WHERE NOT EXISTS (SELECT 1 FROM tag WHERE name = CAST(:name AS VARCHAR(200)))",
            params,
        )
        writer.execute(
            "INSERT INTO artifact_tag (artifact_id, tag_id) SELECT :artifact, id FROM tag WHERE name = :name", params
        )
    if removing:
        params = {"artifact": artifact.id}
        names = in_list("name", sorted(removing), params)
        writer.execute(
            "DELETE FROM artifact_tag WHERE artifact_id = :artifact "
            f"AND tag_id IN (SELECT id FROM tag WHERE name IN {names})",
            params,
        )
        writer.execute(f"DELETE FROM tag WHERE name IN {names} AND id NOT IN (SELECT tag_id FROM artifact_tag)", params)
    writer.commit()
    return lookup.tags_of(source, artifact)  # a session's connection ends with its commit


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
    wanted = {filters.tag_name(t) for t in tags if t.strip()}
    after = set_tags(session, artifact, add=sorted(wanted - present), remove=sorted(present - wanted))
    set_note(session, artifact, note)
    set_preferred_weight(session, artifact, weight)
    return after
