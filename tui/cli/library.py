"""Commands on the catalog: scan, list, show, tag, note, verify, dupes, check, demo."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated

import typer

from loradex.adapters.model.artifact import FAMILIES, KINDS, family_of
from loradex.adapters.model.model_lines import Line
from loradex.registry.queries.sort_keys import CIVITAI_FILTERS, SORT_KEYS

from .options import (
    FOUND,
    JsonOpt,
    RefArg,
    catalog_engine,
    catalog_of,
    catalog_reader,
    catalog_session,
    catalog_writer,
    choice,
    commands,
    input_path,
    invocation,
    sink_for,
)

group = commands()

WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Files probed and hashed in parallel.")]


@group.command("scan")
def scan_cmd(
    ctx: typer.Context,
    dirs: Annotated[list[Path], typer.Argument(help="Folders or files.")],
    workers: WorkersOpt = 4,
    json: JsonOpt = False,
) -> None:
    """Add files to the catalog, refresh changed ones, mark vanished ones missing.

    Unchanged files (same size and mtime) are not read again. Unreadable files are listed
    and recorded with status "error"; the scan still exits 0. A folder that does not exist is
    an error (exit 1) and nothing is recorded.
    """
    from loradex.registry.services.scan_plan import existing_roots, unchanged_scan

    roots = existing_roots(dirs)  # before the catalog is opened (or made): a typo leaves nothing behind
    sink = sink_for(json)
    with sink.progress("scanning") as progress:
        # Nothing changed (the usual rescan): done on plain sqlite3, without importing what a change needs.
        report = unchanged_scan(catalog_of(ctx), roots, progress=progress)
    if report is not None:
        from loradex.registry.store.location import catalog_url

        url = catalog_url(catalog_of(ctx))
    else:
        from loradex.registry.services.scan import scan

        with catalog_engine(ctx, create=True) as engine, sink.progress("scanning") as progress:
            report = scan(roots, engine=engine, workers=workers, progress=progress)
            url = engine.url.render_as_string(hide_password=True)
    sink.report("scanned", report)
    sink.note(f"catalog: {url}")


def _kind(value: str | None) -> str | None:
    if value is not None and value not in KINDS:
        raise typer.BadParameter(f"unknown kind {value!r}; choose {', '.join(KINDS)}")
    return value


def _family(value: str | None) -> str | None:
    if value is None:
        return None
    family = family_of(value)
    if family is None:
        raise typer.BadParameter(
            f"unknown base {value!r}; choose {', '.join(FAMILIES)} (or sd15, sd1.5, sd21, sdxl1.0)"
        )
    return family


def _line(value: str | None) -> str | None:
    if value is None:
        return None
    from loradex.registry.errors import QueryError
    from loradex.registry.queries.table import line_filter

    try:
        return line_filter(value)
    except QueryError as exc:
        raise typer.BadParameter(str(exc)) from None


@group.command("list")
def list_cmd(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option("--kind", callback=_kind, help=f"One of {', '.join(KINDS)}.")] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            callback=_family,
            help="sd1, sd2, sdxl, sd3, flux, unknown; common spellings too (sd15, sd1.5, sd21, sdxl1.0). "
            "Your override counts.",
        ),
    ] = None,
    line: Annotated[
        str | None,
        typer.Option(
            "--line",
            callback=_line,
            help=f"Model line: {', '.join(Line)}; none for artifacts without one.",
        ),
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only artifacts with this tag.")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Substring of name, trigger words, metadata.")] = None,
    rank_min: Annotated[int | None, typer.Option("--rank-min", help="Some rank at least this.")] = None,
    rank_max: Annotated[int | None, typer.Option("--rank-max", help="Some rank at most this.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="ok, error or missing.")] = None,
    civitai: Annotated[
        str | None,
        choice(
            "--civitai",
            CIVITAI_FILTERS,
            help="yes: Civitai knows it; deleted: it did, the page is gone; no: neither (or never looked up).",
        ),
    ] = None,
    fits: Annotated[
        str | None,
        typer.Option("--fits", metavar="CKPT_REF", help="Only adapters whose layers fit this checkpoint."),
    ] = None,
    min_share: Annotated[
        float, typer.Option("--min-share", min=0.0, max=1.0, help="With --fits: least share of layers that must fit.")
    ] = 1.0,
    sort: Annotated[
        str, choice("--sort", SORT_KEYS, help="Sort key; a leading - sorts descending. [default: name]")
    ] = "name",
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
    json: JsonOpt = False,
) -> None:
    """List catalogued artifacts, filtered and sorted."""
    from loradex.registry.queries import lookup
    from loradex.registry.queries.filters import Filter

    flt = Filter(
        kind=kind,
        base=base,
        line=line,
        tag=tag,
        status=status,
        rank_min=rank_min,
        rank_max=rank_max,
        text=text,
        civitai=civitai,
        sort=sort,
    )
    with catalog_reader(ctx) as reader:  # open while the rows stream out
        checkpoint = lookup.resolve(reader, fits) if fits else None
        sink_for(json).artifact_list(lookup.listing(reader, flt, fits=checkpoint, min_share=min_share, limit=limit))


@group.command("show")
def show_cmd(ctx: typer.Context, ref: RefArg, json: JsonOpt = False) -> None:
    """Everything known about one artifact: hashes, base evidence, metadata, layers, lineage."""
    from loradex.registry.queries import artifact_detail, lookup

    with catalog_reader(ctx) as reader:
        artifact = lookup.resolve(reader, ref)
        extra = artifact_detail.details(reader, artifact)
    sink_for(json).artifact_details(artifact, extra)


# A removal such as "-sketch" is passed through as an argument, but Click reads an unknown "-word"
# letter by letter: an "h" in it was the help option, and the tag stayed. Only --help is help here.
@group.command("tag", context_settings={"ignore_unknown_options": True, "help_option_names": ["--help"]})
def tag_cmd(
    ctx: typer.Context,
    ref: RefArg,
    changes: Annotated[list[str] | None, typer.Argument(help="+tag or tag adds, -tag removes.")] = None,
    add: Annotated[list[str] | None, typer.Option("--add", help="Tag to add (repeatable).")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Tag to remove (repeatable).")] = None,
    json: JsonOpt = False,
) -> None:
    """Add or remove tags; with none given, show them.

    Example: loradex tag 12 +style -old (or: loradex tag 12 -- -old, or --remove old).
    """
    from loradex.registry.queries import lookup
    from loradex.registry.services import edits

    adding, removing = list(add or []), list(remove or [])
    for change in changes or []:
        # "-old" reaches us as an argument: unknown options are passed through for this command.
        if change.startswith("--"):
            raise typer.BadParameter(f"no such option {change}; a tag to remove is written -tag")
        (removing if change.startswith("-") else adding).append(change[1:] if change[:1] in "+-" else change)
    with catalog_writer(ctx) as writer:
        artifact = lookup.resolve(writer, ref)
        tags = (
            edits.set_tags(writer, artifact, add=adding, remove=removing)
            if adding or removing
            else lookup.tags_of(writer, artifact)
        )
    sink_for(json).tag_list(artifact, tags)


@group.command("note")
def note_cmd(
    ctx: typer.Context,
    ref: RefArg,
    text: Annotated[str | None, typer.Argument(help='The note ("" clears it); omit to show it.')] = None,
    json: JsonOpt = False,
) -> None:
    """Set, clear or show your note on an artifact."""
    from loradex.registry.queries import orm
    from loradex.registry.services import edits

    with catalog_session(ctx) as session:
        artifact = orm.resolve(session, ref)
        if text is not None:
            edits.set_note(session, artifact, text)
    sink_for(json).artifact_note(artifact)


@group.command("weight", context_settings={"ignore_unknown_options": True})  # a weight may be negative (sliders)
def weight_cmd(
    ctx: typer.Context,
    ref: RefArg,
    value: Annotated[
        str | None,
        typer.Argument(metavar="WEIGHT", help='The weight it is used at by default ("" clears it); omit to show it.'),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Set, clear or show an artifact's preferred weight (the mix tray and the TUI start from it).

    Example: loradex weight my-lora 0.8 (a slider: loradex weight my-slider -2).
    """
    from loradex.registry.queries import orm
    from loradex.registry.services import edits

    try:
        weight = float(value) if value else None
    except ValueError:
        weight = math.nan
    if weight is not None and not math.isfinite(weight):
        raise typer.BadParameter(f"{value!r} is not a finite number", param_hint="WEIGHT")
    with catalog_session(ctx) as session:
        artifact = orm.resolve(session, ref)
        if value is not None:
            edits.set_preferred_weight(session, artifact, weight)
    sink_for(json).artifact_weight(artifact)


@group.command("verify")
def verify_cmd(ctx: typer.Context, workers: WorkersOpt = 4, json: JsonOpt = False) -> None:
    """Re-hash catalogued files and list those changed, missing or unreadable.

    Missing files are marked missing, changed ones error (the next scan records their new
    contents). Exits 0 when every file is as catalogued, 4 when something was found.
    """
    from loradex.registry.services.verify import record, rehash, to_check

    sink = sink_for(json)
    with catalog_reader(ctx) as reader:
        rows = to_check(reader)
    with sink.progress("verifying") as progress:
        report = rehash(rows, workers=workers, progress=progress)
    if report.missing or report.changed:
        with catalog_engine(ctx) as engine:
            record(engine, report)
    sink.report("verified", report)
    if not report.clean:
        raise typer.Exit(FOUND)


@group.command("dupes")
def dupes_cmd(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Groups of catalogued files with identical contents (same sha256)."""
    from loradex.registry.queries import lookup

    with catalog_reader(ctx) as reader:
        groups = lookup.duplicates(reader)
    sink_for(json).duplicate_groups(groups)


@group.command("check")
def check_cmd(
    ctx: typer.Context,
    adapter: RefArg,
    base: Annotated[str, typer.Option("--base", metavar="CKPT_REF", help="The base checkpoint.")],
    json: JsonOpt = False,
) -> None:
    """How many of an adapter's layers apply to a base checkpoint, and which do not.

    ADAPTER and --base are catalog refs or paths; a path the catalog does not hold is probed.
    Exits 0 when compatible (every layer fits), 4 when partial or incompatible (the JSON
    "verdict" says which).
    """
    from loradex.registry.errors import RefNotFoundError
    from loradex.registry.queries import compat, lookup
    from loradex.registry.store.location import catalog_in_use

    result = None
    if catalog_in_use(catalog_of(ctx)):
        try:
            with catalog_reader(ctx) as reader:
                result = compat.check(reader, lookup.resolve(reader, adapter), lookup.resolve(reader, base))
        except RefNotFoundError:
            if not any(Path(ref).exists() for ref in (adapter, base)):
                raise
    if result is None:  # a file the catalog does not hold: probe both
        from loradex.adapters.model.probe import probe

        result = compat.check_files(*(probe(input_path(ctx, ref)) for ref in (adapter, base)))
    sink_for(json).compatibility(result)
    if result.verdict != "compatible":
        raise typer.Exit(FOUND)


@group.command("demo")
def demo_cmd(
    ctx: typer.Context,
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to build the zoo.")] = None,
    json: JsonOpt = False,
) -> None:
    """Build the demo zoo (tiny models, every adapter format), scan it into the catalog, count it."""
    import platformdirs

    from loradex.adapters.libraries import quiet
    from loradex.registry.queries import orm
    from loradex.registry.services.scan import scan
    from loradex.registry.store import db

    quiet()
    from loradex.adapters.zoo import VISIBLE_LORA_SCALE, build_zoo

    # abspath, as scan stores paths: the counts below select the zoo by path prefix.
    root = Path(os.path.abspath((directory or Path(platformdirs.user_data_dir("loradex")) / "demo-zoo").expanduser()))
    sink = sink_for(json)
    with catalog_engine(ctx, create=True) as engine:  # opened first: a bad --catalog fails before the build
        sink.note(f"building the demo zoo in {root} …")
        build_zoo(root, lora_scale=VISIBLE_LORA_SCALE)
        with sink.progress("scanning") as progress:  # not eval/: its CLIP is a tool, not an adapter
            report = scan([root / "bases", root / "adapters"], engine=engine, progress=progress)
        with db.session(engine) as session:
            rows = orm.counts(session, folder=str(root))
        url = engine.url.render_as_string(hide_password=True)
    sink.catalog_counts(rows, scan=report, catalog=url)
    sink.note(f"zoo: {root}\ncatalog: {url}\nnext, try:\n" + "\n".join(f"  {hint}" for hint in _demo_hints(ctx, root)))


def _demo_hints(ctx: typer.Context, root: Path) -> list[str]:
    """Commands to try next, runnable as printed: this very program, the catalog the demo filled."""
    from shlex import quote

    loradex = " ".join([*map(quote, invocation()), *(["--catalog", quote(c)] if (c := catalog_of(ctx)) else [])])
    bases, evals = root / "bases", root / "eval"
    tiny = f"--base {quote(str(bases / 'tiny-sd1-diffusers'))} --steps 4 --size 64x64"
    return [
        f"{loradex} list --kind lora --base sdxl",
        f"{loradex} show sd1-kohya-lora",
        f"{loradex} check sdxl-pony-lora --base tiny-illustriousXL_v01",  # fits, trained on another line
        f"{loradex} bake --base {quote(str(bases / 'tiny-sd1.safetensors'))} sd1-kohya-lora:0.8 -o baked.safetensors",
        f"{loradex} try sd1-kohya-lora {tiny} --seeds 1 -o grid",
        f"{loradex} eval sd1-kohya-lora {tiny} --scales 0,1 --seeds 1 --prompts {quote(str(evals / 'prompts.txt'))} "
        f"--clip {quote(str(evals / 'clip'))} -o eval",
    ]
