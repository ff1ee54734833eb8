"""The one Typer app every command group registers on: shared options, the error handler, main()."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Optional

import typer

from loradex.adapters.errors import InterruptedAfterWrite, LoradexError
from loradex.adapters.words import printable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from loradex.registry.queries.reading import Reader

# Plain (Click-style) help: Typer's Rich help panels print every boolean option as if it took
# a value ("--json <bool>", Typer's own "--help <bool>" too) and read "[default: …]" in help
# texts as Rich markup, dropping it. Plain help prints flags as flags and help texts as written.
app = typer.Typer(add_completion=False, invoke_without_command=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="A registry and workbench for SD adapters.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
CatalogOpt = Annotated[Optional[str], typer.Option(
    "--catalog", metavar="PATH|URL", show_default=False,
    help="Catalog file or SQLAlchemy URL (default: $LORADEX_CATALOG, else catalog.db in the user data folder).")]
RefArg = Annotated[str, typer.Argument(help="Id, name, path, sha256 prefix (6+ hex) or AutoV2.")]
#: The exit code of a check that found what it looks for: `check` not compatible, `verify` changes.
FOUND = 4


def choice(option: str, values: Collection[str], help: str) -> Any:
    """An option that takes one of ``values``; anything else is a usage error (exit 2) listing
    them. (Typer checks an Enum option through pydantic, whose refusal reads "Value error, …".)"""
    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(values)}")
        return value

    return typer.Option(option, metavar="[" + "|".join(values) + "]", callback=check, help=help, show_default=False)


@dataclass
class Options:
    """What the app callback stores in the Typer context for every command."""

    catalog: str | None = None


def handle_errors(fn: Callable) -> Callable:
    """Map LoradexError to one stderr line and exit code 1; everything else is a bug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InterruptedAfterWrite as exc:  # Ctrl-C once an output was complete: say what is on disk
            print(f"interrupted: {printable(str(exc), one_line=True)}", file=sys.stderr)
            raise typer.Exit(exc.exit_code) from None
        except LoradexError as exc:
            if os.environ.get("LORADEX_DEBUG"):
                raise
            # Plain print: Rich would wrap a long path over several lines. Escaped: the message
            # quotes names and values from files.
            print(f"error: {printable(str(exc), one_line=True)}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        # loradex.* imports only from an installed distribution (pyproject's package-dir),
        # so its metadata is always there.
        print(f"loradex {version('loradex')}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    catalog: CatalogOpt = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print the version and exit.")] = False,
) -> None:
    """A registry and workbench for SD adapters."""
    ctx.obj = Options(catalog=catalog)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():  # `loradex` alone on a terminal opens the TUI
            from .terminal import open_tui

            open_tui(ctx)
            raise typer.Exit()
        print(ctx.get_help())
        raise typer.Exit(2)


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


@contextmanager
def catalog_session(ctx: typer.Context) -> Iterator[Session]:
    """A session on the catalog (:func:`catalog_engine`), for commands that change it."""
    from loradex.registry.store import db

    with catalog_engine(ctx) as engine, db.session(engine) as session:
        yield session


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:  # while Typer parses, before a command's own handler runs
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception:  # pragma: no cover - last resort so users never see a bare traceback
        if os.environ.get("LORADEX_DEBUG"):
            raise
        import traceback

        print(f"internal error: {printable(traceback.format_exc().strip().splitlines()[-1], one_line=True)} "
              "(set LORADEX_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(3)
