"""The ``loradex`` command line: thin commands over the Python API.

Exit codes: 0 ok, 1 a :class:`LoradexError` (one line on stderr), 2 usage. Set
``LORADEX_DEBUG=1`` to see tracebacks of unexpected errors. Every command takes ``--json``.

The catalog is ``--catalog PATH|URL`` (before the command: ``loradex --catalog x.db list``),
else ``$LORADEX_CATALOG``, else ``catalog.db`` in the user data folder.

The operations (mix, resize, bake, extract, rebuild) use a catalog only when one is *in use*:
``--catalog`` or ``$LORADEX_CATALOG`` is given, or the default catalog file already exists.
Then inputs may be catalog references and the output is recorded with its recipe; otherwise
inputs must be paths and no catalog file is created.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from loradex.adapters import LoradexError, convert, inspect, probe
from loradex.registry import compat, db, lineage, queries

from .output import Sink

app = typer.Typer(add_completion=False, no_args_is_help=True, help="A registry and workbench for SD adapters.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
CatalogOpt = Annotated[Optional[str], typer.Option(
    "--catalog", metavar="PATH|URL", show_default=False,
    help="Catalog file or SQLAlchemy URL (default: $LORADEX_CATALOG, else catalog.db in the user data folder).")]
RefArg = Annotated[str, typer.Argument(help="Id, name, path, sha256 prefix (6+ hex) or AutoV2.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="Files probed and hashed in parallel.")]
# Typer shows an Enum's values as the allowed choices and answers others with exit code 2.
SortKey = Enum("SortKey", {key: key for key in queries.SORT_KEYS}, type=str)  # type: ignore[misc]


@dataclass
class Options:
    """What the app callback stores in the Typer context for every command."""

    catalog: str | None = None


def handle_errors(fn: Callable) -> Callable:
    """Map LoradexError to one stderr line and exit code 1; everything else is a bug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LoradexError as exc:
            if os.environ.get("LORADEX_DEBUG"):
                raise
            # Plain print: Rich would wrap a long path over several lines.
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted; nothing was written", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


@app.callback()
def main_options(ctx: typer.Context, catalog: CatalogOpt = None) -> None:
    """A registry and workbench for SD adapters."""
    ctx.obj = Options(catalog=catalog)


def _catalog(ctx: typer.Context) -> str | None:
    return (ctx.find_object(Options) or Options()).catalog


@contextmanager
def _disposed(engine: Engine | None) -> Iterator[Engine | None]:
    try:
        yield engine
    finally:
        if engine is not None:
            engine.dispose()


def catalog_engine(ctx: typer.Context) -> AbstractContextManager[Engine]:
    """The catalog chosen by ``--catalog`` / ``$LORADEX_CATALOG`` (:func:`.db.open_catalog`), disposed after."""
    return _disposed(db.open_catalog(_catalog(ctx)))  # type: ignore[return-value]


def optional_engine(ctx: typer.Context) -> AbstractContextManager[Engine | None]:
    """The catalog when one is in use (:func:`.db.catalog_in_use`), else None (nothing is created)."""
    return _disposed(db.open_catalog_in_use(_catalog(ctx)))


@contextmanager
def catalog_session(ctx: typer.Context) -> Iterator[Session]:
    with catalog_engine(ctx) as engine, db.session(engine) as session:
        yield session


# ---------------------------------------------------------------------------------------
# Files


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


# ---------------------------------------------------------------------------------------
# The catalog


@app.command("scan")
@handle_errors
def scan_cmd(ctx: typer.Context,
             dirs: Annotated[list[Path], typer.Argument(exists=True, help="Folders or files.")],
             workers: WorkersOpt = 4, json: JsonOpt = False) -> None:
    """Add files to the catalog, refresh changed ones, mark vanished ones missing.

    Unchanged files (same size and mtime) are not read again. Unreadable files are listed
    and recorded with status "error"; the scan still exits 0.
    """
    from loradex.registry.scan import scan

    sink = Sink(json)
    with catalog_engine(ctx) as engine, sink.progress("scanning") as progress:
        report = scan(dirs, engine=engine, workers=workers, progress=progress)
    sink.report("scanned", report.to_dict())


@app.command("list")
@handle_errors
def list_cmd(
    ctx: typer.Context,
    kind: Annotated[Optional[str], typer.Option("--kind", help="lora, lycoris, checkpoint, textual_inversion …")] = None,
    base: Annotated[Optional[str], typer.Option("--base", help="sd1, sd2, sdxl … (your override counts)")] = None,
    tag: Annotated[Optional[str], typer.Option("--tag", help="Only artifacts with this tag.")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="Substring of name, trigger words, metadata.")] = None,
    rank_min: Annotated[Optional[int], typer.Option("--rank-min", help="Some rank at least this.")] = None,
    rank_max: Annotated[Optional[int], typer.Option("--rank-max", help="Some rank at most this.")] = None,
    status: Annotated[Optional[str], typer.Option("--status", help="ok, error or missing.")] = None,
    fits: Annotated[Optional[str], typer.Option("--fits", metavar="CKPT_REF",
                                                help="Only adapters whose layers fit this checkpoint.")] = None,
    min_share: Annotated[float, typer.Option("--min-share", min=0.0, max=1.0,
                                             help="With --fits: least share of layers that must fit.")] = 1.0,
    sort: Annotated[SortKey, typer.Option("--sort", help="Sort key; a leading - sorts descending.")] = SortKey("name"),
    limit: Annotated[Optional[int], typer.Option("--limit", min=1)] = None,
    json: JsonOpt = False,
) -> None:
    """List catalogued artifacts, filtered and sorted."""
    with catalog_session(ctx) as session:
        checkpoint = queries.resolve(session, fits) if fits else None
        rows = queries.find(session, kind=kind, base=base, tag=tag, text=text, rank_min=rank_min, rank_max=rank_max,
                            status=status, fits=checkpoint, min_share=min_share,
                            sort=getattr(sort, "value", sort), limit=limit, details=False)
        tags = queries.tags_by_artifact(session, rows)
    Sink(json).artifact_list(rows, tags)


@app.command("show")
@handle_errors
def show_cmd(ctx: typer.Context, ref: RefArg, json: JsonOpt = False) -> None:
    """Everything known about one artifact: hashes, base evidence, metadata, layers, lineage."""
    with catalog_session(ctx) as session:
        artifact = queries.resolve(session, ref)
        extra = queries.details(session, artifact)
    Sink(json).artifact_details(artifact, extra)


@app.command("tag", context_settings={"ignore_unknown_options": True})
@handle_errors
def tag_cmd(
    ctx: typer.Context,
    ref: RefArg,
    changes: Annotated[Optional[list[str]], typer.Argument(help="+tag or tag adds, -tag removes.")] = None,
    add: Annotated[Optional[list[str]], typer.Option("--add", help="Tag to add (repeatable).")] = None,
    remove: Annotated[Optional[list[str]], typer.Option("--remove", help="Tag to remove (repeatable).")] = None,
    json: JsonOpt = False,
) -> None:
    """Add or remove tags; with none given, show them.

    Example: loradex tag 12 +style -old (or: loradex tag 12 -- -old, or --remove old).
    """
    adding, removing = list(add or []), list(remove or [])
    for change in changes or []:
        # "-old" reaches us as an argument: unknown options are passed through for this command.
        if change.startswith("--"):
            raise typer.BadParameter(f"no such option {change}; a tag to remove is written -tag")
        (removing if change.startswith("-") else adding).append(change[1:] if change[:1] in "+-" else change)
    with catalog_session(ctx) as session:
        artifact = queries.resolve(session, ref)
        tags = (queries.set_tags(session, artifact, add=adding, remove=removing) if adding or removing
                else queries.tags_of(session, artifact))
    Sink(json).tag_list(artifact, tags)


@app.command("note")
@handle_errors
def note_cmd(ctx: typer.Context, ref: RefArg,
             text: Annotated[Optional[str], typer.Argument(help='The note ("" clears it); omit to show it.')] = None,
             json: JsonOpt = False) -> None:
    """Set, clear or show your note on an artifact."""
    with catalog_session(ctx) as session:
        artifact = queries.resolve(session, ref)
        if text is not None:
            queries.set_note(session, artifact, text)
    Sink(json).artifact_note(artifact)


@app.command("verify")
@handle_errors
def verify_cmd(ctx: typer.Context, workers: WorkersOpt = 4, json: JsonOpt = False) -> None:
    """Re-hash catalogued files and list those changed or missing (exits 0 either way)."""
    from loradex.registry.verify import verify

    sink = Sink(json)
    with catalog_engine(ctx) as engine, sink.progress("verifying") as progress:
        report = verify(engine, workers=workers, progress=progress)
    sink.report("verified", report.to_dict())


@app.command("dupes")
@handle_errors
def dupes_cmd(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Groups of catalogued files with identical contents (same sha256)."""
    with catalog_session(ctx) as session:
        groups = queries.duplicates(session)
    Sink(json).duplicate_groups(groups)


@app.command("check")
@handle_errors
def check_cmd(ctx: typer.Context, adapter: RefArg,
              base: Annotated[str, typer.Option("--base", metavar="CKPT_REF", help="The base checkpoint.")],
              json: JsonOpt = False) -> None:
    """How many of an adapter's layers apply to a base checkpoint, and which do not.

    Exits 0 whatever the verdict (compatible, partial, incompatible); read it from the
    output or the JSON "verdict".
    """
    with catalog_session(ctx) as session:
        result = compat.check(session, queries.resolve(session, adapter), queries.resolve(session, base))
    Sink(json).compatibility(result)


@app.command("demo")
@handle_errors
def demo_cmd(
    ctx: typer.Context,
    directory: Annotated[Optional[Path], typer.Option("--dir", help="Where to build the zoo.")] = None,
    json: JsonOpt = False,
) -> None:
    """Build the demo zoo (tiny models, every adapter format), scan it into the catalog, count it."""
    import platformdirs

    from loradex.adapters.zoo import build_zoo
    from loradex.registry.scan import scan

    # abspath, as scan stores paths: the counts below select the zoo by path prefix.
    root = Path(os.path.abspath((directory or Path(platformdirs.user_data_dir("loradex")) / "demo-zoo").expanduser()))
    sink = Sink(json)
    with catalog_engine(ctx) as engine:  # opened first: a bad --catalog fails before the build
        sink.note(f"building the demo zoo in {root} …")
        build_zoo(root)
        with sink.progress("scanning") as progress:
            report = scan([root], engine=engine, progress=progress)
        with db.session(engine) as session:
            rows = queries.counts(session, under=str(root))
        url = engine.url.render_as_string(hide_password=True)
    sink.catalog_counts(rows, scan=report.to_dict(), catalog=url)


# ---------------------------------------------------------------------------------------
# Operations: mix, resize, bake, extract (each also from a TOML recipe file), rebuild

MixMethod = Enum("MixMethod", {m: m for m in lineage.MIX_METHODS}, type=str)  # type: ignore[misc]
Dtype = Enum("Dtype", {d: d for d in lineage.DTYPES}, type=str)  # type: ignore[misc]
OutOpt = Annotated[Optional[Path], typer.Option("-o", "--out", help="Output file.", show_default=False)]
RankOpt = Annotated[Optional[int], typer.Option("--rank", min=1, help="Target rank.", show_default=False)]
WeightedArgs = Annotated[Optional[list[str]], typer.Argument(
    metavar="REF[:WEIGHT]", show_default=False,
    help="Paths or catalog refs, each with an optional weight (default 1; negative subtracts: B.safetensors:-0.5); "
         "or one recipe.toml.")]
# Inputs such as "-0.5" must reach the command (which explains REF:WEIGHT) instead of Click
# rejecting them as unknown options; "B.safetensors:-0.5" never looks like an option.
_OPS_CONTEXT = {"ignore_unknown_options": True}


def _weighted(values: list[str]) -> list[tuple[str, float]]:
    from loradex.adapters.mix import parse_weighted

    pairs = []
    for value in values:
        if value.startswith("-") and not Path(value).exists():
            try:
                float(value)
            except ValueError:
                raise typer.BadParameter(f"no such option {value}") from None
            raise typer.BadParameter(f"{value!r}: a weight goes after its input, as REF:{value}")
        pairs.append(parse_weighted(value))
    return pairs


def _recipe_file(values: list[str] | None) -> Path | None:
    if values and len(values) == 1 and values[0].lower().endswith(".toml"):
        return Path(values[0])
    return None


def _from_file(path: Path, op: str, **given: Any) -> lineage.RecipeSpec:
    """The spec of a recipe file run as ``loradex OP recipe.toml`` (no other options allowed)."""
    extra = [name for name, value in given.items() if value not in (None, False, [])]
    if extra:
        raise typer.BadParameter(f"{', '.join(extra)} cannot be combined with a recipe file; "
                                 "set them in the file instead")
    spec = lineage.load_recipe_file(path)
    if spec.op != op:
        raise lineage.RecipeFileError(f"the recipe's op is {spec.op!r}; run it with `loradex {spec.op} {path}`",
                                      path=spec.source)
    return spec


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


def _value(option: Any) -> Any:
    return getattr(option, "value", option)


def _run(ctx: typer.Context, spec: lineage.RecipeSpec, as_json: bool) -> None:
    sink = Sink(as_json)
    with optional_engine(ctx) as engine, sink.progress(spec.op) as progress:
        result = lineage.run_spec(spec, engine=engine, progress=progress)
    sink.operation(result)


DoraBaseOpt = Annotated[Optional[str], typer.Option(
    "--base", metavar="CKPT", show_default=False,
    help="The checkpoint DoRA inputs were trained on (their delta depends on its weights).")]


@app.command("mix", context_settings=_OPS_CONTEXT)
@handle_errors
def mix_cmd(
    ctx: typer.Context,
    inputs: WeightedArgs = None,
    out: OutOpt = None,
    rank: RankOpt = None,
    method: Annotated[Optional[MixMethod], typer.Option(
        "--method", help="concat: exact sum (rank = Σ ranks); svd: best approximation at --rank. [default: concat, "
                         "svd when --rank is given]", show_default=False)] = None,
    block_weights: Annotated[Optional[str], typer.Option(
        "--block-weights", metavar="IN=1,MID=0.5,OUT=1,TE=0",
        help="Multipliers per block (IN, MID, OUT, TE, TE2 or labels such as IN04).", show_default=False)] = None,
    base: DoraBaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Mix LoRAs into one: Σ weight·ΔW from the low-rank factors (exact, or SVD to a rank).

    Example: loradex mix a.safetensors:0.7 cat-lora:-0.3 --rank 32 -o ab.safetensors

    From a recipe file: loradex mix recipe.toml

    The catalog is used when --catalog or $LORADEX_CATALOG is given, or the default catalog exists.

    Inputs may then be catalog refs (id, name, sha256 prefix) and the output is recorded with its recipe.
    """
    if (path := _recipe_file(inputs)) is not None:
        spec = _from_file(path, "mix", **{"-o": out, "--rank": rank, "--method": method,
                                          "--block-weights": block_weights, "--base": base})
    else:
        _need(**{"REF[:WEIGHT]": inputs or None, "-o OUT": out})
        weights = _parsed(lineage.parse_block_weights, block_weights, "--block-weights") or {}
        spec = lineage.RecipeSpec("mix", _output(out), _weighted(inputs or []), rank=rank,
                                  method=_value(method) or ("svd" if rank is not None else "concat"),
                                  block_weights=weights, base=base)
    _run(ctx, spec, json)


@app.command("resize", context_settings=_OPS_CONTEXT)
@handle_errors
def resize_cmd(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", help="A LoRA (path or catalog ref), or one recipe.toml.")],
    out: OutOpt = None,
    rank: RankOpt = None,
    dynamic: Annotated[Optional[str], typer.Option(
        "--dynamic", metavar="sv_ratio=4|sv_fro=0.9|sv_cumulative=0.9",
        help="Per-layer rank from the singular values (kohya's resize rules) instead of --rank.",
        show_default=False)] = None,
    base: DoraBaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Reduce a LoRA's rank (fixed, or per layer by a rule); reports each layer's retained energy.

    Prints the minimum and mean retained energy; --json lists every layer.

    From a recipe file: loradex resize recipe.toml. The catalog is used as for mix.
    """
    if (path := _recipe_file([ref])) is not None:
        spec = _from_file(path, "resize", **{"-o": out, "--rank": rank, "--dynamic": dynamic, "--base": base})
    else:
        _need(**{"-o OUT": out})
        if (rank is None) == (dynamic is None):
            raise typer.BadParameter("give exactly one of --rank R and --dynamic METHOD=VALUE")
        rule = _parsed(lineage.parse_dynamic, dynamic, "--dynamic")
        spec = lineage.RecipeSpec("resize", _output(out), [(ref, 1.0)], rank=rank, dynamic=rule, base=base)
    _run(ctx, spec, json)


@app.command("bake", context_settings=_OPS_CONTEXT)
@handle_errors
def bake_cmd(
    ctx: typer.Context,
    loras: WeightedArgs = None,
    base: Annotated[Optional[str], typer.Option("--base", metavar="CKPT", show_default=False,
                                                help="The checkpoint (path or catalog ref); never modified.")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--out", show_default=False,
                                                help="Output file (a folder for a diffusers base).")] = None,
    dtype: Annotated[Optional[Dtype], typer.Option("--dtype", show_default=False,
                                                   help="Floating tensors' dtype [default: as the base].")] = None,
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", help="Bake the layers that match when some LoRA layers match nothing in the base.")] = False,
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
        spec = _from_file(path, "bake", **{"--base": base, "-o": out, "--dtype": dtype,
                                           "--allow-partial": allow_partial})
    else:
        _need(**{"--base": base, "-o OUT": out})
        spec = lineage.RecipeSpec("bake", _output(out), _weighted(loras or []), base=base,
                                  dtype=_value(dtype), allow_partial=allow_partial)
    _run(ctx, spec, json)


@app.command("extract")
@handle_errors
def extract_cmd(
    ctx: typer.Context,
    recipe: Annotated[Optional[Path], typer.Argument(metavar="[RECIPE.toml]", show_default=False,
                                                     help="Run a recipe file instead of the options.")] = None,
    base: Annotated[Optional[str], typer.Option("--base", metavar="CKPT", show_default=False,
                                                help="The original checkpoint (path or catalog ref).")] = None,
    tuned: Annotated[Optional[str], typer.Option("--tuned", metavar="CKPT", show_default=False,
                                                 help="The fine-tuned checkpoint (path or catalog ref).")] = None,
    rank: RankOpt = None,
    out: OutOpt = None,
    dtype: Annotated[Optional[Dtype], typer.Option("--dtype", show_default=False,
                                                   help="Storage dtype of the factors [default: fp16].")] = None,
    json: JsonOpt = False,
) -> None:
    """Extract a LoRA from the difference of two checkpoints (best rank-R approximation per layer).

    Example: loradex extract --base sd15.safetensors --tuned dreambooth.safetensors --rank 64 -o db.safetensors

    From a recipe file: loradex extract recipe.toml. The catalog is used as for mix.
    """
    if recipe is not None:
        if not recipe.name.lower().endswith(".toml"):
            raise typer.BadParameter(f"{recipe} is not a .toml recipe file; give checkpoints with --base and --tuned")
        spec = _from_file(recipe, "extract", **{"--base": base, "--tuned": tuned, "--rank": rank, "-o": out,
                                                   "--dtype": dtype})
    else:
        _need(**{"--base": base, "--tuned": tuned, "--rank": rank, "-o OUT": out})
        spec = lineage.RecipeSpec("extract", _output(out), base=base, tuned=tuned,
                                  rank=rank, dtype=_value(dtype))
    _run(ctx, spec, json)


@app.command("rebuild")
@handle_errors
def rebuild_cmd(ctx: typer.Context,
                ref: Annotated[str, typer.Argument(metavar="OUT",
                                                   help="A file made by loradex (path or catalog ref).")],
                json: JsonOpt = False) -> None:
    """Re-run the recipe embedded in a derived file and compare sha256.

    Exits 0 when the rebuilt output is identical, 1 (one line on stderr) when it differs or an
    input is gone or changed. Recipe inputs are read from the paths the recipe recorded; with a
    catalog, an input that moved is found by its sha256 (the output is then compared as it
    would be with the recorded paths in its recipe).
    """
    from loradex.adapters.rebuild import rebuild

    sink = Sink(json)
    with optional_engine(ctx) as engine:
        path = lineage.resolve_input(ref, engine=engine)
        with sink.progress("rebuilding"):
            report = rebuild(path, locate=lineage.locator(engine) if engine is not None else None)
    for recorded, found in report.relocated:
        sink.note(f"recipe input {recorded} moved; used {found} (same sha256, found in the catalog)")
    folder = len(report.expected_sha256) != 64  # a folder's identity is its files' sha256 list (JSON)
    if sink.as_json:
        sink.emit_json(report.to_dict())
    elif report.identical:
        same = "every file's sha256 matches" if folder else f"sha256 {report.actual_sha256[:12]}…"
        sink.out.print(f"identical: {path} re-made from its {report.op} recipe ({same})", markup=False,
                       highlight=False)
    if not report.identical:
        what = ("some files' sha256 differ" if folder else
                f"sha256 {report.actual_sha256[:12]}… instead of {report.expected_sha256[:12]}…")
        raise LoradexError(f"the rebuilt {report.op} output differs: {what}", path=path)


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except Exception:  # pragma: no cover - last resort so users never see a bare traceback
        if os.environ.get("LORADEX_DEBUG"):
            raise
        import traceback

        print(f"internal error: {traceback.format_exc().strip().splitlines()[-1]} "
              "(set LORADEX_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":  # pragma: no cover
    main()
