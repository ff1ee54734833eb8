"""Re-hashing catalogued files to find the ones whose bytes changed behind the catalog's back."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from loradex.adapters.hashing import FileHashes, hash_file

from .db import session as open_session
from .models import Artifact
from loradex.adapters.progress import Progress, ProgressEvent

__all__ = ["VerifyChange", "VerifyReport", "verify"]


@dataclass
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def verify(engine: Engine, *, artifact_ids: Iterable[int] | None = None, workers: int = 4,
           progress: Progress | None = None) -> VerifyReport:
    """Re-hash the files of ok rows (always reading them) and report what changed.

    Report only: rows are left as they are, so the user sees the change and decides (a
    rescan records the new hashes of files whose size or mtime changed; a file edited in
    place with its mtime restored is exactly what this finds).

    Args:
        engine: the catalog.
        artifact_ids: only these rows (default: every ok row).
        workers: threads that hash.
        progress: called with ``verify`` events, then ``done``.

    Returns:
        A :class:`VerifyReport`.
    """
    start = time.perf_counter()
    query = select(Artifact.id, Artifact.path, Artifact.sha256, Artifact.tensor_hash).where(Artifact.status == "ok")
    if artifact_ids is not None:
        query = query.where(Artifact.id.in_(list(artifact_ids)))
    with open_session(engine) as s:
        rows = s.exec(query.order_by(Artifact.path)).all()
    report = VerifyReport()

    def rehash(row: tuple[int, str, str | None, str | None]) -> tuple[tuple, FileHashes | str | None]:
        if not os.path.exists(row[1]):
            return row, None
        try:
            return row, hash_file(row[1])
        except OSError as exc:
            return row, " ".join(str(exc).split())

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, ((ident, path, sha, tensor), got) in enumerate(pool.map(rehash, rows), 1):
            if got is None:
                report.missing.append(path)
            elif isinstance(got, str):
                report.errors.append((path, got))
            else:
                report.checked += 1
                if got.sha256 != sha:
                    report.changed.append(VerifyChange(ident, path, sha, got.sha256,
                                                       tensor is not None and got.tensor_hash == tensor))
            if progress:
                progress(ProgressEvent("verify", done, len(rows), path))
    report.elapsed = time.perf_counter() - start
    if progress:
        progress(ProgressEvent("done", len(rows), len(rows)))
    return report
