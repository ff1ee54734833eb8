"""Atomic outputs: a file or folder appears complete under its name, or not at all.

Every output is written to a hidden temp beside its target (``.<name>.*.tmp``) and renamed
onto it only once complete and fsynced; on any failure, Ctrl-C included, the temp is removed
and the target left as it was. Each temp is ``flock``-ed while its writer lives, so a writer
that was killed (SIGKILL, OOM) leaves a temp that the next write of the same target reclaims,
and two writers of one target never remove each other's work.

Shared by every operation that writes -- convert, bake, mix and extract through
:func:`atomic_path` and :class:`~.writer.SafetensorsWriter`, rebuild through
:func:`scratch_dir` -- and by any other output that must never be seen half-written. Inputs
are protected: :func:`check_target` refuses an output path that leads to one of them, and
so are SQLite databases (a catalog, its backups) with their side files, and anything that
is not a regular file (a device node, a FIFO, a socket), whichever operation writes.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from loradex.adapters.errors import ArtifactNotFoundError, DiskSpaceError, LoradexError, OutputError, UnsupportedError

__all__ = [
    "atomic_path",
    "check_target",
    "create_temp_file",
    "fsync_dir",
    "is_sqlite_database",
    "output_error",
    "scratch_dir",
]

# mkstemp/mkdtemp create private (0600/0700) entries; outputs should get the usual
# permissions. Read the umask once, at import, while nothing else can race on it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)

_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

#: The first bytes of every SQLite database file.
_SQLITE_MAGIC = b"SQLite format 3\0"
#: The files SQLite keeps beside a database ``X``: ``X-wal``, ``X-shm``, ``X-journal``.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
#: What a file that is not regular is called in a refusal.
_FILE_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
)

#: A temp younger than this is never reclaimed: it may be between creation and its lock.
_STALE_AFTER = 60.0


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str],
    *,
    directory: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[Path]:
    """Yield a hidden temp path beside ``target``; rename it onto ``target`` on success.

    For outputs that are not written by :class:`~.writer.SafetensorsWriter` (JSON configs, whole
    folders). On any exception, KeyboardInterrupt included, the temp is deleted and ``target``
    is untouched.

    Args:
        target: The final file or folder.
        directory: If true, the temp is an (empty) directory to fill and ``target`` must not
            exist yet; otherwise the temp is an empty file that replaces ``target``.
        protect: Paths that must never be overwritten.

    Returns:
        A context manager yielding the temp path.

    Raises:
        ValueError: ``target`` is protected, or (``directory=True``) already exists, or
            (``directory=False``) is a directory.
        ArtifactNotFoundError: The target's folder does not exist.
    """
    target = Path(target)
    check_target(target, protect, directory=directory)
    lock, tmp = _make_temp_dir(target) if directory else create_temp_file(target)
    try:
        yield tmp
        if directory:
            if os.path.lexists(target):  # appeared while we were writing
                raise ValueError(f"{target}: already exists; refusing to replace a folder")
        else:
            _fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_path(tmp)
        # Only a full disk is surely the output's fault; other OSErrors may be an input's.
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL and not isinstance(exc, LoradexError):
            raise output_error(exc, target) from exc
        raise
    finally:
        os.close(lock)  # only now: the temp stays locked until it is renamed or removed
    fsync_dir(target.parent)


@contextlib.contextmanager
def scratch_dir(beside: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden, locked temp folder beside ``beside``, removed afterwards whatever happens
    (and, if this process is killed, by the next write of ``beside``); for work whose result
    is compared, not kept, such as a rebuild."""
    lock, tmp = _make_temp_dir(Path(beside))
    try:
        yield tmp
    finally:
        _remove_path(tmp)
        os.close(lock)


def check_target(target: Path, protect: Iterable[str | os.PathLike[str]], *, directory: bool = False) -> None:
    """Refuse an output path before anything is written to it.

    Args:
        target: The output file or folder.
        protect: The operation's inputs; none of them may be overwritten, whatever path
            (symlink, hard link, bind mount) leads to it.
        directory: Whether the output is a folder (which must not exist yet) or a file (whose
            path must not be a folder).

    Raises:
        UnsupportedError: ``target`` is one of ``protect``, an existing folder, (for a
            folder output) exists at all, is not a regular file, or is a SQLite database or
            one of its side files.
    """
    resolved = target.resolve()
    for item in protect:
        guarded = Path(item)
        same = guarded.resolve() == resolved
        if not same and guarded.exists() and target.exists():
            same = os.path.samefile(guarded, target)  # hard links, bind mounts
        if same:  # the input is named only when spelled otherwise than the output (a link)
            also = "" if guarded.resolve() == resolved else f" {guarded}"
            raise UnsupportedError(f"is the input file{also}; refusing to overwrite an input", path=target)
    if directory and os.path.lexists(target):
        raise UnsupportedError("already exists; refusing to replace a folder", path=target)
    if not directory and target.is_dir():
        raise UnsupportedError("is a directory, expected a file path", path=target)
    _refuse_special(target)


def _refuse_special(target: Path) -> None:
    """Refuse a file no output may replace, whatever the operation and whatever the catalog in
    use: a device node, FIFO or socket (replacing ``/dev/null`` breaks the system; opening a
    FIFO blocks), and a SQLite database or one of its side files -- a catalog, its copy made
    before a migration, its WAL -- which an output would destroy with no way back."""
    try:
        mode = os.stat(target).st_mode
    except OSError:  # nothing there (or a dangling link): nothing to destroy
        mode = None
    if mode is not None:
        kind = next((name for test, name in _FILE_KINDS if test(mode)), None)
        if kind is not None:
            raise UnsupportedError(f"is {kind}, not a regular file; refusing to replace it", path=target)
        if is_sqlite_database(target):
            raise UnsupportedError(
                "is a SQLite database (a catalog or its backup); refusing to overwrite it", path=target
            )
    name = target.name
    for suffix in _SQLITE_SIDE_FILES:
        if name.endswith(suffix) and is_sqlite_database(target.with_name(name[: -len(suffix)])):
            raise UnsupportedError(
                f"is the {suffix[1:]} file of the SQLite database {name[: -len(suffix)]}; refusing to overwrite it",
                path=target,
            )


def is_sqlite_database(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts as a SQLite database does (never opens
    anything else: a FIFO would block)."""
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as f:
            return f.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def output_error(exc: OSError, target: Path) -> OutputError:
    """A failed write of ``target`` in words a user can act on (the caller has cleaned up):
    :class:`~loradex.adapters.errors.DiskSpaceError` for a full disk or quota, else
    :class:`~loradex.adapters.errors.OutputError` with the system's reason."""
    if exc.errno in _DISK_FULL:
        return DiskSpaceError(
            "the disk filled up while writing; nothing was written (the partial output was removed)", path=target
        )
    return OutputError(f"cannot write ({exc.strerror or exc}); nothing was written", path=target)


def create_temp_file(target: Path) -> tuple[int, Path]:
    """A new hidden temp file beside ``target`` (``.<name>.*.tmp``), for a writer to rename
    onto ``target`` once complete.

    The file gets the permissions of a normal output and stays ``flock``-ed through the
    returned descriptor, so that no other writer reclaims it while it exists; stale temps of
    ``target`` left by killed writers are removed first.

    Returns:
        (open read-write descriptor, path); the caller closes the descriptor after the rename.

    Raises:
        ArtifactNotFoundError: The target's folder does not exist.
        OutputError: The temp cannot be created (permissions, full disk).
    """
    _require_parent(target)
    _reclaim_stale_temps(target)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise output_error(exc, target) from exc
    os.chmod(name, 0o666 & ~_UMASK)
    _lock_temp(fd)
    return fd, Path(name)


def _make_temp_dir(target: Path) -> tuple[int, Path]:
    """A new hidden temp folder beside ``target``: (locked descriptor of the folder, path)."""
    _require_parent(target)
    _reclaim_stale_temps(target)
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise output_error(exc, target) from exc
    os.chmod(path, 0o777 & ~_UMASK)
    fd = os.open(path, os.O_RDONLY)
    _lock_temp(fd)
    return fd, path


def _lock_temp(fd: int) -> None:
    """Mark a temp as in use by this process: an exclusive ``flock`` that the kernel drops
    when the process ends, however it ends (SIGKILL, OOM killer included). Best effort: where
    the file system has no locks (some network shares), nothing is reclaimed there either."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _reclaim_stale_temps(target: Path) -> None:
    """Delete temps of ``target`` that writers left when they were killed before cleaning up:
    those nobody holds locked and that are older than a minute. A live writer's temp is
    locked, so two writers of one target never remove each other's work."""
    if fcntl is None:  # pragma: no cover - no flock (Windows): leftovers stay
        return
    for tmp in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            if time.time() - tmp.lstat().st_mtime < _STALE_AFTER:
                continue
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _remove_path(tmp)
        except OSError:
            pass  # held by a live writer
        finally:
            os.close(fd)


def _require_parent(target: Path) -> None:
    parent = target.parent
    if not parent.is_dir():
        raise ArtifactNotFoundError("output folder does not exist", path=parent)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename into folder ``path`` durable (best effort: not every platform can)."""
    with contextlib.suppress(OSError):
        _fsync_path(path)
