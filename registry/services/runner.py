"""Operations on catalogued artifacts: resolve the inputs, run the recipe, record the output.

The operations and their one runner live in :mod:`loradex.adapters` (``ops.runner.run``), which
knows only paths. This module adds what a catalog gives: an input may be a path *or* a
catalog reference (id, name, sha256 / AutoV2 prefix), and the output is indexed with its
recipe, so ``show`` answers "made by" and "used in" (:func:`loradex.registry.queries.lookup.lineage`).

Nothing here prints; progress goes through a callback.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

import loradex.adapters.interrupts as interrupts
from loradex.adapters.errors import InterruptedAfterWrite, LoradexError
from loradex.adapters.io.hashing import FileHashes
from loradex.adapters.ops.rebuild import Locate
from loradex.adapters.ops.recipe import Recipe as AdapterRecipe
from loradex.adapters.ops.recipe import RecipeInput as AdapterInput
from loradex.adapters.ops.recipe_sources import load_recipe, read_recipe
from loradex.adapters.ops.runner import run
from loradex.adapters.progress import Progress
from loradex.registry.errors import CatalogError, InputUnavailableError
from loradex.registry.queries import lookup, orm
from loradex.registry.store.db import session as open_session
from loradex.registry.store.failures import reason_of
from loradex.registry.store.models import Artifact, Recipe, RecipeInput

from .scan import scan

__all__ = [
    "OpResult",
    "RecordedAs",
    "ResolvedInput",
    "locator",
    "record_output",
    "resolve_input",
    "run_recipe",
    "run_recipe_file",
]


@dataclass
class OpResult:
    """What :func:`run_recipe` did.

    Attributes:
        op: the operation.
        output: the written file (or folder, for a bake into a diffusers folder).
        inputs: each input as given, with the file it resolved to.
        report: the operation's report (``MixReport``, ``BakeReport``, ``ExtractReport``, ``ConversionReport``).
        recipe: the recipe embedded in the output.
        artifact: the output's catalog row; None when no catalog was used.
    """

    op: str
    output: Path
    inputs: list[ResolvedInput]
    report: Any
    recipe: AdapterRecipe
    artifact: RecordedAs | None = None
    #: Seconds spent running the operation (``run``) and recording its output (``record``).
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedInput:
    """A recipe input: the reference as given, the file it resolved to, its weight and role."""

    ref: str
    path: Path
    weight: float
    role: str


@dataclass(frozen=True)
class RecordedAs:
    """The catalog row an output was recorded as."""

    id: int
    name: str


# ---------------------------------------------------------------------------------------
# References


def resolve_input(ref: str, *, engine: Engine | None = None, folder: Path | None = None) -> Path:
    """The file a user means by ``ref``.

    A path that exists wins (relative to ``folder``, else the working folder). Otherwise,
    when a catalog is given, :func:`loradex.registry.queries.orm.resolve` looks ``ref`` up as an
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
    if lookup.looks_like_path(text):
        raise InputUnavailableError("no such file", path=candidate)
    if engine is None:
        raise InputUnavailableError(
            f"no such file {ref!r}, and no catalog to look it up in as a name or hash "
            "(give --catalog or set LORADEX_CATALOG)"
        )
    with open_session(engine) as session:
        artifact = orm.resolve(session, text)
    if artifact.status != "ok":
        why = f": {artifact.error}" if artifact.error else ""
        raise InputUnavailableError(
            f"{ref!r} is catalogued as {artifact.name} (id {artifact.id}) with status "
            f"{artifact.status}{why}; rescan or give a path",
            path=artifact.path,
        )
    return Path(artifact.path)


def locator(engine: Engine) -> Locate:
    """For ``rebuild``: sha256 → a catalogued copy of that content still on disk, or None.
    Any copy will do (duplicates share a sha256, so this is not :func:`loradex.registry.queries.orm.resolve`)."""

    def locate(sha256: str) -> Path | None:
        with open_session(engine) as session:
            paths = session.exec(select(Artifact.path).where(Artifact.sha256 == sha256, Artifact.status == "ok")).all()
        return next((Path(p) for p in sorted(paths) if Path(p).exists()), None)

    return locate


# ---------------------------------------------------------------------------------------
# Recording an output


def record_output(
    engine: Engine, out: str | os.PathLike[str], recipe: AdapterRecipe, *, hashes: FileHashes | None = None
) -> Artifact:
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
        recipe: the recipe embedded in the output (:func:`loradex.adapters.ops.recipe_sources.read_recipe`).
        hashes: the output's hashes when the operation computed them while writing (then the
            output is not read a second time).

    Returns:
        The output's :class:`Artifact`.

    Raises:
        LoradexError: the output could not be indexed.
    """
    path = Path(os.path.abspath(out))
    scan([path], engine=engine, workers=1, hashes={path: hashes} if hashes else None, remember=False)
    with open_session(engine) as session:
        artifact = session.exec(select(Artifact).where(Artifact.path == str(path))).first()
        if artifact is None or not artifact.sha256:
            raise LoradexError("the output was written but could not be indexed in the catalog", path=path)
        sha = artifact.sha256
        for stale in session.exec(select(Recipe).where(Recipe.artifact_id == artifact.id, Recipe.output_sha256 != sha)):
            stale.artifact_id = None
            session.add(stale)
        existing = session.exec(select(Recipe).where(Recipe.output_sha256 == sha).order_by(col(Recipe.id))).first()
        if existing is not None:
            if existing.artifact_id is None:
                existing.artifact_id = artifact.id
                session.add(existing)
        else:
            row = Recipe(
                artifact_id=artifact.id,
                output_sha256=sha,
                op=recipe.op,
                params=dict(recipe.params),
                loradex_version=recipe.loradex_version,
            )
            session.add(row)
            session.flush()
            assert row.id is not None  # flushed just above
            for position, item in enumerate(recipe.inputs):
                session.add(
                    RecipeInput(
                        recipe_id=row.id,
                        position=position,
                        sha256=item.sha256,
                        ref=item.ref,
                        weight=float(item.weight),
                        role=item.role,
                    )
                )
        session.commit()
        return artifact


# ---------------------------------------------------------------------------------------
# Running an operation


def run_recipe(recipe: AdapterRecipe, *, engine: Engine | None = None, progress: Progress | None = None) -> OpResult:
    """Run ``recipe`` (:func:`loradex.adapters.ops.runner.run`) with references resolved through
    the catalog when one is given, and record the output there.

    Args:
        recipe: the operation, its inputs by reference.
        engine: the catalog, or None (then every reference must be a path).
        progress: receives the operation's :class:`~loradex.adapters.progress.ProgressEvent`\\ s.

    Raises:
        LoradexError: an input cannot be resolved, or the operation refuses its inputs.
    """

    def resolve(item: AdapterInput) -> Path:
        return resolve_input(item.ref, engine=engine, folder=recipe.folder or Path.cwd())

    start = time.perf_counter()
    target = recipe.output

    def record_it() -> str:  # Ctrl-C after the rename: the output is complete; record it first
        if engine is None or target is None:
            return ""
        record_output(engine, target, read_recipe(target))
        return " and recorded in the catalog"

    with interrupts.writing(target, then=record_it):
        result = run(recipe, resolve=resolve, progress=progress, hashes=engine is not None)
    inputs = [ResolvedInput(item.ref, path, item.weight, item.role) for item, path in result.inputs]
    outcome = OpResult(recipe.op, result.output, inputs, result.report, result.recipe)
    outcome.timings["run"] = time.perf_counter() - start
    if engine is not None:
        start = time.perf_counter()
        try:
            with interrupts.held() as interrupted:  # the file on disk and the catalog agree, even on Ctrl-C
                artifact = record_output(engine, result.output, result.recipe, hashes=result.report.hashes)
        except SQLAlchemyError as exc:  # a locked or unreachable catalog: the output itself is fine
            raise CatalogError(
                f"written, but not recorded in the catalog ({reason_of(exc)[:200]}); its recipe is in the file",
                path=result.output,
            ) from exc
        if interrupted:
            raise InterruptedAfterWrite(
                "the output is complete and recorded in the catalog (the interrupt came while it was being recorded)",
                path=result.output,
            )
        assert artifact.id is not None  # record_output returns the row it read back from the catalog
        outcome.artifact = RecordedAs(artifact.id, artifact.name)
        outcome.timings["record"] = time.perf_counter() - start
    return outcome


def run_recipe_file(
    path: str | os.PathLike[str], *, engine: Engine | None = None, progress: Progress | None = None
) -> OpResult:
    """Load a TOML recipe file (:func:`loradex.adapters.ops.recipe_sources.load_recipe`) and :func:`run_recipe` it."""
    return run_recipe(load_recipe(path), engine=engine, progress=progress)
