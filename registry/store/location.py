"""Where the catalog lives and whether a file there is one: the rule every front end follows,
and the checks made before anything opens it. Plain ``sqlite3`` and ``os`` only, so that the
commands that only read (``list``, ``show``, ``check``, ``dupes``) can find and vet their catalog
without importing SQLAlchemy (:mod:`.reading`).

The catalog is the one given (``--catalog``), else ``$LORADEX_CATALOG``, else ``catalog.db`` in
the user data folder (:func:`catalog_url`). Operations use a catalog only when one is *in use*
(:func:`catalog_in_use`), so that running them never creates a catalog file.
"""

from __future__ import annotations

import glob
import os
import sqlite3
from pathlib import Path

from loradex.adapters.io.atomic import is_sqlite_database
from loradex.registry.errors import CatalogError

ENV_VAR = "LORADEX_CATALOG"
#: The newest migration in ``migrations/versions``. A catalog already at this revision is read
#: without Alembic (importing it and reading the migration scripts costs ~0.1 s per command),
#: and without SQLAlchemy by the read-only commands; a test keeps it equal to Alembic's own head.
SCHEMA_HEAD = "0015"
_SQLITE_PREFIX = "sqlite:///"
#: Every connection that may write a SQLite catalog runs these first. The busy timeout makes
#: writers queue instead of failing with "database is locked".
SQLITE_PRAGMAS = ("PRAGMA busy_timeout=30000", "PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL")


def default_catalog_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("loradex")) / "catalog.db"


def catalog_url(catalog: str | os.PathLike[str] | None = None) -> str:
    """SQLAlchemy URL of the catalog: ``catalog`` (a path or URL), else ``$LORADEX_CATALOG``,
    else ``catalog.db`` in the user data dir."""
    value = str(catalog) if catalog is not None else os.environ.get(ENV_VAR) or str(default_catalog_path())
    if "://" in value:
        return value
    path = Path(value).expanduser().resolve()
    return f"{_SQLITE_PREFIX}{path}"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain SQLite URL (``sqlite:///PATH``, no driver, no query string); None for
    anything else (a server, ``sqlite+pysqlite://``, ``?mode=…``): those go through SQLAlchemy."""
    if not url.startswith(_SQLITE_PREFIX) or "?" in url or len(url) == len(_SQLITE_PREFIX):
        return None
    return Path(url[len(_SQLITE_PREFIX) :])


def catalog_in_use(catalog: str | os.PathLike[str] | None = None) -> bool:
    """Whether a catalog is in use: ``catalog`` or ``$LORADEX_CATALOG`` is given, or the
    default catalog file already exists.

    Args:
        catalog: the catalog the user named (``--catalog``), a path or SQLAlchemy URL.
    """
    return bool(catalog or os.environ.get(ENV_VAR)) or default_catalog_path().exists()


def check_sqlite_file(path: Path, *, create: bool) -> bool:
    """Whether the catalog file is new (to be made). Only a path where nothing exists is: an
    empty or foreign file is refused, never initialised, so that a lost catalog is not hidden
    behind a new, empty one.

    Raises:
        CatalogError: nothing there and ``create`` is False; a folder that does not exist; an
            empty file, a non-regular file or one that is not a SQLite database.
    """
    if os.path.lexists(path):
        _require_sqlite_file(path)
        return False
    if not create:
        raise CatalogError("no catalog here yet; `loradex scan DIR` creates it and adds files", path=path)
    if path == default_catalog_path().resolve():
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise CatalogError(
            f"the folder {path.parent} does not exist; create it or name another catalog file", path=path
        )
    return True


def readonly_uri(path: Path) -> str:
    """The ``sqlite3`` URI a read-only command opens the file by: ``mode=ro``; ``immutable=1``
    where its folder cannot be written (a read-only mount or folder), as a WAL catalog needs a
    ``-shm`` file beside it that could not be made there. Not when a ``-wal`` holds changes:
    immutable would skip them."""
    wal = Path(f"{path}-wal")
    immutable = not os.access(path.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size > 0)
    return f"{Path(os.path.abspath(path)).as_uri()}?{'immutable=1' if immutable else 'mode=ro'}"


def stored_revision(connection: sqlite3.Connection) -> str | None:
    """The schema revision a SQLite catalog records (None when it records none)."""
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: a new or foreign database
        return None
    return row[0] if row else None


def _require_sqlite_file(path: Path) -> None:
    if not path.is_file():
        raise CatalogError("is not a regular file, so not a catalog; name a catalog file", path=path)
    if path.stat().st_size == 0:
        raise CatalogError(
            f"is empty (0 bytes), not a catalog: the catalog was lost{_restore_hint(path)}, "
            "or delete the empty file and `loradex scan DIR` to start a new one",
            path=path,
        )
    if not is_sqlite_database(path):
        raise CatalogError(
            "is not a SQLite database, so not a loradex catalog; name the catalog file "
            "(--catalog, $LORADEX_CATALOG) or move this one aside",
            path=path,
        )


def backups_of(path: Path) -> list[Path]:
    """The copies made of a SQLite catalog before its migrations (:func:`.db.upgrade`), newest first."""
    found = path.parent.glob(f"{glob.escape(path.name)}.backup-*")
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _restore_hint(path: Path) -> str:
    backups = backups_of(path)
    return f"; restore it from its backup copy {backups[0]}" if backups else ""
