"""Questions and small edits on the catalog: resolve a reference, filter, tags, notes,
duplicates, lineage. Keyword-only options, the session first; every filter is SQL over
indexed columns (no Python filtering), so listing stays fast on large catalogs.

Functions that edit (``set_tags``, ``set_note``, ``set_preferred_weight``, ``forget``) commit their change.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import fields
from itertools import groupby, islice
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import and_, delete, func, or_
from sqlmodel import Session, select

from loradex.adapters.weights import WEIGHT_SUFFIXES

from . import paths
from .compat import EFFECTIVE_BASE, fit_parts, load_options
from .errors import MAX_CANDIDATES, AmbiguousRefError, QueryError, RefNotFoundError
from .models import Artifact, ArtifactTag, LayerSetLayer, Module, Preview, Publication, Recipe, RecipeInput, Tag
from .vocabulary import SORT_FIELDS, SORT_KEYS
from .views import Details, KindCount, LayerSummary, Lineage, LineageInput, Listed, MadeBy, UsedIn

_T = TypeVar("_T")

_HEX_PREFIX = re.compile(r"[0-9a-f]{6,64}")
_PATH_SUFFIXES = WEIGHT_SUFFIXES | {".toml", ".json"}
_SORT_COLUMNS: dict[str, Any] = dict(zip(SORT_FIELDS, (
    Artifact.name, Artifact.size, Artifact.rank_max, Artifact.kind, EFFECTIVE_BASE, Artifact.created_at)))


def _unique(session: Session, stmt: Any, ref: str) -> Artifact | None:
    """The one artifact ``stmt`` selects, None for none; several raise AmbiguousRefError."""
    found = list(session.exec(stmt.order_by(Artifact.id).limit(MAX_CANDIDATES + 1)))
    if len(found) <= 1:
        return found[0] if found else None
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    raise AmbiguousRefError(ref, found, total=total)


def resolve(session: Session, ref: str) -> Artifact:
    """The artifact a user means by ``ref``.

    Tried in order: an integer id, an exact name, a path (absolute or relative to the
    current folder), a sha256 prefix of at least 6 hex digits or an AutoV2 hash (10 hex).

    Args:
        session: an open catalog session.
        ref: what the user typed.

    Returns:
        The single matching :class:`Artifact`.

    Raises:
        RefNotFoundError: nothing matches.
        AmbiguousRefError: several artifacts match (the message names up to five).
    """
    ref = ref.strip()
    # Up to 18 digits: beyond that no 64-bit id exists, and PostgreSQL would reject the value.
    if ref.isdigit() and len(ref) <= 18 and (hit := session.get(Artifact, int(ref))) is not None:
        return hit
    if ref and (hit := _unique(session, select(Artifact).where(Artifact.name == ref), ref)):
        return hit
    paths = {ref, os.path.abspath(os.path.expanduser(ref))}  # as scan stores them
    try:
        paths.add(str(Path(ref).expanduser().resolve()))  # and through symbolic links
    except (OSError, RuntimeError):  # a link loop or an unreadable folder: just not that form
        pass
    if ref and (hit := _unique(session, select(Artifact).where(Artifact.path.in_(paths)), ref)):
        return hit
    prefix = ref.lower()
    if _HEX_PREFIX.fullmatch(prefix):
        # A range instead of LIKE 'abc%': it uses the sha256 index on SQLite and PostgreSQL.
        by_hash = or_(and_(Artifact.sha256 >= prefix, Artifact.sha256 < prefix + "g"), Artifact.autov2 == prefix)
        if hit := _unique(session, select(Artifact).where(by_hash), ref):
            return hit
    if looks_like_path(ref):
        if not Path(ref).expanduser().exists():
            raise RefNotFoundError(ref, hint="no such file, and no catalogued artifact has that path")
        raise RefNotFoundError(ref, hint="that file is not in the catalog; `loradex scan` adds it, "
                                         "`loradex probe` describes it")
    raise RefNotFoundError(ref)


def looks_like_path(ref: str) -> bool:
    """Whether ``ref`` is spelled as a path (a folder separator, or a weights or recipe file's
    suffix) rather than a name or hash: one that does not exist is "no such file"."""
    return "/" in ref or os.sep in ref or Path(ref).suffix.lower() in _PATH_SUFFIXES


def find(session: Session, *, kind: str | None = None, base: str | None = None, tag: str | None = None,
         text: str | None = None, rank_min: int | None = None, rank_max: int | None = None,
         status: str | None = None, fits: Artifact | None = None, min_share: float = 1.0,
         sort: str = "name", limit: int | None = None, details: bool = True) -> list[Artifact]:
    """Artifacts matching every given filter.

    Args:
        session: an open catalog session.
        kind: ``lora``, ``lycoris``, ``checkpoint`` …
        base: the base family, as overridden by the user where they did (``base_override``).
        tag: a tag name (case-insensitive).
        text: a case-insensitive substring of name, trigger words and training metadata.
        rank_min: keep artifacts with some rank at or above this (their largest rank).
        rank_max: keep artifacts with some rank at or below this (their smallest rank).
            Artifacts without ranks drop out when either bound is given.
        status: ``ok``, ``error`` or ``missing`` (as read: a file gone since the last scan is missing).
        fits: a checkpoint: keep adapters whose layers fit it (see :func:`.compat.fits`).
        min_share: with ``fits``, the least share of layers that must fit.
        sort: one of :data:`SORT_KEYS` (``-`` prefix: descending); ties go by name, id.
        limit: at most this many rows.
        details: False defers training metadata, sidecar, base evidence/claims and search
            text (:func:`.compat.load_options`): about twice as fast for long listings;
            those columns then load on access, only while the session is open.

    Returns:
        The matching artifacts in ``sort`` order.

    Raises:
        QueryError: an unknown ``sort`` key or a ``min_share`` outside [0, 1].
        NoLayersError: ``fits`` has no stored layer inventory.
    """
    stmt = _filtered(select(Artifact).options(*load_options(details)), kind=kind, base=base, tag=tag, text=text,
                     rank_min=rank_min, rank_max=rank_max, status=status, fits=fits, min_share=min_share,
                     sort=sort, limit=limit)
    rows = list(session.exec(stmt))
    return [a for a in rows if a.status == status][:limit] if status else rows


#: Rows :func:`listing` reads (and tags) at a time: its memory does not grow with the catalog.
CHUNK = 1000

_LISTED = tuple(getattr(Artifact, f.name) for f in fields(Listed))


def listing(session: Session, *, kind: str | None = None, base: str | None = None, tag: str | None = None,
            text: str | None = None, rank_min: int | None = None, rank_max: int | None = None,
            status: str | None = None, fits: Artifact | None = None, min_share: float = 1.0,
            sort: str = "name", limit: int | None = None, chunk: int = CHUNK) -> Iterator[tuple[Listed, list[str]]]:
    """:func:`find` for printing: the same filters and order, but only the listed columns
    (:class:`.views.Listed`), read ``chunk`` rows at a time with their tags, yielded as they
    arrive — so the first rows of a 100,000-row catalog come at once and memory stays bounded.
    The session must stay open while the rows are consumed.

    Yields:
        (row, its sorted tags) in ``sort`` order.

    Raises:
        QueryError, NoLayersError: as :func:`find`.
    """
    stmt = _filtered(select(*_LISTED), kind=kind, base=base, tag=tag, text=text, rank_min=rank_min,
                     rank_max=rank_max, status=status, fits=fits, min_share=min_share, sort=sort, limit=limit)
    # Run now, not on the first row: an error comes before the caller has printed anything.
    result = session.exec(stmt.execution_options(yield_per=chunk))  # type: ignore[call-overload]
    # An ok row whose file is gone reads as missing (paths.py), here as in find's ORM rows.
    rows: Iterator[Listed] = (Listed(*values[:7], paths.status_on_disk(values[7], values[2]), *values[8:])
                              for part in result.partitions() for values in part)
    if status:
        rows = islice((row for row in rows if row.status == status), limit)
    return ((row, tags.get(row.id, [])) for part in batched(rows, chunk)
            for tags in [tags_by_artifact(session, part)] for row in part)


def batched(items: Iterable[_T], n: int) -> Iterator[list[_T]]:
    """``items`` in lists of ``n`` (the last shorter): ``itertools.batched`` of Python 3.12."""
    it = iter(items)
    while part := list(islice(it, n)):
        yield part


def _filtered(stmt: Any, *, kind: str | None, base: str | None, tag: str | None, text: str | None,
              rank_min: int | None, rank_max: int | None, status: str | None, fits: Artifact | None,
              min_share: float, sort: str, limit: int | None) -> Any:
    """``stmt`` (over the artifact table) with :func:`find`'s filters, order and limit. With
    ``status``, rows that may read as it are selected and the caller filters and limits them."""
    if sort not in SORT_KEYS:
        raise QueryError(f"unknown sort key {sort!r}; use one of {', '.join(SORT_KEYS)}")
    if fits is not None:
        shares, _, conditions = fit_parts(fits, min_share=min_share)
        stmt = stmt.join(shares, shares.c.layer_set_id == Artifact.layer_set_id).where(*conditions)
    conditions = filter_conditions(kind=kind, base=base, tag=tag, text=text, rank_min=rank_min,
                                   rank_max=rank_max)
    if status:
        # An ok row whose file is gone reads as missing (paths.py): such rows are read, then filtered.
        conditions.append(Artifact.status.in_([status, "ok"]) if status == "missing" else Artifact.status == status)
    stmt = stmt.where(*conditions).order_by(*sort_order(sort))
    return stmt.limit(limit) if limit is not None and not status else stmt


def filter_conditions(*, kind: str | None = None, base: str | None = None, tag: str | None = None,
                      text: str | None = None, rank_min: int | None = None, rank_max: int | None = None,
                      status: str | None = None) -> list[Any]:
    """The WHERE conditions of :func:`find`'s filters (shared with the TUI's browse query)."""
    conditions = [
        Artifact.kind == kind if kind else None,
        EFFECTIVE_BASE == base if base else None,
        Artifact.status == status if status else None,
        Artifact.rank_max >= rank_min if rank_min is not None else None,
        Artifact.rank_min <= rank_max if rank_max is not None else None,
        # search_text is stored lowercased; autoescape keeps % and _ literal.
        Artifact.search_text.contains(text.lower(), autoescape=True) if text else None,  # type: ignore[union-attr]
        Artifact.id.in_(select(ArtifactTag.artifact_id).join(Tag, Tag.id == ArtifactTag.tag_id)  # type: ignore
                        .where(Tag.name == tag_name(tag))) if tag else None,
    ]
    return [c for c in conditions if c is not None]


def sort_order(sort: str) -> list[Any]:
    """ORDER BY of a :data:`SORT_KEYS` key (``-``: descending); ties go by name, then id."""
    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    # nulls_last: SQLite and PostgreSQL disagree on where NULL ranks sort by default.
    return [order.nulls_last(), Artifact.name, Artifact.id]


# ---------------------------------------------------------------------------------------
# The user's own data: tags and notes


def tag_name(name: str) -> str:
    """A tag as the catalog stores it: blanks collapsed, lower case (tags are case-insensitive, as
    on Civitai: "Anime" and "anime" are one tag)."""
    clean = " ".join(name.split()).lower()
    if not clean:
        raise QueryError("a tag cannot be empty")
    return clean


def tags_of(session: Session, artifact: Artifact) -> list[str]:
    """The artifact's tags, sorted."""
    return tags_by_artifact(session, [artifact]).get(artifact.id or 0, [])


def tags_by_artifact(session: Session, artifacts: Iterable[Artifact | Listed]) -> dict[int, list[str]]:
    """Tags of many artifacts, one query per :data:`CHUNK` of them (a statement's parameters are
    limited): ``{artifact id: sorted tag names}`` (only tagged ones)."""
    result: dict[int, list[str]] = defaultdict(list)
    for ids in batched((a.id for a in artifacts if a.id is not None), CHUNK):
        rows = session.exec(select(ArtifactTag.artifact_id, Tag.name).join(Tag, Tag.id == ArtifactTag.tag_id)
                            .where(ArtifactTag.artifact_id.in_(ids)).order_by(Tag.name))  # type: ignore[attr-defined]
        for artifact_id, name in rows:
            result[artifact_id].append(name)
    return result


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
    adding, removing = {tag_name(t) for t in add}, {tag_name(t) for t in remove}
    present = set(tags_of(session, artifact))
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
    return tags_of(session, artifact)


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
    import math

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


# ---------------------------------------------------------------------------------------
# Views over the catalog


def duplicates(session: Session) -> list[list[Artifact]]:
    """Files with the same sha256 (status ok), largest first; each group sorted by path."""
    shared = (select(Artifact.sha256).where(Artifact.status == "ok", Artifact.sha256.is_not(None))  # type: ignore
              .group_by(Artifact.sha256).having(func.count() > 1))
    rows = session.exec(select(Artifact).where(Artifact.status == "ok", Artifact.sha256.in_(shared))  # type: ignore
                        .order_by(Artifact.size.desc(), Artifact.sha256, Artifact.path))  # type: ignore[attr-defined]
    return [list(group) for _, group in groupby(rows, key=lambda a: a.sha256)]


def _by_sha256(session: Session, hashes: set[str]) -> dict[str, Artifact]:
    found: dict[str, Artifact] = {}
    if hashes:
        # An ok copy beats a missing one; among equals the oldest row wins.
        stmt = select(Artifact).where(Artifact.sha256.in_(hashes)).order_by(  # type: ignore[union-attr]
            (Artifact.status == "ok").desc(), Artifact.id)
        for artifact in session.exec(stmt):
            found.setdefault(artifact.sha256 or "", artifact)
    return found


def lineage(session: Session, artifact: Artifact) -> Lineage:
    """Where an artifact came from and what was made from it.

    A recipe made the artifact when it is recorded for its row or for its sha256; it used the
    artifact when one of its inputs has the artifact's sha256.

    Returns:
        The :class:`Lineage`; inputs and outputs are matched to catalogued artifacts by sha256
        (an ok copy first, then the oldest row).
    """
    made_by_clause = Recipe.artifact_id == artifact.id
    if artifact.sha256:
        made_by_clause = or_(made_by_clause, Recipe.output_sha256 == artifact.sha256)
    recipes = list(session.exec(select(Recipe).where(made_by_clause).order_by(Recipe.created_at, Recipe.id)))
    inputs = list(session.exec(select(RecipeInput).where(RecipeInput.recipe_id.in_([r.id for r in recipes]))  # type: ignore
                               .order_by(RecipeInput.recipe_id, RecipeInput.position)))
    uses = list(session.exec(select(RecipeInput, Recipe).join(Recipe, Recipe.id == RecipeInput.recipe_id)
                             .where(RecipeInput.sha256 == artifact.sha256).order_by(Recipe.id))) if artifact.sha256 else []
    known = _by_sha256(session, {i.sha256 for i in inputs if i.sha256}
                       | {r.output_sha256 for _, r in uses if r.output_sha256 and not r.artifact_id})
    made_by = [MadeBy(r.id, r.op, r.params, r.loradex_version, r.created_at, [
        LineageInput(i.position, i.role, i.weight, i.sha256, i.ref, known.get(i.sha256 or ""))
        for i in inputs if i.recipe_id == r.id]) for r in recipes]
    used_in = [UsedIn(r.id, r.op, i.role, i.weight,
                      session.get(Artifact, r.artifact_id) if r.artifact_id else known.get(r.output_sha256 or ""))
               for i, r in uses]
    return Lineage(made_by, used_in)


def layer_summary(session: Session, artifact: Artifact, *, first: int = 10) -> LayerSummary:
    """Counts of the artifact's layers per component, algorithm and rank, and its first
    ``first`` stems with their canonical layers. Checkpoints (no module rows) are summarised
    from their layer inventory (by component only)."""
    modules = list(session.exec(select(Module.component, Module.algorithm, Module.rank, func.count())
                                .where(Module.artifact_id == artifact.id)
                                .group_by(Module.component, Module.algorithm, Module.rank)))
    if modules:
        by_component: Counter[str] = Counter()
        by_algorithm: Counter[str] = Counter()
        by_rank: Counter[str] = Counter()
        for component, algorithm, rank, n in modules:
            by_component[component or "unmatched"] += n
            by_algorithm[algorithm] += n
            by_rank[str(rank) if rank else "-"] += n
        stems = session.exec(select(Module.stem, Module.canonical).where(
            Module.artifact_id == artifact.id).order_by(Module.id).limit(first))
        return LayerSummary(sum(n for *_, n in modules), _sorted(by_component), _sorted(by_algorithm),
                            _sorted(by_rank), [(stem, canonical) for stem, canonical in stems])
    if artifact.layer_set_id is not None:
        names = list(session.exec(select(LayerSetLayer.canonical).where(
            LayerSetLayer.layer_set_id == artifact.layer_set_id).order_by(LayerSetLayer.canonical)))
        return LayerSummary(len(names), _sorted(Counter(name.split(".", 1)[0] for name in names)),
                            first=[(name, name) for name in names[:first]])
    return LayerSummary()


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items()))


def details(session: Session, artifact: Artifact) -> Details:
    """Everything the catalog knows beyond the artifact row (:class:`Details`)."""
    return Details(
        tags=tags_of(session, artifact),
        layers=layer_summary(session, artifact),
        previews=list(session.exec(select(Preview).where(Preview.artifact_id == artifact.id).order_by(Preview.id))),
        publications=list(session.exec(select(Publication).where(Publication.artifact_id == artifact.id)
                                       .order_by(Publication.id))),
        lineage=lineage(session, artifact),
    )


def counts(session: Session, *, under: str | None = None) -> list[KindCount]:
    """How many artifacts per kind, format and effective base, over the catalog (or the
    artifacts in the folder ``under``), sorted."""
    stmt = select(Artifact.kind, Artifact.format, EFFECTIVE_BASE, func.count())
    if under:
        stmt = stmt.where(paths.under(Artifact.path, under, session.get_bind().dialect))
    stmt = (stmt.group_by(Artifact.kind, Artifact.format, EFFECTIVE_BASE)
            .order_by(Artifact.kind, Artifact.format, EFFECTIVE_BASE))
    return [KindCount(*row) for row in session.exec(stmt)]
