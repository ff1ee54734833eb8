"""What a scan has to do, decided before any file is read: the walk of the roots against the
catalog's rows under them (:mod:`loradex.registry.queries.scanned`); and the scan with nothing
to do.

Rescanning an unchanged library is the common case (the TUI's ``r``, a scheduled ``loradex
scan``): every file found has its row with the same size, mtime and sidecars, and no row lost
its file. Then a scan reads no file and writes nothing but the roots' scan time, and
:func:`unchanged_scan` does all of it on plain ``sqlite3``: the rows a scan would leave alone
loaded in one query, a walk that keeps only the path of each file they describe
(:func:`.discovery.changes`), two counts and the duplicates; no SQLAlchemy, SQLModel or hashing
import, so ``loradex scan`` of 20,000 unchanged files costs its ``stat`` calls, that query and
the interpreter. Anything else is the full scan's (:func:`.scan.scan`), which decides with the
same :func:`plan` and :func:`vanished`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.model.probe_version import PROBE_VERSION
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.registry.queries.reading import in_list, open_reader
from loradex.registry.queries.scanned import (
    ScannedRow,
    duplicates_touching,
    scanned_under,
    settled_under,
    under_counts,
)
from loradex.registry.store.location import catalog_url, sqlite_file
from loradex.registry.store.paths import stored
from loradex.registry.store.retries import retried

from .discovery import Changes, Found, changes, discover
from .scan_report import ScanReport

if TYPE_CHECKING:
    from loradex.registry.queries.reading import Reader

__all__ = [
    "ScanPlan",
    "catalogable",
    "existing_roots",
    "plan",
    "root_prefix",
    "unchanged_scan",
    "vanished",
    "walk",
]


@dataclass
class ScanPlan:
    """What a scan reads, from the walk and the rows (:func:`plan`)."""

    #: New and changed files, and unchanged ones read again (``stale``, ``lacking``): probed and hashed.
    todo: list[Found] = field(default_factory=list)
    #: Unchanged files an older probe described: probed again, not re-hashed.
    stale: set[Path] = field(default_factory=set)
    #: Unchanged files whose row lacks hashes: read again (and probed).
    lacking: set[Path] = field(default_factory=set)
    #: Unchanged files whose sidecars changed: only those are read.
    beside: list[Found] = field(default_factory=list)
    unchanged: int = 0


def root_prefix(root: Path) -> str:
    return str(root).rstrip(os.sep) + os.sep


def existing_roots(roots: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """``roots`` as the absolute paths scan records, each checked to exist (a front end checks
    before it opens, or creates, a catalog: a typo must leave nothing behind).

    Raises:
        ArtifactNotFoundError: a root does not exist.
    """
    absolute = [Path(os.path.abspath(r)) for r in roots]
    for root in absolute:
        if not root.exists():
            raise ArtifactNotFoundError("no such file or folder; nothing was scanned", path=root)
    return absolute


def walk(roots: Sequence[Path], report: ScanReport, progress: Progress | None = None) -> list[Found]:
    """The artifacts under ``roots`` (:func:`.discovery.discover`) that a catalog can hold (:func:`catalogable`)."""
    return catalogable(discover(roots, progress=progress), report)


def catalogable(found: Sequence[Found], report: ScanReport) -> list[Found]:
    """``found`` less the names that are not UTF-8 on disk, which go into ``report.errors`` instead
    (no catalog, nor JSON, can store them)."""
    kept = []
    for f in found:
        try:
            str(f.path).encode("utf-8")  # a name that is not UTF-8 decodes to lone surrogates
        except UnicodeEncodeError:
            shown = os.fsencode(f.path).decode("utf-8", "backslashreplace")
            report.errors.append((shown, f"{shown}: file name is not valid UTF-8; rename it to catalog it"))
        else:
            kept.append(f)
    return kept


def plan(found: Sequence[Found], known: Mapping[str, ScannedRow]) -> ScanPlan:
    """What to read of ``found``, given the rows under the roots: a row whose path, size and mtime
    are unchanged is skipped unless an older probe described it (probed again) or it lacks hashes
    (read again); an unchanged file whose sidecars changed has only those read."""
    work = ScanPlan()
    for f in found:
        row = known.get(str(f.path))
        if row is not None and row.status != "missing" and (row.size, row.mtime) == (f.size, f.mtime):
            if row.lacking_hashes:
                work.lacking.add(f.path)
            elif row.probed_with >= PROBE_VERSION:
                work.unchanged += 1
                if row.sidecar_seen != f.sidecars and (f.sidecars or row.sidecar_seen):
                    work.beside.append(f)
                continue
            else:
                work.stale.add(f.path)
        work.todo.append(f)
    return work


def vanished(rows: Mapping[str, ScannedRow], found: set[str]) -> tuple[list[int], int]:
    """Of the rows under the roots (:func:`~loradex.registry.queries.scanned.scanned_under`): the ids
    of those whose file is gone (not found, and not there: a file that exists but was not found, now
    inside a model folder, say, is not missing), and how many were missing already."""
    gone = [
        row.id
        for path, row in rows.items()
        if row.status != "missing" and path not in found and not os.path.lexists(path)
    ]
    return gone, sum(row.status == "missing" for row in rows.values())


def unchanged_scan(
    catalog: str | os.PathLike[str] | None, roots: Sequence[Path], *, progress: Progress | None = None
) -> ScanReport | None:
    """:func:`.scan.scan`'s report on ``roots`` when that scan would have nothing to do — every
    root is a scan root already, every file found is unchanged and has every hash from this
    probe, no sidecar changed, no row under the roots lost its file — with the roots' scan time
    written, as that scan writes it (tried again, as it is, while another writer holds the lock).
    None otherwise, having written nothing, and when the catalog is not a SQLite file that
    exists (a server's, a new one): the full scan then.

    The walk (:func:`.discovery.changes`) is given the rows a scan would leave alone, loaded in one
    query, and leaves every file one of them describes as a path in a set: an unchanged library
    costs its ``stat`` calls, a set lookup per file and that query.

    Raises:
        CatalogError: as :func:`.reading.open_reader` (a damaged or foreign catalog file).
    """
    began = time.perf_counter()
    path = sqlite_file(catalog_url(catalog))
    if path is None or not path.exists():
        return None
    report = ScanReport(roots=[str(r) for r in roots])
    with open_reader(catalog, write=True) as writer:
        params: dict[str, Any] = {}
        names = in_list("root", (stored(r, writer.folder) for r in report.roots), params)
        if len(list(writer.rows(f"SELECT path FROM scan_root WHERE path IN {names}", params))) < len(set(roots)):
            return None
        walked = changes(roots, settled_under(writer, roots, PROBE_VERSION), progress=progress)
        if not _nothing_to_do(writer, roots, walked, report):
            return None
        report.duplicates = duplicates_touching(writer, roots)
        params["now"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores a DateTime in SQLite

        def record() -> None:  # the first statement of its transaction: a failed try leaves nothing to undo
            writer.execute(f"UPDATE scan_root SET last_scan_at = :now WHERE path IN {names}", params)
            writer.commit()

        retried(record, (sqlite3.OperationalError,))
    report.elapsed = time.perf_counter() - began
    if progress:
        progress(ProgressEvent("done", 0, 0, unit="bytes"))
    return report


def _nothing_to_do(writer: Reader, roots: Sequence[Path], walked: Changes, report: ScanReport) -> bool:
    """Whether the full scan would find nothing to do after ``walked``; its counts go into ``report``."""
    found = catalogable(walked.found, report)
    if any(f.error is None for f in found):
        return False  # a file or model folder new or changed since its row was written
    counts = under_counts(writer, roots)
    if not found and len(walked.settled) == counts.present:  # every present row seen as it is: the usual rescan
        report.unchanged, report.missing = len(walked.settled), counts.missing
        return True
    # Files that could not be examined, or rows the walk did not see: decided row by row, as the full scan does.
    known = scanned_under(writer, roots)
    work = plan(found, known)
    gone, report.missing = vanished(known, walked.settled | {str(f.path) for f in found})
    report.unchanged = len(walked.settled) + work.unchanged
    return not (work.todo or work.beside or gone)
