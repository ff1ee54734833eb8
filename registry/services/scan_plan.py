"""What a scan has to do, decided before any file is read: the walk of the roots against the
catalog's rows under them (:mod:`loradex.registry.queries.scanned`); and the scan with nothing
to do.

Rescanning an unchanged library is the common case (the TUI's ``r``, a scheduled ``loradex
scan``): every file found has its row with the same size, mtime and sidecars, and no row lost
its file. Then a scan reads no file and writes nothing but the roots' scan time, and
:func:`unchanged_scan` does all of it in SQL on plain ``sqlite3``: no SQLAlchemy, SQLModel, probe
or hashing import, so ``loradex scan`` of 20,000 unchanged files costs its ``stat`` calls and
the interpreter. Anything else is the full scan's (:func:`.scan.scan`), which decides with the
same :func:`plan` and :func:`vanished`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.model.probe import PROBE_VERSION
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.registry.queries import lookup
from loradex.registry.queries.reading import in_list, open_reader
from loradex.registry.queries.scanned import ScannedRow, scanned_under
from loradex.registry.store.location import catalog_url, sqlite_file
from loradex.registry.store.paths import stored

from .discovery import Found, discover
from .scan_report import ScanReport

if TYPE_CHECKING:
    from sqlmodel import Session

    from loradex.registry.queries.reading import Reader

__all__ = [
    "ScanPlan",
    "duplicates_touching",
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
    """The artifacts under ``roots`` (:func:`.discovery.discover`) that a catalog can hold; a name
    that is not UTF-8 on disk goes into ``report.errors`` instead (no catalog, nor JSON, can store it)."""
    found = []
    for f in discover(roots, progress=progress):
        try:
            str(f.path).encode("utf-8")  # a name that is not UTF-8 decodes to lone surrogates
        except UnicodeEncodeError:
            shown = os.fsencode(f.path).decode("utf-8", "backslashreplace")
            report.errors.append((shown, f"{shown}: file name is not valid UTF-8; rename it to catalog it"))
        else:
            found.append(f)
    return found


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


def vanished(rows: Mapping[str, ScannedRow], roots: Sequence[Path], found: set[str]) -> tuple[list[int], int]:
    """Of the rows under ``roots``: the ids of those whose file is gone (not found, and not there:
    a file that exists but was not found, now inside a model folder, say, is not missing), and how
    many were missing already. Prefixes are checked again here because SQLite's LIKE ignores ASCII case."""
    exact = tuple(root_prefix(r) for r in roots)
    inside = [(path, row) for path, row in rows.items() if path.startswith(exact) or Path(path) in roots]
    gone = [
        row.id for path, row in inside if row.status != "missing" and path not in found and not os.path.lexists(path)
    ]
    return gone, sum(row.status == "missing" for _, row in inside)


def duplicates_touching(source: Reader | Session, roots: Sequence[Path]) -> list[list[str]]:
    """The paths of each group of ok rows sharing a sha256 (:func:`.lookup.duplicates`) with a
    member under ``roots``."""
    prefixes, named = tuple(root_prefix(r) for r in roots), {str(r) for r in roots}
    return [
        [a.path for a in group]
        for group in lookup.duplicates(source)
        if any(a.path.startswith(prefixes) or a.path in named for a in group)
    ]


def unchanged_scan(
    catalog: str | os.PathLike[str] | None, roots: Sequence[Path], *, progress: Progress | None = None
) -> ScanReport | None:
    """:func:`.scan.scan`'s report on ``roots`` when that scan would have nothing to do — every
    root is a scan root already, every file found is unchanged and has every hash from this
    probe, no sidecar changed, no row under the roots lost its file — with the roots' scan time
    written, as that scan writes it. None otherwise, having written nothing, and when the catalog
    is not a SQLite file that exists (a server's, a new one): the full scan then.

    Raises:
        CatalogError: as :func:`.reading.open_reader` (a damaged or foreign catalog file).
    """
    began = time.perf_counter()
    path = sqlite_file(catalog_url(catalog))
    if path is None or not path.exists():
        return None
    report = ScanReport(roots=[str(r) for r in roots])
    found = walk(roots, report, progress)
    with open_reader(catalog, write=True) as writer:
        params: dict[str, Any] = {}
        names = in_list("root", (stored(r, writer.folder) for r in report.roots), params)
        if len(list(writer.rows(f"SELECT path FROM scan_root WHERE path IN {names}", params))) < len(set(roots)):
            return None
        known = scanned_under(writer, roots)
        work = plan(found, known)
        gone, report.missing = vanished(known, roots, {str(f.path) for f in found})
        if work.todo or work.beside or gone:
            return None
        report.unchanged = work.unchanged
        report.duplicates = duplicates_touching(writer, roots)
        params["now"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores a DateTime in SQLite
        writer.execute(f"UPDATE scan_root SET last_scan_at = :now WHERE path IN {names}", params)
        writer.commit()
    report.elapsed = time.perf_counter() - began
    if progress:
        progress(ProgressEvent("done", 0, 0, unit="bytes"))
    return report
