"""rebuild(path): re-run the recipe embedded in a derived file and compare the result.

Inputs are found where the recipe recorded them and must still have the recorded sha256 —
rebuilding from a changed input would prove nothing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import LoradexError, UnsupportedError
from .hashing import sha256_file
from .recipe import METADATA_KEY, Recipe
from .safetensors_io import SafetensorsFile


class InputChangedError(LoradexError):
    """A recipe input is gone or no longer has the recorded content."""


@dataclass
class RebuildReport:
    path: Path
    op: str
    expected_sha256: str
    actual_sha256: str

    @property
    def identical(self) -> bool:
        return self.expected_sha256 == self.actual_sha256

    def to_dict(self) -> dict:
        return {"path": str(self.path), "op": self.op, "expected_sha256": self.expected_sha256,
                "actual_sha256": self.actual_sha256, "identical": self.identical}


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
        return mix(inputs, out, method=p["method"], rank=p["rank"], block_weights=p.get("block_weights") or None)
    if recipe.op == "resize":
        dynamic = tuple(p["dynamic"]) if p.get("dynamic") else None
        return resize(inputs[0][0], out, rank=None if dynamic else p["rank"], dynamic=dynamic)
    if recipe.op == "bake":
        return bake(base, inputs, out, dtype=p.get("dtype"), allow_partial=p.get("allow_partial", False))
    if recipe.op == "extract":
        return extract(base, inputs[0][0], out, rank=p["rank"], dtype=p["dtype"], min_change=p["min_change"])
    raise UnsupportedError(f"cannot re-run a {recipe.op!r} recipe")


def _identity(path: Path) -> str:
    if path.is_dir():
        return json.dumps({str(f.relative_to(path)): sha256_file(f) for f in sorted(path.rglob("*")) if f.is_file()})
    return sha256_file(path)


def rebuild(path: str | Path) -> RebuildReport:
    """Re-run ``path``'s recipe into a temporary output beside it and compare hashes.

    Raises:
        InputChangedError: an input is missing or its sha256 differs from the recipe's.
        UnsupportedError: the file carries no recipe.
    """
    path = Path(path)
    recipe = read_recipe(path)
    for item in recipe.inputs:
        ref = Path(item.ref)
        if not ref.exists():
            raise InputChangedError(f"recipe input {item.ref} no longer exists", path=path)
        if ref.is_file() and sha256_file(ref) != item.sha256:
            raise InputChangedError(f"recipe input {item.ref} changed since (sha256 differs)", path=path)
    with tempfile.TemporaryDirectory(prefix=".loradex-rebuild-", dir=path.parent) as tmp:
        out = Path(tmp) / path.name
        run_recipe(recipe, out)
        return RebuildReport(path, recipe.op, _identity(path), _identity(out))
