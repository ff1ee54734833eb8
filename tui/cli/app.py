"""The root of the command line: the one Typer app every command group is added to (flat: ``loradex
probe``, not ``loradex files probe``), the table that turns an exception into its exit code and
one line — applied once, around every command —, and ``main()``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from loradex.adapters.errors import InterruptedAfterWrite, LoradexError
from loradex.adapters.interrupts import EXIT_CODE as INTERRUPTED
from loradex.adapters.words import printable

from .options import CatalogOpt, Options


@dataclass(frozen=True)
class Failure:
    """How an exception ends a command: its exit code and the word its one line on stderr starts
    with."""

    exit_code: int
    word: str


#: Exception type → how it ends a command; the first type that matches applies. Ctrl-C once an
#: output was complete says what is on disk; a LoradexError is a problem the user can act on; a
#: Ctrl-C anywhere else is 130. Anything else is a bug (``main``: "internal error", exit 3).
FAILURES: tuple[tuple[type[BaseException], Failure], ...] = (
    (InterruptedAfterWrite, Failure(InterruptedAfterWrite.exit_code, "interrupted")),
    (LoradexError, Failure(1, "error")),
    (KeyboardInterrupt, Failure(INTERRUPTED, "interrupted")),
)


class _Commands(TyperGroup):
    """The app's command group: every command runs inside :data:`FAILURES`."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (LoradexError, KeyboardInterrupt) as exc:
            if os.environ.get("LORADEX_DEBUG") and not isinstance(exc, KeyboardInterrupt):
                raise
            failure = next(failure for kind, failure in FAILURES if isinstance(exc, kind))
            # Plain print: Rich would wrap a long path over several lines. Escaped: the message
            # quotes names and values from files.
            text = printable(str(exc), one_line=True)
            print(f"{failure.word}: {text}" if text else failure.word, file=sys.stderr)
            raise typer.Exit(failure.exit_code) from None


# Plain (Click-style) help: Typer's Rich help panels print every boolean option as if it took
# a value ("--json <bool>", Typer's own "--help <bool>" too) and read "[default: …]" in help
# texts as Rich markup, dropping it. Plain help prints flags as flags and help texts as written.
app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    invoke_without_command=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="A registry and workbench for SD adapters.",
)


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
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
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


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:  # while Typer parses, before a command runs
        print("interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except Exception:  # pragma: no cover - last resort so users never see a bare traceback
        if os.environ.get("LORADEX_DEBUG"):
            raise
        import traceback

        print(
            f"internal error: {printable(traceback.format_exc().strip().splitlines()[-1], one_line=True)} "
            "(set LORADEX_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        sys.exit(3)
