"""Commands on files: probe, inspect, convert (inputs are paths, or catalog refs when a catalog is in use)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loradex.adapters.errors import LoradexError

from .options import JsonOpt, RefArg, ThreadsOpt, commands, input_path, sink_for, torch_threads_given

group = commands()


@group.command("probe")
def probe_cmd(
    ctx: typer.Context,
    refs: Annotated[
        list[str], typer.Argument(metavar="REF...", help="Files or folders (or catalog refs, with a catalog in use).")
    ],
    json: JsonOpt = False,
) -> None:
    """Identify artifacts: kind, format, base (with evidence), ranks, trigger words."""
    from loradex.adapters.model.probe import probe

    sink = sink_for(json)
    infos, failures = [], []
    for ref in refs:
        try:
            infos.append(probe(input_path(ctx, ref)))
        except LoradexError as exc:
            failures.append(str(exc))
    sink.probe_table(infos, failures)
    if failures:
        raise typer.Exit(1)


@group.command("inspect")
def inspect_cmd(
    ctx: typer.Context,
    ref: RefArg,
    json: JsonOpt = False,
    layers: Annotated[bool, typer.Option("--layers", help="List every layer.")] = False,
    threads: ThreadsOpt = None,
) -> None:
    """Per-layer and per-block statistics: rank, alpha, delta norm, effective rank, NaN/Inf."""
    from loradex.adapters.ops.inspection import inspect

    path = input_path(ctx, ref)
    with torch_threads_given(threads):
        inspection = inspect(path)
    sink_for(json).inspection(inspection, show_layers=layers)


@group.command("convert")
def convert_cmd(
    ctx: typer.Context,
    ref: RefArg,
    to: Annotated[str, typer.Option("--to", help="kohya | diffusers | peft")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (folder for peft).")],
    rank: Annotated[int | None, typer.Option("--rank", help="SVD rank (required for LyCORIS inputs).")] = None,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Convert a LoRA between kohya, diffusers and PEFT formats, keeping every layer.

    The catalog is used as for mix: the output is recorded with its recipe (lineage).
    """
    from .operations import execute, recipe_of

    sink = sink_for(json)
    sink.conversion(execute(ctx, recipe_of("convert", out, [(ref, 1.0)], to=to, rank=rank), sink, threads))
