"""Sidecars: ``loradex sidecars write`` puts what the catalog knows beside each file, the way
A1111, Civitai Helper, ComfyUI-Lora-Manager and Stability Matrix write theirs (scan reads them all)."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import JsonOpt, catalog_engine, commands, sink_for

group = commands()
sidecars = commands()
group.add_typer(
    sidecars, name="sidecars", help="Write what the catalog knows beside each file, as the field's tools do."
)

#: The formats ``--format`` takes (:class:`loradex.registry.services.sidecar_writing.SidecarFormat`).
FORMATS = ("a1111", "civitai-info", "lora-manager", "cm-info", "preview")


def _formats(values: list[str] | None) -> list[str] | None:
    for value in values or []:
        if value not in FORMATS:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(FORMATS)}")
    return values


@sidecars.command("write")
def write_cmd(
    ctx: typer.Context,
    refs: Annotated[
        list[str] | None,
        typer.Argument(metavar="[REF]...", show_default=False, help="Ids, names, paths or hash prefixes."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every catalogued file that is there.")] = False,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            metavar="[" + "|".join(FORMATS) + "]",
            callback=_formats,
            show_default=False,
            help="A sidecar to write (repeat for several; default: all of them).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace sidecars that exist (the user's own too).")] = False,
    json: JsonOpt = False,
) -> None:
    """Write sidecars beside catalogued files: <name>.json (A1111: activation text, preferred
    weight, sd version, notes), <name>.civitai.info (Civitai Helper: the version JSON),
    <name>.metadata.json (ComfyUI-Lora-Manager), <name>.cm-info.json (Stability Matrix) and
    <name>.preview.png (the first preview).

    Each file is written atomically; one that exists is skipped unless --force. The .civitai.info
    and .cm-info.json files are written for files Civitai named (by `loradex civitai sync` or a
    sidecar read at scan).
    """
    from loradex.registry.services.sidecar_writing import SidecarFormat, write_sidecars

    if bool(refs) == every:
        raise typer.BadParameter("name the files, or give --all (not both)", param_hint="REF / --all")
    chosen = [SidecarFormat(f) for f in dict.fromkeys(formats or FORMATS)]
    sink = sink_for(json)
    with catalog_engine(ctx) as engine:
        written = write_sidecars(engine, None if every else refs, chosen, force=force)
    sink.sidecars_written(written)
