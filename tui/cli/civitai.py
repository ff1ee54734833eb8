"""Civitai: ``loradex civitai sync`` asks what every catalogued file is, by its hash, and records
the answer; ``loradex civitai updates`` finds newer versions of their models. Nothing goes out
unless one of these is run."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import JsonOpt, catalog_engine, choice, commands, sink_for

group = commands()
civitai = commands()
group.add_typer(
    civitai,
    name="civitai",
    help="Ask Civitai what catalogued files are (by hash) and find newer versions of their models.",
)

#: The NSFW levels --max-nsfw takes, mildest first (Civitai's 1, 2, 4, 8, 16).
NSFW = ("pg", "pg13", "r", "x", "xxx")

RefsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[REF]...", show_default=False, help="Ids, names, paths or hash prefixes."),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every catalogued file.")]
HostOpt = Annotated[
    str | None,
    typer.Option(
        "--host",
        metavar="URL",
        show_default=False,
        help="The Civitai site (default: $CIVITAI_HOST, else https://civitai.com; civitai.red or a mirror's URL).",
    ),
]
BudgetOpt = Annotated[
    int, typer.Option("--budget", min=1, metavar="N", help="The most API requests this run makes (retries included).")
]


def _refs(refs: list[str] | None, every: bool) -> list[str] | None:
    if bool(refs) == every:
        raise typer.BadParameter("name the files to look up, or give --all (not both)", param_hint="REF / --all")
    return None if every else refs


@civitai.command("sync")
def sync_cmd(
    ctx: typer.Context,
    refs: RefsArg = None,
    every: AllOpt = False,
    refresh: Annotated[bool, typer.Option("--refresh", help="Ask again about files already looked up.")] = False,
    images: Annotated[
        int, typer.Option("--images", min=0, metavar="N", help="Example images to download per version.")
    ] = 4,
    max_nsfw: Annotated[
        str, choice("--max-nsfw", NSFW, "The strongest NSFW level of an example image downloaded (default pg13).")
    ] = "pg13",
    models: Annotated[
        bool, typer.Option("--models/--no-models", help="Also read each model's page: tags, description, license.")
    ] = True,
    host: HostOpt = None,
    budget: BudgetOpt = 2000,
    json: JsonOpt = False,
) -> None:
    """Look catalogued files up on Civitai by their hashes (100 a request) and record what it
    says: model and version, base model (the model line), trained words, description, license,
    tags, creator, files, and example images with their prompts, beside the catalog.

    Files looked up before are skipped unless --refresh; a file that matched before and is gone
    upstream is marked deleted and keeps everything known. The API key comes from
    $CIVITAI_API_KEY (sent only as a Bearer header; never stored or printed). Every batch is
    committed as it comes: Ctrl-C keeps what is done, and a rerun goes on from there.
    """
    from loradex.registry.civitai.client import CivitaiClient
    from loradex.registry.civitai.sync import SyncOptions, sync
    from loradex.registry.services.civitai_records import NSFW_LEVELS

    wanted = _refs(refs, every)
    options = SyncOptions(refresh=refresh, images=images, max_nsfw=NSFW_LEVELS[max_nsfw], models=models)
    sink = sink_for(json)
    with catalog_engine(ctx) as engine, CivitaiClient(host, budget=budget) as client:
        with sink.progress("civitai") as progress:
            report = sync(engine, wanted, client=client, options=options, progress=progress)
    sink.civitai_synced(report)


@civitai.command("updates")
def updates_cmd(
    ctx: typer.Context,
    refs: RefsArg = None,
    every: AllOpt = False,
    host: HostOpt = None,
    budget: BudgetOpt = 2000,
    json: JsonOpt = False,
) -> None:
    """Newer versions of the models of files Civitai knows (one request per model), newest first."""
    from loradex.registry.civitai.client import CivitaiClient
    from loradex.registry.civitai.sync import updates

    wanted = _refs(refs, every)
    sink = sink_for(json)
    with catalog_engine(ctx) as engine, CivitaiClient(host, budget=budget) as client:
        with sink.progress("civitai") as progress:
            items = updates(engine, wanted, client=client, progress=progress)
    sink.civitai_updates(items)
