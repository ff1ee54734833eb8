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

from .errors import LoradexError, UnsupportedError
from .hashing import sha256_file, sha256_with_metadata
from .recipe import METADATA_KEY, Recipe, RecipeInput
from .safetensors_io.atomic import scratch_dir
from .safetensors_io.reader import SafetensorsFile


class InputChangedError(LoradexError):
    """A recipe input is gone or no longer has the recorded content."""


#: sha256 → a file with that content now (e.g. found in the catalog), or None.
Locate = Callable[[str], Path | None]


@dataclass
class RebuildReport:
    path: Path
    op: str
    expected_sha256: str
    actual_sha256: str
    #: (recorded ref, where it was found instead) for inputs that moved
    relocated: list[tuple[str, str]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.expected_sha256 == self.actual_sha256

    def to_dict(self) -> dict:
        return {"path": str(self.path), "op": self.op, "expected_sha256": self.expected_sha256,
                "actual_sha256": self.actual_sha256, "identical": self.identical,
                "relocated": [{"recorded": a, "found": b} for a, b in self.relocated]}


def read_recipe(path: str | Path) -> Recipe:
    """The recipe embedded in a derived safetensors file (for a baked folder: any of its files)."""
    path = Path(path)
    files = sorted(path.rglob("*.safetensors")) if path.is_dir() else [path]
    for f in files:
        with SafetensorsFile(f) as sf:
            if METADATA_KEY in sf.metadata:
                return Recipe.from_json(sf.metadata[METADATA_KEY])
    raise UnsupportedError("carries no loradex recipe (it was not made by loradex)", path=path)


def run_recipe(recipe: Recipe, out: Path):
    """Execute a recipe into ``out``; returns the operation's report."""
    from .bake import bake
    from .extract import extract
    from .mix import mix, resize

    p = recipe.params
    inputs = [(Path(i.ref), i.weight) for i in recipe.inputs if i.role == "input"]
    base = next((Path(i.ref) for i in recipe.inputs if i.role == "base"), None)
    if recipe.op == "mix":
        return mix(inputs, out, method=p["method"], rank=p["rank"], block_weights=p.get("block_weights") or None,
                   base=base)
    if recipe.op == "resize":
        dynamic = tuple(p["dynamic"]) if p.get("dynamic") else None
        return resize(inputs[0][0], out, rank=None if dynamic else p["rank"], dynamic=dynamic, base=base)
    if recipe.op == "bake":
        return bake(base, inputs, out, dtype=p.get("dtype"), allow_partial=p.get("allow_partial", False))
    if recipe.op == "extract":
        return extract(base, inputs[0][0], out, rank=p["rank"], dtype=p["dtype"], min_change=p["min_change"])
    raise UnsupportedError(f"cannot re-run a {recipe.op!r} recipe")


def _identity(path: Path, recorded: dict[str, str]) -> str:
    """sha256 of the output (per file, as JSON, for a folder), with the recipe's input refs
    put back to the ``recorded`` ones (run ref → recorded ref) where inputs had moved."""
    if path.is_dir():
        return json.dumps({str(f.relative_to(path)): _identity(f, recorded)
                           for f in sorted(path.rglob("*")) if f.is_file()})
    if not recorded or path.suffix != ".safetensors":
        return sha256_file(path)
    with SafetensorsFile(path) as sf:
        metadata = dict(sf.metadata)
    if METADATA_KEY not in metadata:
        return sha256_file(path)
    recipe = Recipe.from_json(metadata[METADATA_KEY])
    for item in recipe.inputs:
        item.ref = recorded.get(item.ref, item.ref)
    metadata[METADATA_KEY] = recipe.to_json()
    return sha256_with_metadata(path, metadata)


def _find(item: RecipeInput, locate: Locate | None, path: Path) -> Path:
    """Where the recipe input is now: its recorded path if that still has the recorded
    content, else wherever ``locate`` finds the sha256."""
    def holds(candidate: Path | None) -> bool:  # folders are not re-hashed here
        return candidate is not None and candidate.exists() and (
            not candidate.is_file() or sha256_file(candidate) == item.sha256)

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
    relocated: list[tuple[str, str]] = []
    for item in recipe.inputs:
        found = _find(item, locate, path)
        if found != Path(item.ref):
            relocated.append((item.ref, str(found)))
            item.ref = str(found)
    with scratch_dir(path) as tmp:
        out = tmp / path.name
        run_recipe(recipe, out)
        recorded = {found: ref for ref, found in relocated}
        return RebuildReport(path, recipe.op, _identity(path, {}), _identity(out, recorded), relocated)
