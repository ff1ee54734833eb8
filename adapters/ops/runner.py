"""The one runner of recipes: resolve a recipe's inputs, look its operation up, run it.

``loradex OP recipe.toml``, ``rebuild`` and scripts all go through :func:`run`; the catalog only
lends a ``resolve`` that understands catalog references. The operations need torch: each verb
imports its code only when it runs, after a bake's base has started hashing, so that the hash
hides behind the import.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradex.adapters.errors import ArtifactNotFoundError, LoradexError
from loradex.adapters.io.hashing import prefetch_sha256
from loradex.adapters.progress import Progress

from .recipe import Recipe, RecipeInput
from .recipe_sources import read_recipe
from .registry import Inputs, lookup

#: An input as given → the file it means (a catalog lookup, a moved copy found by sha256 …).
Resolve = Callable[[RecipeInput], Path]


@dataclass
class RunResult:
    """What :func:`run` did.

    Attributes:
        output: the written file (or folder, for a bake into a diffusers folder).
        report: the operation's report (``MixReport``, ``BakeReport``, ``ExtractReport``).
        inputs: each input as given with the file it resolved to, in recipe order.
        recipe: the recipe as embedded in the output (inputs by path and sha256).
    """

    output: Path
    report: Any
    inputs: list[tuple[RecipeInput, Path]]
    recipe: Recipe


def files_only(recipe: Recipe) -> Resolve:
    """The resolver without a catalog: every reference is a path (relative to the recipe's folder)."""

    def resolve(item: RecipeInput) -> Path:
        candidate = Path(item.ref).expanduser()
        if recipe.folder is not None and not candidate.is_absolute():
            candidate = recipe.folder / candidate
        if not item.ref.strip() or not candidate.exists():
            raise ArtifactNotFoundError("no such file", path=candidate)
        return Path(os.path.abspath(candidate))

    return resolve


def run(
    recipe: Recipe,
    *,
    resolve: Resolve | None = None,
    out: str | Path | None = None,
    progress: Progress | None = None,
    hashes: bool = False,
) -> RunResult:
    """Resolve ``recipe``'s inputs and run its operation into ``out`` (default: ``recipe.output``).

    Args:
        resolve: turns each input's reference into a file (default :func:`files_only`).
        progress: receives the operation's progress events.
        hashes: the output's hashes are wanted (``report.hashes``; a bake then hashes while
            writing, the smaller outputs of the other ops always are).

    Raises:
        LoradexError: an input cannot be resolved, or the operation refuses.
    """
    target = Path(out) if out is not None else recipe.output
    if target is None:
        raise LoradexError(f"the {recipe.op} recipe names no output")
    resolve = resolve or files_only(recipe)
    inputs = [(item, resolve(item)) for item in recipe.inputs]
    base = next((path for item, path in inputs if item.role == "base"), None)
    if recipe.hashes_base_first and base is not None and base.is_file():
        prefetch_sha256(base)  # a multi-GB hash the op needs first, hidden behind importing torch
    if recipe.source is not None:
        target.parent.mkdir(parents=True, exist_ok=True)  # a recipe file declares its output layout
    weighted = [(path, item.weight) for item, path in inputs if item.role != "base"]
    report = lookup(recipe.op).run(recipe, Inputs(base, weighted), target, progress=progress, hashes=hashes)
    return RunResult(target, report, inputs, read_recipe(target))
