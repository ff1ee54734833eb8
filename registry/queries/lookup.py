"""Questions to the catalog, asked in SQL any :class:`.reading.Reader` runs: resolve a reference,
list with filters, tags, duplicates (one artifact's details are :mod:`.artifact_detail`'s).

Each function takes a Reader, or an ORM session to read through (:func:`.reading.as_reader`),
and returns plain rows (:mod:`.rows`, :mod:`.views`): the read-only commands run them on plain
``sqlite3``, the Textual app and the services inside their sessions. Every filter is SQL over
indexed columns (no Python filtering), so listing stays fast on large catalogs. Changes to the
catalog are :mod:`loradex.registry.services.edits`'.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import groupby, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loradex.adapters.io.suffixes import WEIGHT_SUFFIXES
from loradex.registry.errors import MAX_CANDIDATES, AmbiguousRefError, RefNotFoundError
from loradex.registry.store.paths import stored

from .filters import EVERYTHING, Filter, order_by, where_clauses
from .reading import Reader, as_reader, in_list
from .rows import ArtifactRow, artifact_rows, build, column_list

if TYPE_CHECKING:
    from sqlmodel import Session

    from .views import Listed

    Source = Reader | Session

__all__ = [
    "CHUNK",
    "batched",
    "by_id",
    "duplicates",
    "listing",
    "looks_like_path",
    "matching_ids",
    "resolve",
    "tags_by_artifact",
    "tags_of",
]

_T = TypeVar("_T")

#: Rows :func:`listing` reads (and tags) at a time: its memory does not grow with the catalog.
CHUNK = 1000

_HEX_PREFIX = re.compile(r"[0-9a-f]{6,64}")
_PATH_SUFFIXES = WEIGHT_SUFFIXES | {".toml", ".json"}


def batched(items: Iterable[_T], n: int) -> Iterator[list[_T]]:
    """``items`` in lists of ``n`` (the last shorter): ``itertools.batched`` of Python 3.12."""
    it = iter(items)
    while part := list(islice(it, n)):
        yield part


def by_id(source: Source, artifact_id: int) -> ArtifactRow | None:
    """The artifact with this id, or None."""
    found = artifact_rows(as_reader(source), "a.id = :id", {"id": artifact_id})
    return found[0] if found else None


# ---------------------------------------------------------------------------------------
# What a user means by a reference


def resolve(source: Source, ref: str) -> ArtifactRow:
    """The artifact a user means by ``ref``.

    Tried in order: an integer id, an exact name, a path (absolute or relative to the
    current folder), a hash: a sha256 or BLAKE3 prefix of at least 6 hex digits, an AutoV2
    (10 hex), AutoV3 (12 hex) or CRC-32 (8 hex) hash, in any case (Civitai shows them upper case).

    Raises:
        RefNotFoundError: nothing matches.
        AmbiguousRefError: several artifacts match (the message names up to five).
    """
    reader = as_reader(source)
    ref = ref.strip()
    # Up to 18 digits: beyond that no 64-bit id exists, and PostgreSQL would reject the value.
    if ref.isdigit() and len(ref) <= 18 and (hit := by_id(reader, int(ref))) is not None:
        return hit
    if ref and (hit := _unique(reader, "a.name = :ref", {"ref": ref}, ref)):
        return hit
    if ref:
        params: dict[str, Any] = {}
        where = f"a.path IN {in_list('path', {stored(p, reader.folder) for p in _path_forms(ref)}, params)}"
        if hit := _unique(reader, where, params, ref):
            return hit
    prefix = ref.lower()
    if _HEX_PREFIX.fullmatch(prefix):
        # Ranges instead of LIKE 'abc%': they use the indexes on SQLite and PostgreSQL.
        where = (
            "(a.sha256 >= :low AND a.sha256 < :high) OR (a.blake3 >= :low AND a.blake3 < :high)"
            " OR a.autov2 = :low OR a.autov3 = :low OR a.crc32 = :low"
        )
        if hit := _unique(reader, where, {"low": prefix, "high": prefix + "g"}, ref):
            return hit
    if looks_like_path(ref):
        if not Path(ref).expanduser().exists():
            raise RefNotFoundError(ref, hint="no such file, and no catalogued artifact has that path")
        raise RefNotFoundError(
            ref, hint="that file is not in the catalog; `loradex scan` adds it, `loradex probe` describes it"
        )
    raise RefNotFoundError(ref)


def _path_forms(ref: str) -> set[str]:
    """The paths ``ref`` may name as scan stores them: as typed, absolute, and through links."""
    forms = {ref, os.path.abspath(os.path.expanduser(ref))}
    try:
        forms.add(str(Path(ref).expanduser().resolve()))
    except (OSError, RuntimeError):  # a link loop or an unreadable folder: just not that form
        pass
    return forms


def _unique(reader: Reader, where: str, params: dict[str, Any], ref: str) -> ArtifactRow | None:
    """The one artifact ``where`` selects, None for none; several raise AmbiguousRefError."""
    found = artifact_rows(reader, where, params, limit=MAX_CANDIDATES + 1)
    if len(found) <= 1:
        return found[0] if found else None
    total = reader.value(f"SELECT COUNT(*) FROM artifact a WHERE {where}", params)
    raise AmbiguousRefError(ref, found, total=total)


def looks_like_path(ref: str) -> bool:
    """Whether ``ref`` is spelled as a path (a folder separator, or a weights or recipe file's
    suffix) rather than a name or hash: one that does not exist is "no such file"."""
    return "/" in ref or os.sep in ref or Path(ref).suffix.lower() in _PATH_SUFFIXES


# ---------------------------------------------------------------------------------------
# Filters, order, listings


def _selection(
    reader: Reader, columns: str, params: dict[str, Any], flt: Filter, fits: ArtifactRow | None, min_share: float
) -> str:
    """SELECT ``columns`` with :func:`listing`'s filters and order (no limit). With a ``status``,
    rows that may read as it are selected and the caller filters them."""
    conditions = where_clauses(params, replace(flt, status=None), reader.dialect)
    join = ""
    if fits is not None:
        from . import compat  # --fits alone: the other listings, resolve and tags need none of it

        join, _, fitting = compat.fit_join(fits, params, min_share=min_share)
        conditions += fitting
    if flt.status:
        # An ok row whose file is gone reads as missing (paths.py): such rows are read, then filtered.
        conditions.append("a.status IN ('missing', 'ok')" if flt.status == "missing" else "a.status = :status")
        params["status"] = flt.status
    sql = f"SELECT {columns} FROM artifact a{join}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    return sql + f" ORDER BY {order_by(flt.sort)}"


def listing(
    source: Source,
    flt: Filter = EVERYTHING,
    *,
    fits: ArtifactRow | None = None,
    min_share: float = 1.0,
    limit: int | None = None,
    chunk: int = CHUNK,
) -> Iterator[tuple[Listed, list[str]]]:
    """The artifacts ``flt`` selects, in its order, as :class:`.views.Listed` rows with their tags,
    read ``chunk`` rows at a time and yielded as they arrive — so the first rows of a
    100,000-row catalog come at once and memory stays bounded. The reader must stay open while
    the rows are consumed.

    Args:
        source: a reader or session.
        flt: the filter; its ``status`` as read: a file gone since the last scan is missing.
        fits: a checkpoint: keep adapters whose layers fit it (see :func:`.compat.fits`).
        min_share: with ``fits``, the least share of layers that must fit.
        limit: at most this many rows.

    Yields:
        (row, its sorted tags) in ``flt.sort`` order.

    Raises:
        QueryError: an unknown ``sort`` key or ``civitai`` value, or a ``min_share`` outside [0, 1]
            (before any row).
        NoLayersError: ``fits`` has no stored layer inventory.
    """
    from .views import Listed  # the views' nine dataclasses: resolve (check, tag) needs none of them

    reader = as_reader(source)
    params: dict[str, Any] = {}
    sql = _selection(reader, column_list(Listed, "a"), params, flt, fits, min_share)
    if limit is not None and not flt.status:
        sql += f" LIMIT {int(limit)}"
    # Run now, not on the first row: an error comes before the caller has printed anything.
    rows: Iterator[Listed] = (build(Listed, values, reader.folder) for values in reader.rows(sql, params, stream=True))
    if flt.status:
        rows = islice((row for row in rows if row.status == flt.status), limit)
    return (
        (row, tags.get(row.id, []))
        for part in batched(rows, chunk)
        for tags in [tags_by_artifact(reader, part)]
        for row in part
    )


def matching_ids(
    source: Source,
    flt: Filter = EVERYTHING,
    *,
    fits: ArtifactRow | None = None,
    min_share: float = 1.0,
    limit: int | None = None,
) -> list[int]:
    """The ids :func:`listing` would list, in its order."""
    if flt.status:
        return [row.id for row, _ in listing(source, flt, fits=fits, min_share=min_share, limit=limit)]
    reader = as_reader(source)
    params: dict[str, Any] = {}
    sql = _selection(reader, "a.id", params, flt, fits, min_share)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [artifact_id for (artifact_id,) in reader.rows(sql, params)]


# ---------------------------------------------------------------------------------------
# Tags


def tags_of(source: Source, artifact: Any) -> list[str]:
    """The artifact's tags, sorted."""
    return tags_by_artifact(source, [artifact]).get(artifact.id or 0, [])


def tags_by_artifact(source: Source, artifacts: Iterable[Any]) -> dict[int, list[str]]:
    """Tags of many artifacts, one query per :data:`CHUNK` of them (a statement's parameters are
    limited): ``{artifact id: sorted tag names}`` (only tagged ones)."""
    reader = as_reader(source)
    result: dict[int, list[str]] = defaultdict(list)
    for ids in batched((a.id for a in artifacts if a.id is not None), CHUNK):
        params: dict[str, Any] = {}
        sql = (
            f"SELECT x.artifact_id, t.name FROM artifact_tag x JOIN tag t ON t.id = x.tag_id "
            f"WHERE x.artifact_id IN {in_list('id', ids, params)} ORDER BY t.name"
        )
        for artifact_id, name in reader.rows(sql, params):
            result[artifact_id].append(name)
    return result


# ---------------------------------------------------------------------------------------
# Views of the catalog


def duplicates(source: Source) -> list[list[ArtifactRow]]:
    """Files with the same sha256 (status ok), largest first; each group sorted by path."""
    from .scanned import SHARED_SHA256  # scan's module: the other questions here need none of it

    reader = as_reader(source)
    rows = artifact_rows(
        reader, f"a.status = 'ok' AND a.sha256 IN ({SHARED_SHA256})", {}, order="a.size DESC, a.sha256, a.path"
    )
    groups = (list(group) for _, group in groupby(rows, key=lambda a: a.sha256))
    return [group for group in groups if len(group) > 1]
