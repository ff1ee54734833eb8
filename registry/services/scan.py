"""Indexing folders into the catalog: probe and hash what discovery found changed, record it.

A rescan of an unchanged tree reads no file: a row whose path, size and mtime are unchanged
is skipped on ``stat`` alone (rescans that re-hash everything are the top complaint of
catalog users). New and changed files are hashed in a thread pool (hashlib runs outside the
GIL) and probed one at a time (Python that holds it); results are committed in batches, so a
scan that is killed keeps what it finished and the next one resumes. Moved files keep their row
(and with it notes, tags and lineage); vanished files become ``missing`` rows, never deleted ones.

Progress goes through a callback; nothing here prints.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loradex.adapters import probe
from loradex.adapters.errors import LoradexError, RefusedFileError
from loradex.adapters.io.hashing import FileHashes, hash_file
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.registry.queries.reading import as_reader
from loradex.registry.queries.scanned import duplicates_touching, scanned_under
from loradex.registry.store.models import Artifact, ScanRoot, utcnow

from .discovery import Found
from .scan_plan import ScanPlan, existing_roots, plan, vanished, walk
from .scan_report import ScanReport
from .scan_rows import FileResult, commit_batch, reimport_sidecars, retrying
from .sidecar_names import signature_names
from .sidecars import read_sidecars

__all__ = ["scan"]

#: One probe at a time. Probing is Python (header JSON, key parsing) and holds the GIL; hashing
#: is hashlib, which releases it. Threads that probe at once only fight over the GIL (a cold
#: scan of 1000 small LoRAs measured 6.8 s with four probing, 5.3 s serialised; re-measured once
#: probe was three times cheaper, 2,000 files: 11.7-12.5 ms/file unlocked vs 9.7-10.5 locked), while
#: the threads keep hashing big checkpoints in parallel.
_PROBING = threading.Lock()
#: A batch closes at this many bytes read, whatever its count of files.
_BATCH_BYTES = 4 << 30


def scan(
    roots: Sequence[Path],
    *,
    engine: Engine,
    workers: int = 4,
    batch_size: int = 256,
    progress: Progress | None = None,
    hashes: Mapping[Path, FileHashes] | None = None,
    remember: bool = True,
) -> ScanReport:
    """Index the artifacts under ``roots`` into the catalog, incrementally.

    Unchanged rows (same path, size and mtime) are skipped without reading the file, unless an
    older probe described them (then they are probed again, not re-hashed) or they were hashed
    before BLAKE3 and CRC-32 were kept (then read again, once). New and changed
    artifacts are hashed in ``workers`` threads and probed one at a time; a file that cannot be read
    becomes a row with status ``error`` and its one-line message. A new path whose sha256 (or
    tensor hash) equals a row whose file is gone takes over that row (a move: notes, tags and
    lineage follow), unless that file's scan root is itself absent (an unplugged drive). Rows
    under the roots whose files vanished become ``missing``; sidecars (A1111 ``.json``,
    ``.civitai.info``, Lora Manager's ``.metadata.json``, Stability Matrix's ``.cm-info.json``,
    previews) are imported into empty user fields and the Civitai record. An unchanged file whose
    sidecars were added or changed since (their names and mtimes, from the same directory walk)
    has only those read again.

    Results are committed every ``batch_size`` artifacts (sooner where they add up to 4 GiB),
    one session each: a scan killed mid-way keeps its finished batches and the next scan resumes
    where it stopped. An exception raised by ``progress`` aborts the scan the same way (use it
    to cancel).

    Args:
        roots: folders (or single files) to scan; each is recorded as a scan root (``remember``).
        engine: the catalog (:func:`loradex.registry.store.db.open_catalog`).
        workers: threads that hash (and take turns to probe).
        batch_size: artifacts per commit.
        progress: called with a :class:`ProgressEvent` for each step.
        hashes: hashes already known by absolute path (an operation's output, hashed while it
            was written): those files are not read to be hashed.
        remember: record ``roots`` as scan roots, the folders a rescan (the TUI's ``r``) walks
            again; False for files recorded one by one (an operation's output, a pulled file,
            an adapter a quick test used): artifacts, not roots.

    Returns:
        A :class:`ScanReport`.

    Raises:
        ArtifactNotFoundError: a root does not exist (nothing is marked missing then: an
            unmounted drive must not turn a whole library into missing rows).
    """
    began = time.perf_counter()
    roots = existing_roots(roots)
    report = ScanReport(roots=[str(r) for r in roots])
    found = walk(roots, report, progress)

    def start(s: Session) -> ScanPlan:
        if remember:
            _record_roots(s, roots)
        return plan(found, scanned_under(as_reader(s), roots))

    work = retrying(engine, start)
    report.unchanged += work.unchanged
    todo, beside = work.todo, work.beside
    _index(
        engine,
        todo,
        work.stale,
        work.lacking,
        report,
        workers=workers,
        batch_size=batch_size,
        progress=progress,
        hashes=hashes or {},
    )
    if beside:
        report.sidecars_read = len(beside)
        for start_at in range(0, len(beside), batch_size):
            chunk = beside[start_at : start_at + batch_size]
            read = [(f, read_sidecars(f.path, present=signature_names(f.path, f.is_dir, f.sidecars))) for f in chunk]
            retrying(engine, functools.partial(reimport_sidecars, read=read))

    def finish(s: Session) -> tuple[int, list[list[str]]]:
        missing = _mark_missing(s, roots, {str(f.path) for f in found})
        groups = duplicates_touching(s, roots)
        s.exec(update(ScanRoot).where(col(ScanRoot.path).in_(report.roots)).values(last_scan_at=utcnow()))
        return missing, groups

    report.missing, report.duplicates = retrying(engine, finish)
    report.elapsed = time.perf_counter() - began
    if progress:
        total = sum(f.size for f in todo)
        progress(ProgressEvent("done", total, total, unit="bytes"))
    return report


def _record_roots(s: Session, roots: Sequence[Path]) -> None:
    have = set(s.exec(select(ScanRoot.path).where(col(ScanRoot.path).in_([str(r) for r in roots]))).all())
    for root in roots:
        if str(root) not in have:
            s.add(ScanRoot(path=str(root), added_at=utcnow()))


def _index(
    engine: Engine,
    todo: list[Found],
    stale: set[Path],
    lacking: set[Path],
    report: ScanReport,
    *,
    workers: int,
    batch_size: int,
    progress: Progress | None,
    hashes: Mapping[Path, FileHashes],
) -> None:
    # One batch ahead: the workers hash and probe the next batch while this thread writes the
    # rows of the last. Overlapping once measured 1.7x slower (every row's statements stalled on
    # GIL hand-backs of the sqlite driver); a batch's rows are now a few statements, and
    # overlapping measured no slower than idling the workers. A kill loses the batch being
    # written and the one being read, never a committed one.
    # Progress in bytes, counted when a file is finished: a bar by files stood at 11/12 (or, after
    # discovery, at 12/12) for the minutes a big checkpoint took to hash.
    done, total = 0, sum(f.size for f in todo)
    if progress:
        progress(ProgressEvent("index", 0, total, unit="bytes"))
    batches = _batches(todo, batch_size)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="loradex-scan") as pool:

        def submit(chunk: list[Found]) -> list[Future[FileResult]]:
            return [
                pool.submit(
                    _examine, f, rehash=f.path not in stale, known=hashes.get(f.path), lacking=f.path in lacking
                )
                for f in chunk
            ]

        ahead = submit(batches[0]) if batches else []
        for k in range(len(batches)):
            futures, ahead = ahead, []
            try:
                batch = []
                for future in futures:
                    batch.append(future.result())
                    done += batch[-1].found.size
                    if progress:
                        progress(ProgressEvent("index", done, total, str(batch[-1].found.path), unit="bytes"))
                ahead = submit(batches[k + 1]) if k + 1 < len(batches) else []
                commit_batch(engine, batch, report)
            except BaseException:
                for future in futures + ahead:
                    future.cancel()
                raise


def _batches(todo: list[Found], size: int) -> list[list[Found]]:
    """``todo`` in batches of ``size`` files, or fewer where they add up to ``_BATCH_BYTES``: a
    killed scan of checkpoints loses minutes of hashing, not hours."""
    batches: list[list[Found]] = [[]]
    held = 0
    for f in todo:
        if batches[-1] and (len(batches[-1]) >= max(1, size) or held + f.size > _BATCH_BYTES):
            batches.append([])
            held = 0
        batches[-1].append(f)
        held += f.size
    return batches if todo else []


def _examine(
    found: Found, *, rehash: bool = True, known: FileHashes | None = None, lacking: bool = False
) -> FileResult:
    """Hash, probe and read sidecars of one artifact (in a worker thread). Never raises.

    Hashing comes first and in parallel: it reads the whole file, so the probe that follows
    (one at a time, see ``_PROBING``) finds the header in the page cache even on a slow share.
    A broken file still has bytes, and its hashes still find its moves and copies. Without
    ``rehash`` (an unchanged file an older probe described) the row keeps its hashes; ``known``
    hashes are taken as they are. ``lacking`` says the file is unchanged but read for hashes its
    row lacks (it counts as rehashed, not updated).
    """
    path, hashes = found.path, known
    if found.error is not None:  # discovery could not examine it: nothing here would open it
        return FileResult(found, error=found.error)
    if rehash and hashes is None:
        try:
            hashes = hash_file(path)
        except (OSError, LoradexError):
            pass  # the probe below fails too, and says why in words
    try:
        with _PROBING:
            info = probe(path)
        if rehash and hashes is None:
            hashes = hash_file(path)
        # Discovery listed the folder: a file with no sidecar there is not looked for one again.
        sidecars = (
            read_sidecars(path, present=signature_names(path, found.is_dir, found.sidecars)) if found.sidecars else None
        )
        return FileResult(found, info, hashes, sidecars, reprobe=not rehash, rehash=lacking)
    except Exception as exc:  # a bug in one reader must not end a scan of ten thousand files
        if not path.exists():
            return FileResult(found, gone=True)  # vanished since discovery: the next scan marks it missing
        message = (
            str(exc) if isinstance(exc, LoradexError) else " ".join(f"{path}: {type(exc).__name__}: {exc}".split())
        )
        return FileResult(
            found,
            hashes=hashes,
            error=message,
            refused=isinstance(exc, RefusedFileError),
            reprobe=not rehash,
            rehash=lacking,
        )


def _mark_missing(s: Session, roots: Sequence[Path], found: set[str]) -> int:
    gone, already = vanished(scanned_under(as_reader(s), roots), found)
    for chunk in (gone[i : i + 500] for i in range(0, len(gone), 500)):
        s.exec(update(Artifact).where(col(Artifact.id).in_(chunk)).values(status="missing"))
    return len(gone) + already
