"""The rows a scan compares with what it finds on disk: every artifact under the scan's roots,
with what tells whether its file changed (size, mtime), whether an older loradex described it
(``probed_with``) or hashed it before BLAKE3 and CRC-32 were kept, and the sidecars it last saw.
SQL text over a :class:`.reading.Reader`, so that a rescan that finds nothing changed runs on
plain ``sqlite3`` (:mod:`loradex.registry.services.scan_plan`); :func:`under` is also the
condition the ORM counts rows of a folder with.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.registry.store.paths import HERE, absolute, stored

from .reading import Reader, as_reader

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = [
    "ScannedRow",
    "Settled",
    "UnderCounts",
    "duplicates_touching",
    "scanned_under",
    "settled_under",
    "under",
    "under_counts",
]

#: Hashed, but before BLAKE3 and CRC-32 were kept (a catalog from before migration 0009).
_LACKING = "(sha256 IS NOT NULL AND blake3 IS NULL)"

#: (absolute path, size, mtime, sidecar signature) of each row a rescan may leave alone when its file
#: shows the same (:func:`settled_under`).
Settled = set[tuple[str, int, float, str]]


@dataclass(slots=True)
class ScannedRow:
    """An artifact's row as a scan compares it with its file (slots, not frozen: a rescan builds
    one per catalogued file, and a frozen dataclass is several times slower to build)."""

    id: int
    size: int
    mtime: float
    status: str
    probed_with: int
    #: Hashed, but before BLAKE3 and CRC-32 were kept (a catalog from before migration 0009).
    lacking_hashes: bool
    sidecar_seen: str | None


@dataclass(frozen=True)
class UnderCounts:
    """How many rows under the roots are missing, and how many are not."""

    missing: int
    present: int


def under(column: str, roots: Sequence[str | os.PathLike[str]], folder: str | None, params: dict[str, Any]) -> str:
    """SQL for "``column`` is one of ``roots`` or a path below one", on the stored forms (paths under
    the catalog's ``folder`` are stored relative to it: :mod:`.paths`); the values go into
    ``params``. A prefix is compared with ``substr``, not ``LIKE``: exact on SQLite too (whose
    ``LIKE`` ignores ASCII case), with nothing to escape."""
    conditions = []
    for i, root in enumerate(roots):
        text = str(root).rstrip(os.sep) or os.sep
        prefix = text if text.endswith(os.sep) else text + os.sep
        params[f"root{i}"], params[f"below{i}"] = stored(text, folder), stored(prefix, folder)
        conditions += [f"{column} = :root{i}", f"substr({column}, 1, {len(params[f'below{i}'])}) = :below{i}"]
        if folder and (folder + os.sep).startswith(prefix):  # the catalog's own folder lies below the root
            conditions += [f"{column} = '{HERE}'", f"substr({column}, 1, 2) = '{HERE}{os.sep}'"]
    return "(" + " OR ".join(conditions or ["1 = 0"]) + ")"


def _absolute(column: str, folder: str | None, params: dict[str, Any]) -> str:
    """SQL for :func:`.paths.absolute` of ``column``: done by the database, not per row in Python."""
    if not folder:
        return column
    params["folder"] = folder
    here = f"{column} = '{HERE}' OR substr({column}, 1, 2) = '{HERE}{os.sep}'"
    return f"CASE WHEN {here} THEN :folder || substr({column}, 2) ELSE {column} END"


def scanned_under(reader: Reader, roots: Sequence[Path]) -> dict[str, ScannedRow]:
    """Every artifact under ``roots`` (:func:`under`), by absolute path."""
    params: dict[str, Any] = {}
    sql = (
        f"SELECT path, id, size, mtime, status, probed_with, CASE WHEN {_LACKING} THEN 1 ELSE 0 END, sidecar_seen "
        f"FROM artifact WHERE {under('path', roots, reader.folder, params)}"
    )
    return {
        absolute(path, reader.folder): ScannedRow(id, size, mtime, status, probed, bool(lacking), seen)
        for path, id, size, mtime, status, probed, lacking, seen in reader.rows(sql, params)
    }


def settled_under(reader: Reader, roots: Sequence[Path], probe_version: int) -> Settled:
    """The rows under ``roots`` that a scan leaves alone while their file keeps its size, mtime and
    sidecars: present, probed by ``probe_version`` or later, with every hash kept. Built by the
    database driver as they come (a row costs no Python code: a rescan of 100,000 files loads them)."""
    params: dict[str, Any] = {"probe": probe_version}
    sql = (
        f"SELECT {_absolute('path', reader.folder, params)}, size, mtime, coalesce(sidecar_seen, '') "
        f"FROM artifact WHERE {under('path', roots, reader.folder, params)} "
        f"AND status != 'missing' AND probed_with >= :probe AND NOT {_LACKING}"
    )
    return set(reader.rows(sql, params))


def under_counts(reader: Reader, roots: Sequence[Path]) -> UnderCounts:
    """How many rows under ``roots`` are missing and how many present."""
    params: dict[str, Any] = {}
    where = under("path", roots, reader.folder, params)
    # The missing ones through the status index: a row's status is further into it than its path.
    total, missing = reader.first(
        f"SELECT count(*), (SELECT count(*) FROM artifact WHERE status = 'missing' AND {where}) "
        f"FROM artifact WHERE {where}",
        params,
    ) or (0, 0)
    return UnderCounts(missing, total - missing)


#: The hashes more than one row holds, read off the sha256 index alone (filtering on status there
#: made it a table scan and a sort, 2-3 times slower at 100,000 rows): the duplicates' candidates,
#: whose rows are then read and those with fewer than two ok copies dropped.
SHARED_SHA256 = "SELECT sha256 FROM artifact WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING COUNT(*) > 1"


def duplicates_touching(source: Reader | Session, roots: Sequence[Path]) -> list[list[str]]:
    """The paths of each group of ok rows sharing a sha256 with a member under ``roots``: the groups
    of :func:`.lookup.duplicates` that touch the roots, largest first, each by path, as paths only
    (a scan's report; nor does a rescan wait for the listing's modules)."""
    reader = as_reader(source)
    params: dict[str, Any] = {}
    # The ok rows kept here: filtered in SQL, SQLite reads every ok row instead of the index.
    rows = reader.rows(
        f"SELECT sha256, {_absolute('path', reader.folder, params)}, status, "
        f"CASE WHEN {under('path', roots, reader.folder, params)} THEN 1 ELSE 0 END "
        f"FROM artifact WHERE sha256 IN ({SHARED_SHA256}) ORDER BY size DESC, sha256, path",
        params,
    )
    ok = ((sha256, path, inside) for sha256, path, status, inside in rows if status == "ok")
    groups = (list(group) for _, group in groupby(ok, key=lambda row: row[0]))
    return [
        [path for _, path, _ in group] for group in groups if len(group) > 1 and any(inside for *_, inside in group)
    ]
