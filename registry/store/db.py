"""Opening a catalog through SQLAlchemy: SQLite settings, and migrations on open. Which catalog
is in use and whether a file is one is :mod:`.location`'s.

No engine is created at import time. :func:`open_catalog` returns one (the caller disposes
of it); it upgrades an older catalog to the current schema after copying the file aside.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session

from loradex.registry.errors import CatalogError

from . import columns
from .failures import named_failure
from .location import (
    SCHEMA_HEAD,
    SQLITE_PRAGMAS,
    catalog_in_use,
    catalog_url,
    check_sqlite_file,
    default_catalog_path,
    readonly_uri,
)

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "SCHEMA_HEAD",
    "catalog_in_use",
    "catalog_url",
    "current_revision",
    "default_catalog_path",
    "head_revision",
    "open_catalog",
    "open_catalog_in_use",
    "session",
    "upgrade",
]

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _wal(dbapi_connection, _record) -> None:
    # WAL lets a TUI read while a CLI scan writes. The mode is stored in the file, so it is set
    # once, on a catalog being made: a catalog kept in another mode (catalog.db.example, in
    # rollback mode so that reading it leaves no -wal/-shm files in a clone) is never rewritten.
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def open_catalog(
    catalog: str | os.PathLike[str] | None = None, *, migrate: bool = True, create: bool = True, readonly: bool = False
) -> Engine:
    """An engine on the catalog, created and upgraded to the current schema if needed.

    A SQLite catalog stores the paths under its own folder relative to it (:mod:`.paths`).

    Args:
        catalog: a path or SQLAlchemy URL; None for the default (:func:`catalog_url`).
        migrate: upgrade the schema to the current revision (a file is copied aside first).
        create: make a SQLite catalog file that does not exist yet (else that is an error:
            commands that only read never leave a catalog behind). Only the default
            catalog's folder is ever created; a named file's folder must exist.
        readonly: for commands that only read: a SQLite file is opened read-only (``mode=ro``:
            nothing can be written, and a catalog in rollback mode gets no side files;
            ``immutable=1`` in a folder that cannot be written, such as a read-only mount); it
            must exist, and is upgraded first (read-write) only if its schema is older.

    Returns:
        The engine; the caller disposes of it.

    Raises:
        CatalogError: the location cannot be used (an unwritable folder, a server that does
            not answer: "cannot open the catalog URL: …", the password hidden), or the
            catalog is from a newer loradex.
    """
    url = catalog_url(catalog)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:  # not a URL at all: nothing to render without its password
        raise CatalogError(f"cannot open the catalog: {exc}") from exc
    engine = None
    try:
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            path = Path(parsed.database)
            new = check_sqlite_file(path, create=create and not readonly)
            if readonly:
                uri = readonly_uri(path)
                engine = create_engine(
                    url, creator=lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
                )
            else:
                engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
                if new:
                    event.listen(engine, "connect", _wal)
            event.listen(engine, "connect", _sqlite_pragmas)
            columns.attach(engine, path.parent)
            if not new:
                _require_loradex_tables(engine, path)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        if migrate and readonly and _stored_revision(engine) != SCHEMA_HEAD:
            open_catalog(catalog).dispose()  # an older catalog is upgraded (copied aside first) before it is read
        elif migrate:
            upgrade(engine)
    except BaseException as exc:
        if engine is not None:
            engine.dispose()
        if isinstance(exc, SQLAlchemyError) and (named := named_failure(exc, parsed)) is not None:
            raise named from exc  # a full disk, a damaged or a read-only file: what to do about it
        if isinstance(exc, (OSError, SQLAlchemyError)):
            url = parsed.render_as_string(hide_password=True)
            raise CatalogError(f"cannot open the catalog {url}: {exc}") from exc
        raise
    return engine


def _require_loradex_tables(engine: Engine, path: Path) -> None:
    """Refuse a SQLite database that loradex did not make (no revision, no artifact table)."""
    if _stored_revision(engine) is None and not inspect(engine).has_table("artifact"):
        raise CatalogError(
            "is a SQLite database without loradex's tables, not a catalog; name the catalog "
            "file (--catalog, $LORADEX_CATALOG) or move this one aside",
            path=path,
        )


def open_catalog_in_use(catalog: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Engine | None:
    """The catalog when one is in use (:func:`catalog_in_use`), opened as by
    :func:`open_catalog`; else None, and no catalog file is created.

    Raises:
        CatalogError: as :func:`open_catalog`.
    """
    return open_catalog(catalog, readonly=readonly) if catalog_in_use(catalog) else None


def _alembic_config(engine: Engine | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    assert head is not None  # the migrations are one line of revisions, never empty
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the catalog to ``revision``; an existing SQLite catalog is copied aside first."""
    if revision == "head" and _stored_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _alembic_config(engine)
    script = ScriptDirectory.from_config(config)
    current = current_revision(engine)
    target = script.get_current_head() if revision == "head" else revision
    assert target is not None  # the migrations are one line of revisions, never empty
    if current == target:
        return
    if current is not None and current not in {r.revision for r in script.walk_revisions()}:
        raise CatalogError(
            f"catalog schema revision {current} is newer than this loradex; upgrade loradex", path=engine.url.database
        )
    if current is not None or inspect(engine).get_table_names():
        _backup(engine, current)
    command.upgrade(config, target)


def _stored_revision(engine: Engine) -> str | None:
    """The revision the catalog records, read with one query (None when it records none)."""
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except SQLAlchemyError:  # no table yet: a new catalog
        return None


def _backup(engine: Engine, revision: str | None) -> None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or not Path(database).exists():
        return  # server databases are backed up by their own tools
    target = _unused(Path(f"{database}.backup-{revision or 'unversioned'}"))
    # sqlite3's online backup copies a consistent snapshot even with WAL and other readers.
    with sqlite3.connect(database) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def _unused(path: Path) -> Path:
    """``path``, or ``path.2``, ``path.3`` … where it is taken: an earlier upgrade's copy (perhaps the
    only good one, when a damaged catalog is opened again) is never overwritten."""
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
