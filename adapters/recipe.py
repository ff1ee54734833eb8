"""Recipes: how a derived artifact was made, as data that travels inside the file.

A recipe names its inputs by sha256 (and the reference the user gave), the operation and its
parameters, and the loradex version. It carries no timestamp, so re-running a deterministic
recipe reproduces the output byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import UnsupportedError
from .hashing import sha256_file

FORMAT = 1  # bump when the serialised layout changes; older loradex refuses newer recipes
METADATA_KEY = "loradex.recipe"


@dataclass
class RecipeInput:
    ref: str
    sha256: str
    weight: float = 1.0
    role: str = "input"  # input | base


@dataclass
class Recipe:
    op: str
    params: dict[str, Any]
    inputs: list[RecipeInput] = field(default_factory=list)
    loradex_version: str = ""
    format: int = FORMAT

    @classmethod
    def for_files(cls, op: str, inputs: list[tuple[str | Path, float]], params: dict[str, Any],
                  *, base: str | Path | None = None) -> Recipe:
        rows = [RecipeInput(str(Path(p)), sha256_file(p), float(w)) for p, w in inputs]
        if base is not None:
            rows.insert(0, RecipeInput(str(Path(base)), sha256_file(base), 1.0, "base"))
        return cls(op, params, rows, _version())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        data = json.loads(text)
        if data.get("format", 0) > FORMAT:
            raise UnsupportedError(f"recipe format {data['format']} is newer than this loradex understands")
        return cls(data["op"], data["params"], [RecipeInput(**i) for i in data["inputs"]],
                   data.get("loradex_version", ""), data.get("format", FORMAT))


def _version() -> str:
    try:
        return metadata.version("loradex")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"
