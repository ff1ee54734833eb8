"""Catalog failures in words a user can act on: a database error becomes one line naming the
catalog and what to do (a full disk, a damaged file, a read-only file), never SQLAlchemy's
"Background on this error" text.

SQLite says what went wrong through its error codes (``sqlite3.Error.sqlite_errorname``);
other backends' errors keep their own first line. No SQLAlchemy import: the read-only commands
name the failures of their plain ``sqlite3`` connection here too (:mod:`.reading`).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from loradex.registry.errors import CatalogError

from .location import backups_of

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["catalog_failure", "failures_named", "named_failure", "reason_of", "sqlite_failure"]

#: Below this much free space, an I/O error on the catalog is taken for a full disk (SQLite
#: reports a -shm that cannot grow as a plain I/O error).
_NEARLY_FULL = 1 << 20


def catalog_failure(exc: Exception, url: URL) -> CatalogError:
    """``exc``, raised by the catalog at ``url``, as one line (see the module docstring)."""
    named = named_failure(exc, url)
    return named or CatalogError(f"catalog error: {reason_of(exc)}", path=url.render_as_string(hide_password=True))


def reason_of(exc: Exception) -> str:
    """The database's own reason, on one line, without SQLAlchemy's statement and link."""
    orig = _driver_error(exc)
    return " ".join(str(orig).split()) or type(orig).__name__


def _driver_error(exc: Exception) -> Exception:
    """The database driver's own exception (SQLAlchemy wraps it as ``.orig``)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, Exception) else exc


def named_failure(exc: Exception, url: URL) -> CatalogError | None:
    """The line for a SQLite catalog that is full, damaged or read-only; None for anything else."""
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return sqlite_failure(exc, Path(url.database))


def sqlite_failure(exc: Exception, path: Path) -> CatalogError | None:
    """:func:`named_failure` for the SQLite catalog file ``path``."""
    orig = _driver_error(exc)
    if not isinstance(orig, sqlite3.Error):
        return None
    reason = reason_of(exc)
    code = orig.sqlite_errorname or ""
    if code.startswith("SQLITE_FULL") or (code.startswith("SQLITE_IOERR") and _nearly_full(path)):
        return CatalogError(
            f"the disk holding the catalog is full ({reason}): this command's last change was "
            "rolled back, and what it had committed before stays (a scan keeps its finished "
            "batches); free some space and run it again",
            path=path,
        )
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        backups = backups_of(path)
        restore = (
            f"restore the automatic backup copy {backups[0]} (made before the last upgrade; later "
            "changes are not in it), or "
            if backups
            else "there is no automatic backup copy; "
        )
        return CatalogError(
            f"the catalog is damaged ({reason}); {restore}recover what is left with "
            f"`sqlite3 {path} .recover | sqlite3 recovered.db`",
            path=path,
        )
    if code.startswith("SQLITE_READONLY") or (code.startswith("SQLITE_CANTOPEN") and _unwritable(path)):
        return CatalogError(
            f"the catalog is read-only ({reason}): reading works (list, show, check, dupes); "
            "changing it needs write access to the file and its folder",
            path=path,
        )
    return None


def _unwritable(path: Path) -> bool:
    """Whether the catalog file exists but it or its folder cannot be written (a read-only
    mount: SQLite then cannot make the ``-wal``/``-shm`` files a write needs)."""
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _nearly_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < _NEARLY_FULL
    except OSError:
        return False


@contextmanager
def failures_named(engine: Engine) -> Iterator[None]:
    """Turn a database error raised inside the block into :func:`catalog_failure`'s line."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise catalog_failure(exc, engine.url) from exc
