"""The root of the command line: the one Typer app every command group is added to (flat: ``loradex
probe``, not ``loradex files probe``), the table that turns an exception into its exit code and
one line — applied once, around every command —, and ``main()``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from functools import partial
from inspect import cleandoc, getdoc
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

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


#: Every command group's own Typer app (each module's ``group``), added flat by the package; the
#: root builds a command from them only when it is run (:class:`_Commands`).
GROUPS: list[typer.Typer] = []


class _Built(MutableMapping[str, Any]):
    """The root's commands by name, each built from its function on first use. Typer builds a
    command by reading every parameter's annotations, about 3 ms a command: building all of them
    cost more than the rest of ``loradex list``'s start-up, which runs one."""

    def __init__(self, groups: list[typer.Typer]) -> None:
        self._build: dict[str, Callable[[], Any]] = {}
        self._outline: dict[str, Callable[[], TyperCommand]] = {}
        for group in groups:
            for command in group.registered_commands:
                assert command.callback is not None  # Typer's decorator sets it
                name = command.name or typer.main.get_command_name(command.callback.__name__)
                self._build[name] = partial(
                    typer.main.get_command_from_info,
                    command,
                    pretty_exceptions_short=True,
                    rich_markup_mode=None,
                )
                self._outline[name] = partial(
                    TyperCommand,
                    name=name,
                    help=getdoc(command.callback) if command.help is None else cleandoc(command.help),
                    short_help=command.short_help,
                    hidden=command.hidden,
                    deprecated=command.deprecated,
                )
            for sub in group.registered_groups:
                info = typer.main.solve_typer_info_defaults(sub)
                assert info.name  # the groups are added by name (``loradex civitai sync``)
                self._build[info.name] = partial(
                    typer.main.get_group_from_info,
                    sub,
                    pretty_exceptions_short=True,
                    suggest_commands=True,
                    rich_markup_mode=None,
                )
                self._outline[info.name] = partial(
                    TyperCommand,
                    name=info.name,
                    help=info.help,
                    short_help=info.short_help,
                    hidden=info.hidden,
                    deprecated=info.deprecated,
                )
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = self._build[name]()
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command
        self._build.setdefault(name, lambda: command)

    def __delitem__(self, name: str) -> None:
        del self._build[name]
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._build)

    def __len__(self) -> int:
        return len(self._build)

    def outlines(self) -> list[TyperCommand]:
        """Each command with its help only, unbuilt: what ``--help`` lists."""
        return [outline() for outline in self._outline.values()]


class _Commands(TyperGroup):
    """The app's command group: every command runs inside :data:`FAILURES`, and is built only
    when it runs (:class:`_Built`)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Built(GROUPS)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names (Typer's reads every command, which builds them)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # Typer's own listing, over outlines: the short help needs no command built.
        assert isinstance(self.commands, _Built)
        TyperGroup(name=self.name, commands=self.commands.outlines()).format_commands(ctx, formatter)

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
