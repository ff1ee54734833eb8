"""Operations on catalogued artifacts: resolve the inputs, run the operation, record the output.

The math lives in :mod:`loradex.adapters` (``mix``, ``resize``, ``bake``, ``extract``), which
knows only paths. This module adds what a catalog gives: an input may be a path *or* a catalog
reference (id, name, sha256 / AutoV2 prefix), and the output is indexed with its recipe, so
``show`` answers "made by" and "used in" (:func:`loradex.registry.queries.lineage`).

A :class:`RecipeSpec` is an operation before it runs. The command line builds one from its
arguments; a TOML recipe file gives one too (:func:`load_recipe_file`)::

    op = "bake"                               # mix | resize | bake | extract
    base = "sd15"                             # catalog ref, hash prefix or path (bake, extract)
    output = "out/sd15_cat.safetensors"       # relative to the TOML file's folder
    dtype = "fp16"

    [[inputs]]
    ref = "cat-lora"                          # catalog ref, hash prefix or path
    weight = 0.8

Relative paths in a recipe file (``output``, and refs that name files) are taken from the
file's folder, so a recipe runs the same from any working folder.

Nothing here prints; progress goes through a callback.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from loradex.adapters.errors import ArtifactNotFoundError, LoradexError
from loradex.adapters.progress import Progress
from loradex.adapters.rebuild import Locate
from loradex.adapters.recipe import FORMAT
from loradex.adapters.recipe import Recipe as AdapterRecipe

from . import queries
from .db import CatalogError
from .db import session as open_session
from .models import Artifact, Recipe, RecipeInput
from .scan import scan

__all__ = ["DTYPES", "DYNAMIC_METHODS", "MIX_METHODS", "OPS", "InputUnavailableError", "OpResult", "RecipeFileError",
           "RecipeSpec", "load_recipe_file", "parse_block_weights", "parse_dynamic", "record_output", "resolve_input",
           "run_recipe_file", "run_spec"]

OPS = ("mix", "resize", "bake", "extract")
DYNAMIC_METHODS = ("sv_ratio", "sv_fro", "sv_cumulative")
DTYPES = ("fp16", "bf16", "fp32")
MIX_METHODS = ("concat", "svd")
# The keys each op accepts in a recipe file; anything else is refused (a typo must not be
# silently ignored: `rnak = 8` would otherwise bake at the default rank).
_KEYS: dict[str, tuple[str, ...]] = {
    "mix": ("method", "rank", "block_weights", "base"),
    "resize": ("rank", "dynamic", "base"),
    "bake": ("base", "dtype", "allow_partial"),
    "extract": ("base", "tuned", "rank", "dtype"),
}
_COMMON = ("op", "output", "inputs", "format")
#: Ops that cannot run without a base (mix and resize take one only for DoRA inputs).
_NEEDS_BASE = ("bake", "extract")
_INPUT_KEYS = ("ref", "weight")


class RecipeFileError(LoradexError, ValueError):
    """A TOML recipe file cannot be read or has a missing, unknown or ill-typed field."""


class InputUnavailableError(LoradexError, FileNotFoundError):
    """An input reference names no file and no usable catalogued artifact."""


@dataclass
class RecipeSpec:
    """An operation to run, before its references are resolved.

    Attributes:
        op: ``mix``, ``resize``, ``bake`` or ``extract``.
        output: where the result goes (absolute).
        inputs: ``(ref, weight)`` pairs: LoRAs to mix, resize (one) or bake.
        base: the checkpoint of ``bake`` and ``extract``; for ``mix`` / ``resize``, the one
            DoRA inputs were trained on (their delta depends on it).
        tuned: the fine-tuned checkpoint of ``extract``.
        method, rank, block_weights: ``mix`` options (``rank`` also for resize, extract).
        dynamic: ``resize`` by a per-layer rule: ``(method, value)``.
        dtype: ``bake`` / ``extract`` storage dtype (None: the operation's default).
        allow_partial: ``bake`` what matches when some LoRA layers match nothing.
        folder: where relative file references are looked up (the recipe file's folder, or
            the working folder for the command line).
        source: the recipe file this came from (None for the command line).
    """

    op: str
    output: Path
    inputs: list[tuple[str, float]] = field(default_factory=list)
    base: str | None = None
    tuned: str | None = None
    method: str = "concat"
    rank: int | None = None
    block_weights: dict[str, float] = field(default_factory=dict)
    dynamic: tuple[str, float] | None = None
    dtype: str | None = None
    allow_partial: bool = False
    folder: Path = field(default_factory=Path.cwd)
    source: Path | None = None


@dataclass
class OpResult:
    """What :func:`run_spec` did.

    Attributes:
        op: the operation.
        output: the written file (or folder, for a bake into a diffusers folder).
        report: the operation's report as a dict (``MixReport``, ``BakeReport``, ``ExtractReport``).
        inputs: each resolved input: ``ref`` (as given), ``path``, ``weight``, ``role``.
        recipe: the recipe embedded in the output.
        artifact_id: the output's catalog row; None when no catalog was used.
        artifact_name: that row's name.
    """

    op: str
    output: Path
    report: dict[str, Any]
    inputs: list[dict[str, Any]]
    recipe: AdapterRecipe
    artifact_id: int | None = None
    artifact_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        artifact = {"id": self.artifact_id, "name": self.artifact_name} if self.artifact_id is not None else None
        return {"op": self.op, "output": str(self.output), "inputs": self.inputs, "report": self.report,
                "recipe": self.recipe.to_dict(), "artifact": artifact}


# ---------------------------------------------------------------------------------------
# References


def resolve_input(ref: str, *, engine: Engine | None = None, folder: Path | None = None) -> Path:
    """The file a user means by ``ref``.

    A path that exists wins (relative to ``folder``, else the working folder). Otherwise,
    when a catalog is given, :func:`loradex.registry.queries.resolve` looks ``ref`` up as an
    id, name, path or sha256 / AutoV2 prefix, and its artifact's path is returned.

    Args:
        ref: what the user wrote.
        engine: the catalog, or None when none is in use.
        folder: where relative paths are taken from.

    Returns:
        An absolute path (as the catalog stores paths).

    Raises:
        InputUnavailableError: no such file and no catalog, or the artifact's status is not ok.
        RefNotFoundError, AmbiguousRefError: the catalog has no, or several, matches.
    """
    text = ref.strip()
    candidate = Path(text).expanduser()
    if folder is not None and not candidate.is_absolute():
        candidate = folder / candidate
    if text and candidate.exists():
        return Path(os.path.abspath(candidate))
    if engine is None:
        raise InputUnavailableError(f"no such file {ref!r}, and no catalog to look it up in as a name or hash "
                                    "(give --catalog or set LORADEX_CATALOG)")
    with open_session(engine) as session:
        artifact = queries.resolve(session, text)
    if artifact.status != "ok":
        why = f": {artifact.error}" if artifact.error else ""
        raise InputUnavailableError(f"{ref!r} is catalogued as {artifact.name} (id {artifact.id}) with status "
                                    f"{artifact.status}{why}; rescan or give a path", path=artifact.path)
    return Path(artifact.path)


def locator(engine: Engine) -> Locate:
    """For ``rebuild``: sha256 → a catalogued copy of that content still on disk, or None.
    Any copy will do (duplicates share a sha256, so this is not :func:`queries.resolve`)."""
    def locate(sha256: str) -> Path | None:
        with open_session(engine) as session:
            paths = session.exec(select(Artifact.path).where(Artifact.sha256 == sha256,
                                                             Artifact.status == "ok")).all()
        return next((Path(p) for p in sorted(paths) if Path(p).exists()), None)
    return locate


# ---------------------------------------------------------------------------------------
# Recording an output


def record_output(engine: Engine, out: str | os.PathLike[str], recipe: AdapterRecipe) -> Artifact:
    """Index a newly written output and link its recipe.

    The output is scanned on its own (not its folder), then one ``Recipe`` row (op, params,
    loradex version, the output's sha256, the new artifact) and its ``RecipeInput`` rows
    (position, sha256, ref, weight, role) are written. Idempotent: when a recipe for this
    output sha256 is recorded already, it is linked to the artifact (if it was not linked to
    any) and nothing else is written. A recipe linked to this artifact under another sha256
    (an earlier file at the same path, since overwritten) is unlinked.

    Args:
        engine: the catalog.
        out: the output file or folder.
        recipe: the recipe embedded in the output (:func:`loradex.adapters.rebuild.read_recipe`).

    Returns:
        The output's :class:`Artifact`.

    Raises:
        LoradexError: the output could not be indexed.
    """
    path = Path(os.path.abspath(out))
    scan([path], engine=engine, workers=1)
    with open_session(engine) as session:
        artifact = session.exec(select(Artifact).where(Artifact.path == str(path))).first()
        if artifact is None or not artifact.sha256:
            raise LoradexError("the output was written but could not be indexed in the catalog", path=path)
        sha = artifact.sha256
        for stale in session.exec(select(Recipe).where(Recipe.artifact_id == artifact.id,
                                                       Recipe.output_sha256 != sha)):
            stale.artifact_id = None
            session.add(stale)
        existing = session.exec(select(Recipe).where(Recipe.output_sha256 == sha).order_by(Recipe.id)).first()
        if existing is not None:
            if existing.artifact_id is None:
                existing.artifact_id = artifact.id
                session.add(existing)
        else:
            row = Recipe(artifact_id=artifact.id, output_sha256=sha, op=recipe.op, params=dict(recipe.params),
                         loradex_version=recipe.loradex_version)
            session.add(row)
            session.flush()
            for position, item in enumerate(recipe.inputs):
                session.add(RecipeInput(recipe_id=row.id, position=position, sha256=item.sha256, ref=item.ref,
                                        weight=float(item.weight), role=item.role))
        session.commit()
        return artifact


# ---------------------------------------------------------------------------------------
# Running an operation


def run_spec(spec: RecipeSpec, *, engine: Engine | None = None, progress: Progress | None = None) -> OpResult:
    """Resolve the spec's references, run the operation, and record the output when a
    catalog is given.

    Args:
        spec: the operation.
        engine: the catalog, or None (then every reference must be a path).
        progress: called with the operation's :class:`~loradex.adapters.progress.ProgressEvent`.

    Returns:
        An :class:`OpResult`.

    Raises:
        LoradexError: an input cannot be resolved, or the operation refuses its inputs.
    """
    from loradex.adapters.bake import bake
    from loradex.adapters.extract import extract
    from loradex.adapters.mix import mix, resize
    from loradex.adapters.rebuild import read_recipe

    _check_spec(spec)

    def resolve(ref: str) -> Path:
        return resolve_input(ref, engine=engine, folder=spec.folder)

    inputs = [{"ref": ref, "path": str(resolve(ref)), "weight": weight, "role": "input"} for ref, weight in spec.inputs]
    pairs = [(Path(i["path"]), i["weight"]) for i in inputs]
    out = spec.output
    if spec.source is not None:
        out.parent.mkdir(parents=True, exist_ok=True)  # a recipe file declares its output layout
    base = resolve(spec.base) if spec.base else None
    if base is not None:
        inputs.insert(0, {"ref": spec.base, "path": str(base), "weight": 1.0, "role": "base"})
    if spec.op == "mix":
        report = mix(pairs, out, method=spec.method, rank=spec.rank, block_weights=spec.block_weights or None,
                     base=base, progress=progress)
    elif spec.op == "resize":
        report = resize(pairs[0][0], out, rank=None if spec.dynamic else spec.rank, dynamic=spec.dynamic,
                        base=base, progress=progress)
    else:
        assert base is not None  # _check_spec: bake and extract need one
        if spec.op == "bake":
            report = bake(base, pairs, out, dtype=spec.dtype, allow_partial=spec.allow_partial, progress=progress)
        else:
            tuned = resolve(spec.tuned or "")
            inputs.append({"ref": spec.tuned, "path": str(tuned), "weight": 1.0, "role": "input"})
            report = extract(base, tuned, out, rank=spec.rank or 0, progress=progress,
                             **({"dtype": spec.dtype} if spec.dtype else {}))
    recipe = read_recipe(out)
    result = OpResult(spec.op, out, _report_dict(report), inputs, recipe)
    if engine is not None:
        try:
            artifact = record_output(engine, out, recipe)
        except SQLAlchemyError as exc:  # a locked or unreachable catalog: the output itself is fine
            reason = " ".join(str(exc).split())[:200]
            raise CatalogError(f"written, but not recorded in the catalog ({reason}); its recipe is in the file",
                               path=out) from exc
        result.artifact_id, result.artifact_name = artifact.id, artifact.name
    return result


def run_recipe_file(path: str | os.PathLike[str], *, engine: Engine | None = None,
                    progress: Progress | None = None) -> OpResult:
    """Load a TOML recipe file and run it (:func:`load_recipe_file`, then :func:`run_spec`)."""
    return run_spec(load_recipe_file(path), engine=engine, progress=progress)


def _report_dict(report: Any) -> dict[str, Any]:
    if hasattr(report, "to_dict"):
        return report.to_dict()
    from dataclasses import asdict

    return asdict(report)


def _check_spec(spec: RecipeSpec) -> None:
    """The checks a spec from the command line and from a file share (one-line messages)."""
    def fail(message: str) -> None:
        raise RecipeFileError(message, path=spec.source) if spec.source else LoradexError(message)

    if spec.op not in OPS:
        fail(f"unknown op {spec.op!r}; choose {', '.join(OPS)}")
    if spec.op == "mix" and not spec.inputs:
        fail("mix needs at least one input")
    if spec.op == "resize" and len(spec.inputs) != 1:
        fail(f"resize takes exactly one input, got {len(spec.inputs)}")
    if spec.op in _NEEDS_BASE and not spec.base:
        fail(f"{spec.op} needs a base")
    if spec.op == "extract" and not spec.tuned:
        fail("extract needs a tuned checkpoint")
    if spec.op == "extract" and spec.inputs:
        fail("extract takes a base and a tuned checkpoint, not inputs")
    if spec.op == "resize" and (spec.rank is None) == (spec.dynamic is None):
        fail("resize needs exactly one of rank and dynamic")
    if spec.op == "extract" and spec.rank is None:
        fail("extract needs a rank")
    if spec.op == "mix" and spec.method == "svd" and spec.rank is None:
        fail("the svd method needs a rank")
    if spec.op == "mix" and spec.method == "concat" and spec.rank is not None:
        fail("a rank applies to the svd method only (concat keeps every input's rank)")
    if spec.rank is not None and spec.rank < 1:
        fail(f"rank must be a positive integer, got {spec.rank}")
    if spec.dtype is not None and spec.dtype not in DTYPES:
        fail(f"unknown dtype {spec.dtype!r}; choose {', '.join(DTYPES)}")
    if spec.method not in MIX_METHODS:
        fail(f"unknown method {spec.method!r}; choose {', '.join(MIX_METHODS)}")


# ---------------------------------------------------------------------------------------
# Parsing option text (shared by the command line and recipe files)


def parse_block_weights(text: str) -> dict[str, float]:
    """``"IN=1,MID=0.5,OUT=1,TE=0"`` → ``{"IN": 1.0, "MID": 0.5, "OUT": 1.0, "TE": 0.0}``.

    Raises:
        ValueError: an entry is not ``LABEL=NUMBER``.
    """
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, sep, value = part.partition("=")
        if not sep or not label.strip():
            raise ValueError(f"{part!r} is not LABEL=WEIGHT (e.g. IN=1,MID=0.5,OUT=1,TE=0)")
        weights[label.strip()] = _finite(value.strip(), part)
    if not weights:
        raise ValueError("no block weights given (e.g. IN=1,MID=0.5,OUT=1,TE=0)")
    return weights


def parse_dynamic(text: str) -> tuple[str, float]:
    """``"sv_fro=0.9"`` → ``("sv_fro", 0.9)``.

    Raises:
        ValueError: an unknown method or a value that is not a positive number.
    """
    method, sep, value = text.partition("=")
    method = method.strip()
    if not sep or method not in DYNAMIC_METHODS:
        raise ValueError(f"{text!r} is not METHOD=VALUE with METHOD one of {', '.join(DYNAMIC_METHODS)} "
                         "(e.g. sv_fro=0.9)")
    number = _finite(value.strip(), text)
    if number <= 0:
        raise ValueError(f"{text!r}: the value must be positive")
    return method, number


def _finite(value: str, context: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{context!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{context!r}: {value!r} is not a finite number")
    return number


# ---------------------------------------------------------------------------------------
# TOML recipe files


def load_recipe_file(path: str | os.PathLike[str]) -> RecipeSpec:
    """Read and check a TOML recipe file (see the module docstring for the layout).

    Keys: ``op`` and ``output`` always; ``[[inputs]]`` tables (``ref``, optional ``weight``)
    for mix, resize (one) and bake; ``base`` for bake and extract; ``tuned`` and ``rank``
    for extract; ``method``, ``rank``, ``block_weights`` (a table or ``"IN=1,MID=0.5"``) for
    mix; ``rank`` or ``dynamic`` (``"sv_fro=0.9"``) for resize; ``dtype`` for bake and
    extract; ``allow_partial`` for bake; an optional ``format`` (recipe format version).

    Returns:
        A :class:`RecipeSpec` whose ``output`` is absolute (relative to the file's folder).

    Raises:
        ArtifactNotFoundError: the file does not exist.
        RecipeFileError: invalid TOML, an unknown op or key, a missing or ill-typed field
            (the message names the file and the field).
    """
    path = Path(os.path.abspath(Path(path).expanduser()))
    if not path.is_file():
        raise ArtifactNotFoundError("recipe file does not exist", path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise RecipeFileError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeFileError(f"invalid TOML: {exc}", path=path) from None

    def fail(message: str) -> RecipeFileError:
        return RecipeFileError(message, path=path)

    op = data.get("op")
    if op is None:
        raise fail(f"missing 'op' (one of {', '.join(OPS)})")
    if op not in OPS:
        raise fail(f"unknown op {op!r}; choose {', '.join(OPS)}")
    version = data.get("format", FORMAT)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT:
        raise fail(f"'format' {version!r} is not a recipe format this loradex reads (up to {FORMAT})")
    known = _COMMON + _KEYS[op]
    if op == "extract":
        known = tuple(k for k in known if k != "inputs")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} for op {op!r} (known: {', '.join(known)})")

    def text(key: str, *, required: bool = False, choices: tuple[str, ...] = ()) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                raise fail(f"missing {key!r}")
            return None
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{key!r} must be a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise fail(f"{key!r} is {value!r}; choose {', '.join(choices)}")
        return value

    output = Path(text("output", required=True)).expanduser()  # type: ignore[arg-type]
    spec = RecipeSpec(op=op, output=Path(os.path.abspath(path.parent / output)), folder=path.parent, source=path)
    if op != "extract":
        spec.inputs = _inputs(data.get("inputs"), fail)
    if "base" in known:
        spec.base = text("base", required=op in _NEEDS_BASE)
    if op == "extract":
        spec.tuned = text("tuned", required=True)
    if "rank" in data:
        rank = data["rank"]
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise fail(f"'rank' must be a positive integer, got {rank!r}")
        spec.rank = rank
    if "dtype" in known:
        spec.dtype = text("dtype", choices=DTYPES)
    if op == "mix":
        spec.method = text("method", choices=MIX_METHODS) or "concat"
        spec.block_weights = _block_weights(data.get("block_weights"), fail)
    if op == "resize" and "dynamic" in data:
        try:
            spec.dynamic = parse_dynamic(text("dynamic") or "")
        except ValueError as exc:
            raise fail(f"'dynamic': {exc}") from None
    if op == "bake" and "allow_partial" in data:
        if not isinstance(data["allow_partial"], bool):
            raise fail(f"'allow_partial' must be true or false, got {data['allow_partial']!r}")
        spec.allow_partial = data["allow_partial"]
    if op == "resize" and spec.inputs and spec.inputs[0][1] != 1.0:
        raise fail("resize takes no weight: inputs[0].weight must be left out")
    _check_spec(spec)
    return spec


def _inputs(value: Any, fail: Callable[[str], RecipeFileError]) -> list[tuple[str, float]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail("'inputs' must be an array of tables ([[inputs]] with ref = ..., weight = ...)")
    pairs = []
    for n, item in enumerate(value):
        where = f"inputs[{n}]"
        if not isinstance(item, Mapping):
            raise fail(f"{where} must be a table with 'ref' and optional 'weight', got {item!r}")
        unknown = sorted(set(item) - set(_INPUT_KEYS))
        if unknown:
            raise fail(f"unknown key {unknown[0]!r} in {where} (known: {', '.join(_INPUT_KEYS)})")
        ref = item.get("ref")
        if not isinstance(ref, str) or not ref.strip():
            raise fail(f"{where}.ref must be a non-empty string (a path, name or hash prefix), got {ref!r}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise fail(f"{where}.weight must be a number, got {weight!r}")
        pairs.append((ref, float(weight)))
    return pairs


def _block_weights(value: Any, fail: Callable[[str], RecipeFileError]) -> dict[str, float]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            return parse_block_weights(value)
        except ValueError as exc:
            raise fail(f"'block_weights': {exc}") from None
    if not isinstance(value, Mapping):
        raise fail(f"'block_weights' must be a table (IN = 1, MID = 0.5 …) or a string, got {value!r}")
    weights = {}
    for label, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise fail(f"block_weights.{label} must be a number, got {weight!r}")
        weights[str(label)] = float(weight)
    return weights
