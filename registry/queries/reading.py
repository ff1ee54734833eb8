"""Reading the catalog with SQL text: one query, two drivers.

Every read of the catalog (:mod:`.lookup`, :mod:`.compat`, :mod:`.table`) is SQL text with
``:name`` parameters over a :class:`Reader`. The read-only commands open a SQLite catalog at the
current schema with plain ``sqlite3`` (:func:`open_reader`): no SQLAlchemy, SQLModel or
pydantic import, so ``loradex list`` shows its first rows in a fraction of the time. Anything
else (PostgreSQL, a catalog to be upgraded first, an unusual SQLite URL) goes through
SQLAlchemy, and code that holds an ORM session reads through it (:func:`as_reader`): the SQL is
the same either way, written in the subset SQLite and PostgreSQL share. A few small changes (tags,
a rescan that found nothing new) are SQL text too, on a reader opened to ``write``: it runs
:meth:`Reader.execute` in one transaction that :meth:`Reader.commit` ends (closed uncommitted,
nothing is written).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from loradex.registry.errors import CatalogError
from loradex.registry.store.failures import reason_of, sqlite_failure
from loradex.registry.store.location import (
    SCHEMA_HEAD,
    SQLITE_PRAGMAS,
    catalog_url,
    check_sqlite_file,
    readonly_uri,
    sqlite_file,
    stored_revision,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlmodel import Session

__all__ = ["HeldSqlite", "Reader", "as_reader", "engine_reader", "hold_sqlite", "in_list", "open_reader"]

Params = Mapping[str, Any]


class Reader:
    """Runs SQL text on a catalog. ``folder``: the catalog file's folder, against which stored
    relative paths are made absolute (None for a server catalog: every path absolute);
    ``dialect``: ``sqlite`` or ``postgresql``, for the few questions asked differently on each
    (a substring looked up in the trigram index: :func:`.filters.where_clauses`)."""

    def __init__(self, folder: str | None, dialect: str) -> None:
        self.folder = folder
        self.dialect = dialect

    def rows(self, sql: str, params: Params | None = None, *, stream: bool = False) -> Iterator[tuple[Any, ...]]:
        """The result rows as tuples (``stream``: from a server-side cursor, for long listings)."""
        raise NotImplementedError

    def first(self, sql: str, params: Params | None = None) -> tuple[Any, ...] | None:
        return next(self.rows(sql, params), None)

    def value(self, sql: str, params: Params | None = None) -> Any:
        row = self.first(sql, params)
        return row[0] if row else None

    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that changes the catalog (a reader opened to write, or a session's)."""
        raise NotImplementedError

    def commit(self) -> None:
        """Make the changes since the last commit permanent."""
        raise NotImplementedError


class _SqliteReader(Reader):
    def __init__(self, connection: sqlite3.Connection, folder: str | None) -> None:
        super().__init__(folder, "sqlite")
        self._connection = connection

    def rows(self, sql: str, params: Params | None = None, *, stream: bool = False) -> Iterator[tuple[Any, ...]]:
        return iter(self._connection.execute(sql, dict(params or {})))  # a sqlite3 cursor streams anyway

    def execute(self, sql: str, params: Params | None = None) -> None:
        self._connection.execute(sql, dict(params or {}))

    def commit(self) -> None:
        self._connection.commit()


class _AlchemyReader(Reader):
    def __init__(self, connection: Connection, folder: str | None, commit: Callable[[], None] | None = None) -> None:
        super().__init__(folder, connection.dialect.name)
        self._connection = connection
        self._commit = commit or connection.commit

    def rows(self, sql: str, params: Params | None = None, *, stream: bool = False) -> Iterator[tuple[Any, ...]]:
        from sqlalchemy import text

        connection = self._connection.execution_options(stream_results=True) if stream else self._connection
        return (tuple(row) for row in connection.execute(text(sql), dict(params or {})))

    def execute(self, sql: str, params: Params | None = None) -> None:
        from sqlalchemy import text

        self._connection.execute(text(sql), dict(params or {}))

    def commit(self) -> None:
        self._commit()


def as_reader(source: Reader | Session) -> Reader:
    """``source`` as a :class:`Reader`: itself, or one over an ORM session's connection (inside
    its transaction, so it sees what the session has written; its commit is the session's)."""
    if isinstance(source, Reader):
        return source
    from loradex.registry.store.columns import folder_of

    bind = source.get_bind()
    return _AlchemyReader(source.connection(), folder_of(bind.dialect), source.commit)


@contextmanager
def engine_reader(engine: Engine) -> Iterator[Reader]:
    """A :class:`Reader` on a connection of ``engine`` (a front end that holds one, as the
    Textual app does): on SQLite its ``sqlite3`` connection itself, since SQLAlchemy's work per
    row makes 100,000 ids take a second instead of ~20 ms; else through SQLAlchemy."""
    from loradex.registry.store.columns import folder_of

    folder = folder_of(engine.dialect)
    if engine.dialect.name == "sqlite":
        pooled = engine.raw_connection()
        try:
            yield _SqliteReader(cast(sqlite3.Connection, pooled.driver_connection), folder)
        finally:
            pooled.close()  # back to the pool
        return
    with engine.connect() as connection:
        yield _AlchemyReader(connection, folder)


def in_list(name: str, values: Iterable[Any], params: dict[str, Any]) -> str:
    """``(:name0, :name1, …)`` for ``values``, added to ``params``; ``(NULL)`` (matches nothing)
    when there are none."""
    names = []
    for i, value in enumerate(values):
        params[f"{name}{i}"] = value
        names.append(f":{name}{i}")
    return f"({', '.join(names) or 'NULL'})"


class HeldSqlite:
    """A SQLite catalog at the current schema held open with plain ``sqlite3`` (read-only unless
    opened to write), for a front end that asks it many questions over its life: the Textual app,
    which thus shows the catalog without importing SQLAlchemy and without a connection opened per
    keystroke. A read-only connection never holds a transaction between questions (each ``SELECT``
    reads the latest commit), so what another process commits (a CLI scan, a tag) is in the next
    answer."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.folder = os.path.abspath(path.parent)
        self._connection = connection
        self._reader = _SqliteReader(connection, self.folder)

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """The reader for one question; a database error in it is one line naming the catalog."""
        with _sqlite_errors_named(self.path):
            yield self._reader

    @contextmanager
    def own_reader(self) -> Iterator[Reader]:
        """A read-only reader on a connection of its own, for a question asked from another thread:
        one connection runs one statement at a time, so a long count there would hold up the
        questions of the thread that holds the file."""
        connection = _sqlite_connection(self.path, write=False)
        try:
            with _sqlite_errors_named(self.path):
                yield _SqliteReader(connection, self.folder)
        finally:
            connection.close()

    def close(self) -> None:
        self._connection.close()


def hold_sqlite(catalog: str | os.PathLike[str] | None = None, *, write: bool = False) -> HeldSqlite | None:
    """The catalog in use (:func:`.location.catalog_url`) held open with ``sqlite3`` when it is a
    SQLite file at the current schema (see :func:`open_reader`); None for anything else, which
    :func:`.db.open_catalog` opens (a server, an unusual URL, an older schema to upgrade first).
    The caller closes it.

    Raises:
        CatalogError: no catalog file there, an empty or foreign file, a damaged one.
    """
    path = sqlite_file(catalog_url(catalog))
    if path is None:
        return None
    check_sqlite_file(path, create=False)
    with _sqlite_errors_named(path):
        connection = _current_sqlite(path, write=write)
    return None if connection is None else HeldSqlite(path, connection)


@contextmanager
def open_reader(catalog: str | os.PathLike[str] | None = None, *, write: bool = False) -> Iterator[Reader]:
    """A :class:`Reader` on the catalog in use (:func:`.location.catalog_url`): a SQLite file at
    the current schema is opened with ``sqlite3`` (read-only, unless ``write``: then with the
    settings :func:`.db.open_catalog` gives a connection); anything else as
    :func:`.db.open_catalog` does (with ``readonly`` unless ``write``; an older schema is upgraded
    first). A database error inside the block is one line naming the catalog. Changes made with
    ``write`` are kept only once :meth:`Reader.commit` is called.

    Raises:
        CatalogError: no catalog there, an empty or foreign file, a damaged one (see
            :mod:`.failures`), or what :func:`.db.open_catalog` refuses.
    """
    held = hold_sqlite(catalog, write=write)
    if held is not None:
        try:
            with held.reader() as reader:
                yield reader
        finally:
            held.close()
        return
    from loradex.registry.store import db
    from loradex.registry.store.columns import folder_of
    from loradex.registry.store.failures import failures_named

    engine = db.open_catalog(catalog, readonly=not write, create=False)
    try:
        with failures_named(engine), engine.connect() as alchemy:
            yield _AlchemyReader(alchemy, folder_of(engine.dialect))
    finally:
        engine.dispose()


def _current_sqlite(path: Path, *, write: bool) -> sqlite3.Connection | None:
    """A ``sqlite3`` connection (read-only unless ``write``) when the file is a catalog at
    :data:`SCHEMA_HEAD`, else None (it has to be vetted, and maybe upgraded, by
    :func:`.db.open_catalog`)."""
    connection = _sqlite_connection(path, write=write)
    try:
        if stored_revision(connection) == SCHEMA_HEAD:
            if write:
                for pragma in SQLITE_PRAGMAS:
                    connection.execute(pragma)
            return connection
    except BaseException:
        connection.close()
        raise
    connection.close()
    return None


def _sqlite_connection(path: Path, *, write: bool) -> sqlite3.Connection:
    """A ``sqlite3`` connection to the file (read-only unless ``write``) that may be used from
    another thread than its opener's (the app's, held open; a worker's) and waits out a writer."""
    if write:
        return sqlite3.connect(path, timeout=30, check_same_thread=False)
    return sqlite3.connect(readonly_uri(path), uri=True, timeout=30, check_same_thread=False)


@contextmanager
def _sqlite_errors_named(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise (sqlite_failure(exc, path) or CatalogError(f"catalog error: {reason_of(exc)}", path=path)) from exc
