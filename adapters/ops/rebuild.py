"""rebuild(path): re-run the recipe embedded in a derived file and compare the result.

Inputs are found where the recipe recorded them, or, when they moved, by their sha256 through
a ``locate`` callback (the CLI asks the catalog); they must have the recorded sha256 —
rebuilding from a changed input would prove nothing. The recipe an op embeds names its inputs
by path, so an output rebuilt from moved inputs is compared as the file it would be with the
recorded paths in its recipe.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeGuard

from loradex.adapters.errors import InputChangedError
from loradex.adapters.io.atomic import scratch_dir
from loradex.adapters.io.hashing import sha256_file, sha256_with_metadata
from loradex.adapters.io.reader import SafetensorsFile

from .recipe import METADATA_KEY, RecipeInput
from .recipe_sources import embedded, read_recipe
from .runner import run

#: sha256 → a file with that content now (e.g. found in the catalog), or None.
Locate = Callable[[str], Path | None]


@dataclass(frozen=True)
class Relocation:
    """A recipe input that moved: the ref the recipe recorded, and the file found by its sha256."""

    recorded: str
    found: str


@dataclass
class RebuildReport:
    path: Path
    op: str
    expected_sha256: str
    actual_sha256: str
    #: The inputs that moved.
    relocated: list[Relocation] = field(default_factory=list)
    json_computed: ClassVar = ("identical",)

    @property
    def identical(self) -> bool:
        return self.expected_sha256 == self.actual_sha256


def _identity(path: Path, recorded: dict[str, str]) -> str:
    """sha256 of the output (per file, as JSON, for a folder), with the recipe's input refs
    put back to the ``recorded`` ones (run ref → recorded ref) where inputs had moved."""
    if path.is_dir():
        return json.dumps(
            {str(f.relative_to(path)): _identity(f, recorded) for f in sorted(path.rglob("*")) if f.is_file()}
        )
    if not recorded or path.suffix != ".safetensors":
        return sha256_file(path)
    with SafetensorsFile(path) as sf:
        metadata = dict(sf.metadata)
    if METADATA_KEY not in metadata:
        return sha256_file(path)
    recipe = embedded(metadata[METADATA_KEY], path=path)
    for item in recipe.inputs:
        item.ref = recorded.get(item.ref, item.ref)
    metadata[METADATA_KEY] = recipe.to_json()
    return sha256_with_metadata(path, metadata)


def _find(item: RecipeInput, locate: Locate | None, path: Path) -> Path:
    """Where the recipe input is now: its recorded path if that still has the recorded
    content, else wherever ``locate`` finds the sha256."""

    def holds(candidate: Path | None) -> TypeGuard[Path]:  # folders are not re-hashed here
        return (
            candidate is not None
            and candidate.exists()
            and (not candidate.is_file() or sha256_file(candidate) == item.sha256)
        )

    ref = Path(item.ref)
    if holds(ref):
        return ref
    found = locate(item.sha256) if locate else None
    if holds(found):
        return found
    why = "changed since (sha256 differs)" if ref.exists() else "no longer exists"
    where = " and nothing with its sha256 was found" if locate else ""
    raise InputChangedError(f"recipe input {item.ref} {why}{where}", path=path)


def rebuild(path: str | Path, *, locate: Locate | None = None) -> RebuildReport:
    """Re-run ``path``'s recipe into a temporary output beside it and compare hashes.

    Args:
        path: a file (or baked folder) made by loradex.
        locate: finds an input that is gone from, or changed at, its recorded path by sha256.

    Raises:
        InputChangedError: an input is missing or changed and ``locate`` found no copy.
        UnsupportedError: the file carries no recipe.
    """
    path = Path(path)
    recipe = read_recipe(path)
    found = {id(item): _find(item, locate, path) for item in recipe.inputs}
    relocated = [
        Relocation(item.ref, str(found[id(item)])) for item in recipe.inputs if found[id(item)] != Path(item.ref)
    ]
    with scratch_dir(path) as tmp:
        result = run(recipe, resolve=lambda item: found[id(item)], out=tmp / path.name)
        recorded = {moved.found: moved.recorded for moved in relocated}
        return RebuildReport(path, recipe.op, _identity(path, {}), _identity(result.output, recorded), relocated)
