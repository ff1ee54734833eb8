"""Sharing: ``loradex publish`` sends a catalogued adapter to the Hugging Face Hub with a model
card and its previews; ``loradex pull`` brings a repo's adapters into the catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from .options import JsonOpt, RefArg, catalog_engine, commands, sink_for

group = commands()


def _license(value: str | None) -> str | None:
    """A license the Hub would refuse is a usage error (exit 2), found before anything is staged or sent."""
    from loradex.registry.hub.licenses import LicenseError, check_license

    try:
        return None if value is None else check_license(value)
    except LicenseError as exc:
        raise typer.BadParameter(str(exc)) from None


RepoOpt = Annotated[str, typer.Option("--repo", metavar="OWNER/NAME", help="The Hub repo (created if needed).")]


@group.command("publish")
def publish_cmd(
    ctx: typer.Context,
    ref: RefArg,
    repo: RepoOpt,
    private: Annotated[bool, typer.Option("--private", help="Create the repo private.")] = False,
    license: Annotated[
        str | None,
        typer.Option(
            "--license",
            metavar="ID",
            show_default=False,
            callback=_license,
            help="A Hub license id (apache-2.0, openrail++, other …; checked against the Hub's list).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help=("Print the model card and the file list with sizes; send nothing (not one request).")
        ),
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Publish an adapter to the Hugging Face Hub in one commit: safetensors weights (a pickle is
    converted), a model card from the catalog, the previews, and the recipe of a derived file.

    The token comes from HF_TOKEN or `hf auth login`; HF_ENDPOINT names another Hub. Publishing
    unchanged content again makes no commit ("no changes"). The publication is recorded in the
    catalog (loradex show REF).
    """
    from loradex.registry.hub.publish import publish

    with catalog_engine(ctx) as engine:
        result = publish(engine, ref, repo, private=private, license=license, dry_run=dry_run)
    sink_for(json).publication(result)


@group.command("pull")
def pull_cmd(
    ctx: typer.Context,
    repo: Annotated[str, typer.Argument(metavar="OWNER/NAME[@REV]", help="The Hub repo, at a branch, tag or commit.")],
    files: Annotated[
        list[str] | None,
        typer.Option("--file", metavar="PATH", show_default=False, help="Only these files of the repo (repeatable)."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Download a repo's adapter files through the Hugging Face cache (sha256 checked) and record
    them with their provenance (source hub:OWNER/NAME@COMMIT) and the card's trigger words and base.

    A second pull of the same commit downloads nothing; a file the catalog holds already (same
    sha256) gains the provenance instead of a second row.
    """
    from loradex.registry.hub.pull import pull

    name, _, revision = repo.partition("@")
    with catalog_engine(ctx, create=True) as engine:
        result = pull(engine, name, revision=revision or None, files=files or None)
    sink_for(json).pulled(result)
