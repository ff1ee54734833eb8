"""Re-hashing catalogued files to find the ones whose bytes changed behind the catalog's back.

Reading what to check (:func:`to_check`) and re-hashing (:func:`rehash`) need no database layer,
so ``loradex verify`` shows its progress at once and opens the catalog for writing
(:func:`record`) only when it has something to record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loradex.adapters.io.hashing import FileHashes, hash_file
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.registry.queries.lookup import batched
from loradex.registry.queries.reading import Reader, as_reader, in_list
from loradex.registry.store.paths import absolute

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

__all__ = ["VerifyChange", "VerifyReport", "record", "rehash", "to_check", "verify"]

#: (id, path, sha256, tensor hash) of a row to re-hash.
Checked = tuple[int, str, "str | None", "str | None"]


@dataclass(frozen=True)
class VerifyChange:
    """A file whose bytes no longer match the catalog."""

    artifact_id: int
    path: str
    old_sha256: str | None
    new_sha256: str
    same_weights: bool  #: the tensor hash still matches: only metadata was edited


@dataclass
class VerifyReport:
    """What :func:`verify` found: ``checked`` files re-hashed, of which ``changed``."""

    checked: int = 0
    changed: list[VerifyChange] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def clean(self) -> bool:
        """Every file was there and as catalogued."""
        return not (self.changed or self.missing or self.errors)


def verify(
    engine: Engine, *, artifact_ids: Iterable[int] | None = None, workers: int = 4, progress: Progress | None = None
) -> VerifyReport:
    """Re-hash the files of ok rows (always reading them), report what changed, and record it.

    A file that is gone becomes ``missing`` (as a scan would mark it). A file whose bytes
    changed (an edit in place with its mtime restored, bit rot: what a scan, which trusts size
    and mtime, cannot see) becomes ``error``, saying so, so that no operation or card uses the
    old hashes for it; its size/mtime stamp is cleared, so the next ``scan`` reads it again and
    records the new contents (back to ``ok``).

    Args:
        engine: the catalog.
        artifact_ids: only these rows (default: every ok row).
        workers: threads that hash.
        progress: called with ``verify`` events, then ``done``.

    Returns:
        A :class:`VerifyReport`.
    """
    from loradex.registry.store.db import session as open_session

    with open_session(engine) as session:
        rows = to_check(session, artifact_ids=artifact_ids)
    report = rehash(rows, workers=workers, progress=progress)
    record(engine, report)
    return report


def to_check(source: Reader | Session, *, artifact_ids: Iterable[int] | None = None) -> list[Checked]:
    """The ok rows to re-hash (only ``artifact_ids`` when given), by path."""
    reader = as_reader(source)
    params: dict[str, Any] = {}
    where = "status = 'ok'"
    if artifact_ids is not None:
        where += f" AND id IN {in_list('id', artifact_ids, params)}"
    return [
        (ident, absolute(path, reader.folder), sha, tensor)
        for ident, path, sha, tensor in reader.rows(
            f"SELECT id, path, sha256, tensor_hash FROM artifact WHERE {where} ORDER BY path", params
        )
    ]


def rehash(rows: list[Checked], *, workers: int = 4, progress: Progress | None = None) -> VerifyReport:
    """Re-hash each row's file: what is missing, unreadable or changed (nothing is recorded)."""
    start = time.perf_counter()
    report = VerifyReport()

    def hashed(row: Checked) -> tuple[Checked, FileHashes | str | None]:
        if not os.path.exists(row[1]):
            return row, None
        try:
            return row, hash_file(row[1])
        except OSError as exc:
            return row, " ".join(str(exc).split())

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, ((ident, path, sha, tensor), got) in enumerate(pool.map(hashed, rows), 1):
            if got is None:
                report.missing.append(path)
            elif isinstance(got, str):
                report.errors.append((path, got))
            else:
                report.checked += 1
                if got.sha256 != sha:
                    report.changed.append(
                        VerifyChange(ident, path, sha, got.sha256, tensor is not None and got.tensor_hash == tensor)
                    )
            if progress:
                progress(ProgressEvent("verify", done, len(rows), path))
    report.elapsed = time.perf_counter() - start
    if progress:
        progress(ProgressEvent("done", len(rows), len(rows)))
    return report


def record(engine: Engine, report: VerifyReport) -> None:
    """Mark what ``report`` found: missing files ``missing``, changed ones ``error`` (see :func:`verify`)."""
    from sqlalchemy import update
    from sqlmodel import col

    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact

    with open_session(engine) as s:
        for part in batched(report.missing, 1000):  # a statement's parameters are limited
            s.exec(update(Artifact).where(col(Artifact.path).in_(part)).values(status="missing"))
        for change in report.changed:
            what = "its metadata was edited (same weights)" if change.same_weights else "its bytes changed"
            s.exec(
                update(Artifact)
                .where(col(Artifact.id) == change.artifact_id)
                .values(
                    status="error",
                    mtime=0.0,
                    error=f"{change.path}: {what} since it was catalogued (sha256 {(change.old_sha256 or '')[:12]}… "
                    f"now {change.new_sha256[:12]}…); `loradex scan` records the new contents",
                )
            )
        s.commit()
