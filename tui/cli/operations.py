"""The operations: mix, resize, bake, extract (each also from a TOML recipe file), rebuild; and
the runner the convert command shares (:func:`execute`).

They use a catalog only when one is in use (:func:`loradex.registry.store.db.catalog_in_use`).
The operations need torch, so the recipe runner imports them only when a command runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loradex.adapters.errors import LoradexError
from loradex.adapters.ops import options

from .options import JsonOpt, ThreadsOpt, choice, commands, optional_engine, sink_for, torch_threads_given

group = commands()

if TYPE_CHECKING:
    from loradex.adapters.ops.recipe import Recipe
    from loradex.registry.services.runner import OpResult

    from ..output import Sink

OutOpt = Annotated[Path | None, typer.Option("-o", "--out", help="Output file.", show_default=False)]
RankOpt = Annotated[int | None, typer.Option("--rank", min=1, help="Target rank.", show_default=False)]
WeightedArgs = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="REF[:WEIGHT]",
        show_default=False,
        help="Paths or catalog refs, each with an optional weight (default 1; negative subtracts: B.safetensors:-0.5); "
        "or one recipe.toml.",
    ),
]
# Inputs such as "-0.5" must reach the command (which explains REF:WEIGHT) instead of Click
# rejecting them as unknown options; "B.safetensors:-0.5" never looks like an option.
OPS_CONTEXT = {"ignore_unknown_options": True}


def weighted_refs(values: list[str]) -> list[tuple[str, float]]:
    """``REF[:WEIGHT]`` arguments as (ref, weight); a bare negative number is a usage error that
    says where the weight goes."""
    pairs = []
    for value in values:
        if value.startswith("-") and not Path(value).exists():
            try:
                float(value)
            except ValueError:
                raise typer.BadParameter(f"no such option {value}") from None
            raise typer.BadParameter(f"{value!r}: a weight goes after its input, as REF:{value}")
        pairs.append(_parsed(options.parse_weighted, value, "REF[:WEIGHT]"))
    return pairs


def _recipes() -> ModuleType:
    """Where recipes come from, loaded by the commands that build one (with pydantic and the
    readers it brings, time that ``--help`` and the catalog commands do not pay)."""
    import loradex.adapters.ops.recipe_sources as sources

    return sources


def _recipe_file(values: list[str] | None) -> Path | None:
    if values and len(values) == 1 and values[0].lower().endswith(".toml"):
        return Path(values[0])
    return None


def recipe_of(
    op: str,
    out: Path | None,
    inputs: list[tuple[str, float]] | None = None,
    *,
    base: str | None = None,
    tuned: str | None = None,
    **params: Any,
) -> Recipe:
    """The recipe of an operation given by options (references resolved when it runs)."""
    return _recipes().given(op, inputs or [], base=base, tuned=tuned, output=_output(out), **params)


def _from_file(path: Path, **given: Any) -> Recipe:
    """The recipe of a file run as ``loradex OP recipe.toml``: the file names its own op, so any
    of the operation commands runs any recipe (no other options allowed)."""
    extra = [name for name, value in given.items() if value not in (None, False, [])]
    if extra:
        raise typer.BadParameter(
            f"{', '.join(extra)} cannot be combined with a recipe file; set them in the file instead"
        )
    return _recipes().load_recipe(path)


def _need(**values: Any) -> None:
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise typer.BadParameter(f"missing {', '.join(missing)}")


def _output(out: Path | None) -> Path:
    if out is None:
        raise typer.BadParameter("missing -o OUT")
    return Path(os.path.abspath(out.expanduser()))


def _parsed(parse: Callable[[str], Any], value: str | None, hint: str) -> Any:
    """An option's text parsed by ``parse``; its ValueError becomes a usage error (exit 2)."""
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _run(ctx: typer.Context, recipe: Recipe, as_json: bool, threads: int | None) -> None:
    sink = sink_for(as_json)
    sink.operation(execute(ctx, recipe, sink, threads))


def execute(ctx: typer.Context, recipe: Recipe, sink: Sink, threads: int | None) -> OpResult:
    """Run ``recipe`` with the catalog in use (if any), which records the output and its lineage;
    torch on ``threads`` when given (:func:`.options.torch_threads_given`)."""
    if recipe.hashes_base_first and recipe.base is not None and Path(recipe.base.ref).is_file():
        from loradex.adapters.io.hashing import prefetch_sha256

        prefetch_sha256(recipe.base.ref)  # the multi-GB hash a bake needs first, beside opening the catalog
    from loradex.registry.services.runner import run_recipe

    with optional_engine(ctx) as engine, sink.progress(recipe.op) as progress, torch_threads_given(threads):
        return run_recipe(recipe, engine=engine, progress=progress)


DoraBaseOpt = Annotated[
    str | None,
    typer.Option(
        "--base",
        metavar="CKPT",
        show_default=False,
        help="The checkpoint DoRA inputs were trained on (their delta depends on its weights).",
    ),
]


@group.command("mix", context_settings=OPS_CONTEXT)
def mix_cmd(
    ctx: typer.Context,
    inputs: WeightedArgs = None,
    out: OutOpt = None,
    rank: RankOpt = None,
    method: Annotated[
        str | None,
        choice(
            "--method",
            options.MIX_METHODS,
            help="concat: exact sum (rank = Σ ranks); svd: best approximation at --rank. "
            "[default: concat, svd when --rank is given]",
        ),
    ] = None,
    block_weights: Annotated[
        str | None,
        typer.Option(
            "--block-weights",
            metavar="IN=1,MID=0.5,OUT=1,TE=0|PRESET|VECTOR",
            help="Multipliers per block: labels (IN, MID, OUT, TE, TE2, TE3, D, S, J, or one block such as "
            "IN04, D7, S37), a LoRA Block Weight preset (OUTALL, INS, MIDD …) or vector (SD1/SD2: 17 or 26 "
            "numbers; SDXL: 12, 20 or 26; Flux.1: 61).",
            show_default=False,
        ),
    ] = None,
    base: DoraBaseOpt = None,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Mix LoRAs into one: Σ weight·ΔW from the low-rank factors (exact, or SVD to a rank).

    Example: loradex mix a.safetensors:0.7 cat-lora:-0.3 --rank 32 -o ab.safetensors

    From a recipe file: loradex mix recipe.toml

    The catalog is used when --catalog or $LORADEX_CATALOG is given, or the default catalog exists.

    Inputs may then be catalog refs (id, name, sha256 prefix) and the output is recorded with its recipe.
    """
    if (path := _recipe_file(inputs)) is not None:
        spec = _from_file(
            path, **{"-o": out, "--rank": rank, "--method": method, "--block-weights": block_weights, "--base": base}
        )
    else:
        _need(**{"REF[:WEIGHT]": inputs or None, "-o OUT": out})
        weights = _parsed(options.parse_block_weights, block_weights, "--block-weights") or {}
        spec = recipe_of(
            "mix",
            out,
            weighted_refs(inputs or []),
            base=base,
            rank=rank,
            method=method or ("svd" if rank is not None else "concat"),
            block_weights=weights,
        )
    _run(ctx, spec, json, threads)


@group.command("resize", context_settings=OPS_CONTEXT)
def resize_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help="A LoRA (path or catalog ref), or one recipe.toml.")],
    out: OutOpt = None,
    rank: RankOpt = None,
    dynamic: Annotated[
        str | None,
        typer.Option(
            "--dynamic",
            metavar="sv_ratio=4|sv_fro=0.9|sv_cumulative=0.9",
            help="Per-layer rank from the singular values (kohya's resize rules) instead of --rank.",
            show_default=False,
        ),
    ] = None,
    base: DoraBaseOpt = None,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Reduce a LoRA's rank (fixed, or per layer by a rule); reports each layer's retained energy.

    Prints the minimum and mean retained energy; --json lists every layer.

    From a recipe file: loradex resize recipe.toml. The catalog is used as for mix.
    """
    if (path := _recipe_file([ref])) is not None:
        spec = _from_file(path, **{"-o": out, "--rank": rank, "--dynamic": dynamic, "--base": base})
    else:
        _need(**{"-o OUT": out})
        if (rank is None) == (dynamic is None):
            raise typer.BadParameter("give exactly one of --rank R and --dynamic METHOD=VALUE")
        rule = _parsed(options.parse_dynamic, dynamic, "--dynamic")
        spec = recipe_of("resize", out, [(ref, 1.0)], base=base, rank=rank, dynamic=list(rule) if rule else None)
    _run(ctx, spec, json, threads)


@group.command("bake", context_settings=OPS_CONTEXT)
def bake_cmd(
    ctx: typer.Context,
    loras: WeightedArgs = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base", metavar="CKPT", show_default=False, help="The checkpoint (path or catalog ref); never modified."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", show_default=False, help="Output file (a folder for a diffusers base)."),
    ] = None,
    dtype: Annotated[
        str | None, choice("--dtype", options.DTYPES, help="Floating tensors' dtype [default: as the base].")
    ] = None,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial", help="Bake the layers that match when some LoRA layers match nothing in the base."
        ),
    ] = False,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Bake LoRAs into a checkpoint: W' = W + Σ weight·ΔW, streamed tensor by tensor.

    Example: loradex bake --base sd15.safetensors a:0.8 b:0.5 -o sd15_ab.safetensors

    From a recipe file: loradex bake recipe.toml

    LoRA layers that match nothing in the base stop the bake (named) unless --allow-partial.
    A pickled .ckpt base is read safely (weights only) and the output is always safetensors,
    so with no LoRAs a bake is a safe conversion: loradex bake --base old.ckpt -o new.safetensors

    The catalog is used as for mix.
    """
    if (path := _recipe_file(loras)) is not None:
        spec = _from_file(path, **{"--base": base, "-o": out, "--dtype": dtype, "--allow-partial": allow_partial})
    else:
        _need(**{"--base": base, "-o OUT": out})
        spec = recipe_of("bake", out, weighted_refs(loras or []), base=base, dtype=dtype, allow_partial=allow_partial)
    _run(ctx, spec, json, threads)


@group.command("extract")
def extract_cmd(
    ctx: typer.Context,
    recipe: Annotated[
        Path | None,
        typer.Argument(metavar="[RECIPE.toml]", show_default=False, help="Run a recipe file instead of the options."),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base", metavar="CKPT", show_default=False, help="The original checkpoint (path or catalog ref)."
        ),
    ] = None,
    tuned: Annotated[
        str | None,
        typer.Option(
            "--tuned", metavar="CKPT", show_default=False, help="The fine-tuned checkpoint (path or catalog ref)."
        ),
    ] = None,
    rank: RankOpt = None,
    out: OutOpt = None,
    dtype: Annotated[
        str | None, choice("--dtype", options.FACTOR_DTYPES, help="Storage dtype of the factors [default: fp16].")
    ] = None,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Extract a LoRA from the difference of two checkpoints (best rank-R approximation per layer).

    Example: loradex extract --base sd15.safetensors --tuned dreambooth.safetensors --rank 64 -o db.safetensors

    From a recipe file: loradex extract recipe.toml. The catalog is used as for mix.
    """
    if recipe is not None:
        if not recipe.name.lower().endswith(".toml"):
            raise typer.BadParameter(f"{recipe} is not a .toml recipe file; give checkpoints with --base and --tuned")
        spec = _from_file(recipe, **{"--base": base, "--tuned": tuned, "--rank": rank, "-o": out, "--dtype": dtype})
    else:
        _need(**{"--base": base, "--tuned": tuned, "--rank": rank, "-o OUT": out})
        spec = recipe_of("extract", out, base=base, tuned=tuned, rank=rank, dtype=dtype)
    _run(ctx, spec, json, threads)


@group.command("rebuild")
def rebuild_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="OUT", help="A file made by loradex (path or catalog ref).")],
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Re-run the recipe embedded in a derived file and compare sha256.

    Exits 0 when the rebuilt output is identical, 1 (one line on stderr) when it differs or an
    input is gone or changed. Recipe inputs are read from the paths the recipe recorded; with a
    catalog, an input that moved is found by its sha256 (the output is then compared as it
    would be with the recorded paths in its recipe).
    """
    from loradex.adapters.ops.rebuild import rebuild
    from loradex.registry.services import runner

    sink = sink_for(json)
    with optional_engine(ctx, readonly=True) as engine:
        path = runner.resolve_input(ref, engine=engine)
        with sink.progress("rebuilding"), torch_threads_given(threads):
            report = rebuild(path, locate=runner.locator(engine) if engine is not None else None)
    for moved in report.relocated:
        sink.note(f"recipe input {moved.recorded} moved; used {moved.found} (same sha256, found in the catalog)")
    folder = len(report.expected_sha256) != 64  # a folder's identity is its files' sha256 list (JSON)
    if sink.as_json:
        sink.emit_json(report)
    elif report.identical:
        same = "every file's sha256 matches" if folder else f"sha256 {report.actual_sha256[:12]}…"
        sink.out.print(f"identical: {path} re-made from its {report.op} recipe ({same})", markup=False, highlight=False)
    if not report.identical:
        what = (
            "some files' sha256 differ"
            if folder
            else f"sha256 {report.actual_sha256[:12]}… instead of {report.expected_sha256[:12]}…"
        )
        raise LoradexError(f"the rebuilt {report.op} output differs: {what}", path=path)
