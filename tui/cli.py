"""The ``loradex`` command line: thin commands over the Python API.

Exit codes: 0 ok, 1 a :class:`LoradexError` (one line on stderr), 2 usage. Set
``LORADEX_DEBUG=1`` to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from loradex.adapters import LoradexError, convert, inspect, probe

from .output import Sink

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A registry and workbench for SD adapters.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def handle_errors(fn: Callable) -> Callable:
    """Map LoradexError to one stderr line and exit code 1; everything else is a bug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LoradexError as exc:
            if os.environ.get("LORADEX_DEBUG"):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted; nothing was written", err=True)
            raise typer.Exit(130) from None

    return wrapper


@app.command("probe")
@handle_errors
def probe_cmd(paths: Annotated[list[Path], typer.Argument(help="Files or folders.")], json: JsonOpt = False) -> None:
    """Identify artifacts: kind, format, base (with evidence), ranks, trigger words."""
    sink = Sink(json)
    infos, failures = [], []
    for path in paths:
        try:
            infos.append(probe(path))
        except LoradexError as exc:
            failures.append(str(exc))
    sink.probe_table(infos, failures)
    if failures:
        raise typer.Exit(1)


@app.command("inspect")
@handle_errors
def inspect_cmd(path: Path, json: JsonOpt = False,
                layers: Annotated[bool, typer.Option("--layers", help="List every layer.")] = False) -> None:
    """Per-layer and per-block statistics: rank, alpha, delta norm, effective rank, NaN/Inf."""
    Sink(json).inspection(inspect(path), show_layers=layers)


@app.command("convert")
@handle_errors
def convert_cmd(
    path: Path,
    to: Annotated[str, typer.Option("--to", help="kohya | diffusers | peft")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (folder for peft).")],
    rank: Annotated[Optional[int], typer.Option("--rank", help="SVD rank (required for LyCORIS inputs).")] = None,
    json: JsonOpt = False,
) -> None:
    """Convert a LoRA between kohya, diffusers and PEFT formats, keeping every layer."""
    Sink(json).conversion(convert(path, to, out, rank=rank))


@app.command("demo")
@handle_errors
def demo_cmd(
    directory: Annotated[Optional[Path], typer.Option("--dir", help="Where to build the zoo.")] = None,
    json: JsonOpt = False,
) -> None:
    """Build the demo zoo (tiny models, every adapter format) and probe all of it."""
    from loradex.adapters.zoo import build_zoo

    import platformdirs

    root = directory or Path(platformdirs.user_data_dir("loradex")) / "demo-zoo"
    sink = Sink(json)
    sink.note(f"building the demo zoo in {root} …")
    zoo = build_zoo(root)
    sink.probe_table([probe(item.path) for item in zoo.items], [])


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except Exception:  # pragma: no cover - last resort so users never see a bare traceback
        if os.environ.get("LORADEX_DEBUG"):
            raise
        import traceback

        typer.echo(f"internal error: {traceback.format_exc().strip().splitlines()[-1]} "
                   "(set LORADEX_DEBUG=1 for the traceback)", err=True)
        sys.exit(3)


if __name__ == "__main__":  # pragma: no cover
    main()
