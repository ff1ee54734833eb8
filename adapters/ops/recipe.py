"""Recipes as data: one pydantic model per operation, all subclasses of :class:`Recipe`.

A recipe names the operation, its parameters and its inputs by reference and weight; once run,
every input also carries its sha256, and the recipe travels in the output's safetensors metadata
(``loradex.recipe``, :meth:`Recipe.to_json`) with the loradex version. It carries no timestamp, so
re-running a deterministic recipe reproduces the output byte for byte.

Each operation's model (in :mod:`.verbs`) adds its parameters as typed fields and its own checks;
which model a recipe is is decided by its ``op`` (a tagged union, resolved through :mod:`.registry`).
Where recipes come from -- a TOML file, the command line, the JSON embedded in an output -- is
:mod:`.recipe_sources`; running one is :mod:`.runner`.
"""

from __future__ import annotations

import json
import math
import re
from enum import Enum
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError

from .options import dynamic_text

__all__ = [
    "FORMAT",
    "METADATA_KEY",
    "Base",
    "Finite",
    "InputRef",
    "Rank",
    "Recipe",
    "RecipeInput",
    "problem",
    "version",
]

FORMAT = 1  # bump when the serialised layout changes; older loradex refuses newer recipes
METADATA_KEY = "loradex.recipe"


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return float(value)


def _named(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string (a path, name or hash prefix)")
    return value


#: A finite number; an integer is accepted, text and booleans are not (``weight = "high"``).
Finite = Annotated[float, Strict(), AfterValidator(_finite)]
#: A positive integer rank (``true`` is not 1).
Rank = Annotated[int, Strict(), Field(gt=0)]
Ref = Annotated[str, Strict(), AfterValidator(_named)]


class Base(Enum):
    """Whether an operation takes a base checkpoint."""

    NEVER = "never"
    OPTIONAL = "optional"  # mix and resize: only DoRA inputs need the checkpoint they were trained on
    REQUIRED = "required"


class InputRef(BaseModel):
    """An input as a user gives it: a reference (path, catalog name, hash prefix) and a weight."""

    model_config = ConfigDict(extra="forbid")

    ref: Ref
    weight: Finite = 1.0


class RecipeInput(InputRef):
    """An input of a recipe: ``ref`` as given (a path once run), its sha256 once known, its role."""

    sha256: Annotated[str, Strict()] = ""
    role: Literal["input", "base"] = "input"


class Recipe(BaseModel):
    """An operation with its parameters and inputs (the base class of every op's model).

    Attributes:
        op: the operation's name (each subclass fixes it).
        inputs: the base first (role ``base``) where there is one, then the LoRAs (mix, resize,
            bake, convert) or the tuned checkpoint (extract).
        output: where it is run into (not part of the recipe's JSON).
        folder: where relative references are taken from (not serialised).
        source: the TOML file this came from, named in errors (not serialised).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    #: Whether the op takes a base checkpoint (TOML: ``base = …``).
    takes_base: ClassVar[Base] = Base.NEVER
    #: The op's one input is given as ``tuned = …`` in a TOML file instead of ``[[inputs]]``.
    tuned_input: ClassVar[bool] = False
    #: The op reads its whole base before the first byte out, so the runner starts hashing it early.
    hashes_base_first: ClassVar[bool] = False

    op: str
    inputs: list[RecipeInput] = []
    loradex_version: Annotated[str, Strict()] = ""
    format: Annotated[int, Strict()] = FORMAT
    output: Path | None = Field(default=None, exclude=True)
    folder: Path | None = Field(default=None, exclude=True)
    source: Path | None = Field(default=None, exclude=True)

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The fields an op adds to :class:`Recipe` (its parameters)."""
        return tuple(name for name in cls.model_fields if name not in Recipe.model_fields)

    @property
    def base(self) -> RecipeInput | None:
        return next((i for i in self.inputs if i.role == "base"), None)

    @property
    def loras(self) -> list[RecipeInput]:
        """The inputs that are not the base (for extract: the tuned checkpoint)."""
        return [i for i in self.inputs if i.role != "base"]

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as JSON values, unset ones (None) left out: what the catalog records and a
        recipe file sets."""
        return self.model_dump(mode="json", include=set(self.parameter_names()), exclude_none=True)

    def __json__(self) -> dict[str, Any]:
        """The embedded layout (not the model's fields): ``op``, ``params``, ``inputs`` (all four
        fields each), ``format``, ``loradex_version``."""
        return {
            "op": self.op,
            # Every parameter, unset ones as null: the layout outputs made before carry, so that
            # rebuilding one of them re-makes the same header.
            "params": self.model_dump(mode="json", include=set(self.parameter_names())),
            "format": self.format,
            "loradex_version": self.loradex_version,
            "inputs": [item.model_dump(mode="json") for item in self.inputs],
        }

    def to_json(self) -> str:
        return json.dumps(self.__json__(), sort_keys=True)

    def to_toml(self) -> str:
        """The recipe as a TOML recipe file that :func:`~.recipe_sources.load_recipe` reads back, each
        input's sha256 as a comment beside it."""
        import tomlkit

        def ref(item: RecipeInput) -> Any:
            value = tomlkit.string(item.ref)
            return value.comment(f"sha256 {item.sha256}") if item.sha256 else value

        doc = tomlkit.document()
        doc["op"] = self.op
        if self.output is not None:
            doc["output"] = str(self.output)
        for key, value in self.params.items():
            if value in ({}, []):
                continue
            if key == "dynamic":
                value = dynamic_text(value)
            elif isinstance(value, dict):
                inline = tomlkit.inline_table()
                inline.update(value)
                value = inline
            doc[key] = value
        if self.base is not None:
            doc["base"] = ref(self.base)
        if self.tuned_input:
            doc["tuned"] = ref(self.loras[0])
            return tomlkit.dumps(doc)
        inputs = tomlkit.aot()
        for item in self.loras:
            table = tomlkit.table()
            table["ref"] = ref(item)
            table["weight"] = item.weight
            inputs.append(table)
        doc["inputs"] = inputs
        return tomlkit.dumps(doc)


def version() -> str:
    """This loradex's version, as recipes record it."""
    try:
        return metadata.version("loradex")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def problem(error: ValidationError, *, keys: dict[str, tuple[str, ...]] | None = None) -> str:
    """The first problem pydantic found, as one line that names the field (``inputs[0].weight``,
    ``'rank'``) and what it must be.

    Args:
        keys: the keys allowed at each location (``""``: the top level, ``"inputs"``: each input), to
            list beside an unknown key.
    """
    first = error.errors(include_url=False)[0]
    where, message = _location(first["loc"]), first["msg"]
    if first["type"] == "missing":
        return f"missing {where}"
    if first["type"] == "extra_forbidden":
        at = where.rpartition(".")[0] if "." in where else ""
        known = (keys or {}).get(re.sub(r"\[\d+\]$", "", at), ())
        listed = f" (known: {', '.join(known)})" if known else ""
        return f"unknown key {str(first['loc'][-1])!r}" + (f" in {at}" if at else "") + listed
    message = message.removeprefix("Value error, ").replace("Input should be", "should be")
    if not where:
        return message
    got = first.get("input")
    shown = f" (got {got!r:.60})" if "got " not in message and not isinstance(got, (dict, list)) else ""
    return f"{where} {message}{shown}" if message.startswith(("should", "must")) else f"{where}: {message}"


def _location(loc: tuple[int | str, ...]) -> str:
    """``("inputs", 0, "weight")`` → ``inputs[0].weight``; a top-level key is quoted: ``'rank'``."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        elif part == "[key]":
            parts[-1] = f"key {parts[-1]!r}"
        else:
            parts.append(str(part))
    if len(parts) == 1 and "[" not in parts[0]:
        return repr(parts[0])
    return ".".join(parts).replace(".key ", " key ")
