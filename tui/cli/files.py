"""Commands on files, no catalog: probe, inspect, convert."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from loradex.adapters.errors import LoradexError
from loradex.adapters.probe import probe

from ..output import Sink
from .app import JsonOpt, app, handle_errors


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
    from loradex.adapters.inspection import inspect

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
    from loradex.adapters.convert import convert

    Sink(json).conversion(convert(path, to, out, rank=rank))
