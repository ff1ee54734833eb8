"""A scan's results into catalog rows, a batch per commit: each file matched to its row by path,
else by bytes or weights to the row of a file that is gone (a move), else a new row; the counts
go into the :class:`.scan_report.ScanReport`. A commit another writer blocks is retried from the start."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard, TypeVar

from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from loradex.adapters.io.embedded_hashes import hash_mismatches
from loradex.adapters.io.hashing import EMPTY_SHA256, FileHashes
from loradex.adapters.model.artifact import ArtifactInfo
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, CivitaiRecord, ScanRoot, utcnow
from loradex.registry.store.retries import retried

from .discovery import Found, artifact_name
from .lines import decide_line
from .records import ModuleValues, apply_error, fill_probe, lead_with, replace_modules
from .scan_plan import root_prefix
from .scan_report import ScanReport
from .sidecars import Sidecars, apply_sidecars

__all__ = ["FileResult", "commit_batch", "retrying"]

T = TypeVar("T")


@dataclass
class FileResult:
    """One artifact as a worker examined it: probed and hashed, or the one-line reason it could not be."""

    found: Found
    info: ArtifactInfo | None = None
    hashes: FileHashes | None = None
    sidecars: Sidecars | None = None
    error: str | None = None
    refused: bool = False  #: the error is a pickle refused as needing code execution
    gone: bool = False
    reprobe: bool = False  #: an unchanged file probed again (hashes not recomputed)
    rehash: bool = False  #: an unchanged file read again for hashes its row lacks


def retrying(engine: Engine, work: Callable[[Session], T]) -> T:
    """``work`` in a session of its own, committed; run again from the start when another writer
    (a TUI, a second scan) holds the lock past the busy timeout or wins a race on a unique key
    (a root or path both inserted): the next try re-reads what that writer committed."""

    def once() -> T:
        with open_session(engine) as s:
            result = work(s)
            s.commit()
        return result

    return retried(once, (OperationalError, IntegrityError))


def commit_batch(engine: Engine, batch: list[FileResult], report: ScanReport) -> None:
    def store(s: Session) -> ScanReport:
        delta = ScanReport()  # fresh on each try: a failed try's counts are not kept
        _store_batch(s, [r for r in batch if not r.gone], delta)
        return delta

    report._merge(retrying(engine, store))


def _store_batch(s: Session, batch: list[FileResult], delta: ScanReport) -> None:
    """The batch's rows in two passes: every row filled first and the new ones inserted in one
    flush, their module rows in one statement; then what needs the ids (sidecar records and
    previews) for the rows that have sidecars. A row's line is decided as soon as what it rests
    on is in place, so that it is written with the row, not updated after it."""
    rows = {
        a.path: a for a in s.exec(select(Artifact).where(col(Artifact.path).in_([str(r.found.path) for r in batch])))
    }
    # Rows sharing bytes or weights with the batch, fetched once: move and copy detection.
    shas = {r.hashes.sha256 for r in batch if r.hashes} - {EMPTY_SHA256}
    tensors = {r.hashes.tensor_hash for r in batch if r.hashes and r.hashes.tensor_hash} - {EMPTY_SHA256}
    kin = (
        list(
            s.exec(
                select(Artifact)
                .where(or_(col(Artifact.sha256).in_(shas), col(Artifact.tensor_hash).in_(tensors)))
                .order_by(col(Artifact.id))
            )
        )
        if shas or tensors
        else []
    )
    # Every hash a row of kin has held: a file whose hashes are not among them has no kin, and
    # is not compared with each row (a batch's new rows join kin: that was quadratic in the batch).
    held = {k.sha256 for k in kin} | {k.tensor_hash for k in kin}
    claimed: set[int] = set()  # rows (by object id: a new one has no row id yet) this batch took
    absent = _absent_roots(s)
    filled: list[tuple[Artifact, bool, list[ModuleValues]]] = []
    later: list[tuple[Artifact, Sidecars]] = []
    for result in batch:
        found, hashes, path = result.found, result.hashes, str(result.found.path)
        row = rows.get(path)
        if (
            row is None
            and _kin_may_hold(hashes, held)
            and (row := _moved_from(kin, hashes, claimed, absent)) is not None
        ):
            delta.moved += 1
            delta.notes.append((path, f"moved from {row.path}"))
            row.path, row.name = path, artifact_name(found)
        elif row is None:
            row = _new_row(path, artifact_name(found))
            delta.added += 1
            twin = (
                next((k.path for k in kin if _same_weights(k, hashes)), None) if _kin_may_hold(hashes, held) else None
            )
            if twin is not None:
                delta.same_weights.append((twin, path))
        elif result.reprobe:
            delta.reprobed += 1
        elif result.rehash:
            delta.rehashed += 1
        else:
            delta.updated += 1
            if hashes and _same_weights(row, hashes):
                delta.notes.append((path, "same weights, metadata changed"))
        row.size, row.mtime, row.is_dir = found.size, found.mtime, found.is_dir
        row.sidecar_seen = found.sidecars
        if hashes is not None:
            row.sha256, row.autov2, row.tensor_hash, row.model_hash = (
                hashes.sha256,
                hashes.autov2,
                hashes.tensor_hash,
                hashes.model_hash,
            )
            row.autov3, row.blake3, row.crc32 = hashes.autov3, hashes.blake3, hashes.crc32
            row.hashed_at = utcnow()
        existed = row.id is not None
        modules: list[ModuleValues] = []
        if result.error is not None or result.info is None:
            apply_error(row, result.error or "unreadable", refused=result.refused)
            delta.errors.append((path, result.error or "unreadable"))
            delta.refused += result.refused
        else:
            modules = fill_probe(s, row, result.info)
            if existed:  # the file's own words are read again; Civitai's (kept on its record) still lead
                lead_with(row, _civitai_words(s, row.id))
            if not row.is_dir:
                delta.hash_mismatches += [
                    (path, str(m)) for m in hash_mismatches(result.info.metadata, row.tensor_hash)
                ]
        s.add(row)
        if result.sidecars is not None and result.info is not None:
            later.append((row, result.sidecars))
        else:
            decide_line(s, row)
        filled.append((row, existed, modules))
        claimed.add(id(row))
        kin.append(row)
        held.update((row.sha256, row.tensor_hash))
    s.flush()  # the new rows, inserted together (their ids for the module rows)
    replace_modules(
        s,
        {row.id: modules for row, _, modules in filled if row.id is not None},
        existing=[row.id for row, existed, _ in filled if existed and row.id is not None],
    )
    for row, sidecars in later:
        apply_sidecars(s, row, sidecars)
        decide_line(s, row)


def reimport_sidecars(s: Session, *, read: list[tuple[Found, Sidecars]]) -> None:
    """Import the sidecars of unchanged files whose sidecars changed (the rows stay otherwise as they are)."""
    rows = {a.path: a for a in s.exec(select(Artifact).where(col(Artifact.path).in_([str(f.path) for f, _ in read])))}
    for found, sidecars in read:
        row = rows.get(str(found.path))
        if row is None:
            continue
        apply_sidecars(s, row, sidecars)
        row.sidecar_seen = found.sidecars
        s.add(row)
        decide_line(s, row)


def _civitai_words(s: Session, artifact_id: int | None) -> list[str]:
    words = s.exec(select(CivitaiRecord.trained_words).where(col(CivitaiRecord.artifact_id) == artifact_id)).first()
    return list(words or [])


def _new_row(path: str, name: str) -> Artifact:
    # Every default factory's value given explicitly: pydantic inspects a factory's signature on
    # each call, which made a new row cost 1.4 ms instead of 0.3 ms (and half again for the last two).
    return Artifact(
        path=path,
        name=name,
        kind="unknown",
        format="unknown",
        base="unknown",
        base_evidence=[],
        base_claims={},
        ranks=[],
        algorithms=[],
        components=[],
        trigger_words=[],
        training_metadata={},
        sidecar={},
        sources=[],
        created_at=utcnow(),
    )


def _moved_from(kin: list[Artifact], hashes: FileHashes, claimed: set[int], absent: tuple[str, ...]) -> Artifact | None:
    """The row whose file is gone and whose bytes (else weights) were these: the file moved.

    A file under a scan root that is itself absent (an unplugged drive, an unmounted share)
    is not gone, only out of reach: a copy elsewhere must not take its row.
    """
    for same in (lambda k: k.sha256 == hashes.sha256 and k.sha256 != EMPTY_SHA256, lambda k: _same_weights(k, hashes)):
        for row in kin:
            if (
                id(row) not in claimed
                and same(row)
                and not os.path.lexists(row.path)
                and not row.path.startswith(absent)
            ):
                return row
    return None


def _kin_may_hold(hashes: FileHashes | None, held: set[str | None]) -> TypeGuard[FileHashes]:
    """Whether any row of kin can share bytes or weights with a file of these ``hashes``."""
    return hashes is not None and (hashes.sha256 in held or hashes.tensor_hash in held)


def _absent_roots(s: Session) -> tuple[str, ...]:
    return tuple(root_prefix(Path(p)) for p in s.exec(select(ScanRoot.path)) if not os.path.exists(p))


def _same_weights(row: Artifact, hashes: FileHashes) -> bool:
    """Equal tensor bytes in different files (a metadata edit); empty data says nothing."""
    return (
        bool(row.tensor_hash) and row.tensor_hash == hashes.tensor_hash != EMPTY_SHA256 and row.sha256 != hashes.sha256
    )
