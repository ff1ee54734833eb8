"""What every command group shares: its options and arguments, the exit code of a check that
found something, and the catalog of a command (the rule is the registry's; these only open and
close it). Command modules import from here, never from :mod:`.app`, so the root imports the
groups and nothing imports back up."""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from loradex.registry.queries.reading import Reader

    from ..output import Sink

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
CatalogOpt = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        metavar="PATH|URL",
        show_default=False,
        help="Catalog file or SQLAlchemy URL (default: $LORADEX_CATALOG, else catalog.db in the user data folder).",
    ),
]
RefArg = Annotated[str, typer.Argument(help="Id, name, path, sha256 prefix (6+ hex) or AutoV2.")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        metavar="N",
        show_default=False,
        help="Threads torch computes with [default: $LORADEX_THREADS, else the cores this process may use "
        "(affinity, cgroup quota) that no other process keeps busy, less its own writer's].",
    ),
]
#: The exit code of a check that found what it looks for: `check` not compatible, `verify` changes.
FOUND = 4


def commands() -> typer.Typer:
    """A command group's own Typer app, added to the root flat (:mod:`.app`): plain help, as the root's."""
    return typer.Typer(rich_markup_mode=None, add_completion=False)


def choice(option: str, values: Collection[str], help: str) -> Any:
    """An option that takes one of ``values``; anything else is a usage error (exit 2) listing
    them. (Typer checks an Enum option through pydantic, whose refusal reads "Value error, …".)"""

    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(values)}")
        return value

    return typer.Option(option, metavar="[" + "|".join(values) + "]", callback=check, help=help, show_default=False)


def torch_threads_given(threads: int | None) -> AbstractContextManager[object]:
    """The block in which a command's torch work runs on ``--threads`` when it was given (an
    operation's own choice, :mod:`loradex.adapters.threads`, applies otherwise). Importing that
    module costs no torch; entering the block imports it."""
    if threads is None:
        return nullcontext()
    from loradex.adapters.threads import torch_threads

    return torch_threads(threads)


def sink_for(as_json: bool) -> Sink:
    """The output of one command run (:class:`..output.Sink`), imported when a command prints:
    Rich and the renderings are not what ``--help`` or a command's usage error should wait for."""
    from ..output import Sink

    return Sink(as_json)


@dataclass
class Options:
    """What the app callback stores in the Typer context for every command."""

    catalog: str | None = None


# ---------------------------------------------------------------------------------------
# The catalog of a command (the rule is registry.store.db's; these only dispose of the engine)


def invocation() -> list[str]:
    """How to run this program again from the same shell: ``loradex`` when that is the one on PATH,
    else the script as it was called (``.venv/bin/loradex`` after ``make demo``), or ``python -m``."""
    import shutil

    script = sys.argv[0]
    if Path(script).name == "__main__.py":
        return [sys.executable, "-m", "loradex.tui.cli"]
    on_path = shutil.which("loradex")
    if on_path and Path(on_path).resolve() == Path(script).resolve():
        return ["loradex"]
    return [script]


def catalog_of(ctx: typer.Context) -> str | None:
    return (ctx.find_object(Options) or Options()).catalog


@contextmanager
def _disposed(engine: Engine | None) -> Iterator[Engine | None]:
    """``engine`` for the block, disposed after; a database error in the block is one line
    naming the catalog (a full disk, a damaged or read-only file: :mod:`.failures`)."""
    if engine is None:
        yield None
        return
    from loradex.registry.store.failures import failures_named

    try:
        with failures_named(engine):
            yield engine
    finally:
        engine.dispose()


def catalog_engine(ctx: typer.Context, *, create: bool = False) -> AbstractContextManager[Engine]:
    """The catalog chosen by ``--catalog`` / ``$LORADEX_CATALOG`` (:func:`.db.open_catalog`), disposed
    after, for commands that change it; only those that add to it (``create``: scan, demo) make a
    new catalog file. Commands that only read use :func:`catalog_reader`."""
    from loradex.registry.store import db  # sqlalchemy costs ~0.4 s: only commands that change a catalog pay it

    return _disposed(db.open_catalog(catalog_of(ctx), create=create))  # type: ignore[return-value]


def optional_engine(ctx: typer.Context, *, readonly: bool = False) -> AbstractContextManager[Engine | None]:
    """The catalog when one is in use (:func:`.db.catalog_in_use`), else None (nothing is created)."""
    from loradex.registry.store import db

    return _disposed(db.open_catalog_in_use(catalog_of(ctx), readonly=readonly))


def input_path(ctx: typer.Context, ref: str) -> Path:
    """What a command's input REF names: a path that exists, else, when a catalog is in use, a
    catalog reference (id, name, sha256 / AutoV2 prefix). A path that does not exist is "no such
    file" either way; the catalog is opened only when the file is not there."""
    path = Path(ref).expanduser()
    try:
        if path.exists():
            return path
    except OSError:  # there, but the OS refuses to look (a folder it may not search): the reader says so
        return path
    from loradex.registry.services import runner

    with optional_engine(ctx, readonly=True) as engine:
        return runner.resolve_input(ref, engine=engine)


def catalog_reader(ctx: typer.Context) -> AbstractContextManager[Reader]:
    """The catalog for a command that only reads it (:func:`.reading.open_reader`: plain ``sqlite3``
    for a SQLite catalog at the current schema, so the command never imports SQLAlchemy)."""
    from loradex.registry.queries.reading import open_reader

    return open_reader(catalog_of(ctx))


def catalog_writer(ctx: typer.Context) -> AbstractContextManager[Reader]:
    """The catalog for a command that makes a small change in SQL (:func:`.reading.open_reader`
    with ``write``: plain ``sqlite3`` for a SQLite catalog at the current schema, so ``tag`` does
    not import SQLAlchemy either); what it does not commit is not written."""
    from loradex.registry.queries.reading import open_reader

    return open_reader(catalog_of(ctx), write=True)


@contextmanager
def catalog_session(ctx: typer.Context) -> Iterator[Session]:
    """A session on the catalog (:func:`catalog_engine`), for commands that change it."""
    from loradex.registry.store import db

    with catalog_engine(ctx) as engine, db.session(engine) as session:
        yield session
