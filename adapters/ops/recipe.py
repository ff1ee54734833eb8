"""Recipes: an operation as data, before it runs (from a command line or a TOML file) and after
(embedded in the output it made); :mod:`.runner` runs them.

A recipe names the operation, its parameters and its inputs by reference and weight; once
run, every input also carries its sha256, and the recipe travels in the output's safetensors
metadata (``loradex.recipe``) with the loradex version. It carries no timestamp, so
re-running a deterministic recipe reproduces the output byte for byte. ``loradex bake
recipe.toml``, ``rebuild`` and scripts all go through :func:`~.runner.run`; the catalog only
lends a ``resolve`` that understands catalog references.

A TOML recipe file (relative paths are taken from the file's folder)::

    op = "bake"                               # mix | resize | bake | extract | convert
    base = "sd15"                             # catalog ref, hash prefix or path (bake, extract)
    output = "out/sd15_cat.safetensors"
    dtype = "fp16"

    [[inputs]]
    ref = "cat-lora"
    weight = 0.8
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from loradex.adapters.errors import (
    ArtifactNotFoundError,
    CorruptFileError,
    LoradexError,
    RecipeFileError,
    UnsupportedError,
)
from loradex.adapters.io import bounded_json
from loradex.adapters.io.hashing import sha256_file
from loradex.adapters.io.reader import SafetensorsFile

from .options import DTYPES, DYNAMIC_METHODS, FORMATS, MIX_METHODS, NEEDS_BASE, OPS, PARAMS

FORMAT = 1  # bump when the serialised layout changes; older loradex refuses newer recipes
METADATA_KEY = "loradex.recipe"

_COMMON = ("op", "output", "inputs", "format")
_INPUT_KEYS = ("ref", "weight")


@dataclass
class RecipeInput:
    """One input: ``ref`` as the user gave it (a path once run), its sha256 once known."""

    ref: str
    sha256: str = ""
    weight: float = 1.0
    role: str = "input"  # input | base


@dataclass
class Recipe:
    """An operation with its parameters and inputs.

    Attributes:
        op: ``mix``, ``resize``, ``bake``, ``extract`` or ``convert``.
        params: the op's options (see :data:`PARAMS`; embedded recipes also hold defaults).
        inputs: the base first (role ``base``) where there is one, then the LoRAs (mix,
            resize, bake, convert) or the tuned checkpoint (extract).
        output: where :func:`run` writes (not serialised).
        folder: where relative references are taken from (not serialised).
        source: the TOML file this came from, named in errors (not serialised).
    """

    op: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[RecipeInput] = field(default_factory=list)
    loradex_version: str = ""
    format: int = FORMAT
    output: Path | None = field(default=None, compare=False)
    folder: Path | None = field(default=None, compare=False)
    source: Path | None = field(default=None, compare=False)

    @classmethod
    def given(
        cls,
        op: str,
        inputs: Sequence[tuple[str, float]],
        *,
        base: str | None = None,
        tuned: str | None = None,
        output: Path | None = None,
        folder: Path | None = None,
        **params: Any,
    ) -> Recipe:
        """The recipe of an operation as a front end is given it: references not resolved yet
        (:func:`run` resolves them), unset options (None, empty) left out, relative references taken
        from ``folder`` (default: the working folder)."""
        items = [RecipeInput(base, role="base")] if base else []
        items += [RecipeInput(ref, weight=weight) for ref, weight in inputs]
        if tuned:
            items.append(RecipeInput(tuned))
        return cls(
            op,
            {k: v for k, v in params.items() if v not in (None, {})},
            items,
            output=output,
            folder=folder or Path.cwd(),
        )

    @classmethod
    def for_files(
        cls, op: str, inputs: list[tuple[str | Path, float]], params: dict[str, Any], *, base: str | Path | None = None
    ) -> Recipe:
        """The recipe an op embeds: inputs by path and sha256, this loradex's version."""
        rows = [RecipeInput(str(Path(p)), sha256_file(p), float(w)) for p, w in inputs]
        if base is not None:
            rows.insert(0, RecipeInput(str(Path(base)), sha256_file(base), 1.0, "base"))
        return cls(op, params, rows, _version())

    @property
    def base(self) -> RecipeInput | None:
        return next((i for i in self.inputs if i.role == "base"), None)

    @property
    def loras(self) -> list[RecipeInput]:
        """The inputs that are not the base (for extract: the tuned checkpoint)."""
        return [i for i in self.inputs if i.role != "base"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "params": self.params,
            "format": self.format,
            "loradex_version": self.loradex_version,
            "inputs": [vars(i).copy() for i in self.inputs],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, path: Path | None = None) -> Recipe:
        """The recipe embedded in ``path``'s metadata (:meth:`to_json`), parsed within bounds.

        Raises:
            CorruptFileError: the text is not such a recipe (not JSON, too deep, a field missing or of the wrong type).
            UnsupportedError: its format is newer than this loradex.
        """
        try:
            data = bounded_json.loads(text)
        except ValueError as exc:
            raise CorruptFileError(f"its embedded loradex recipe is unreadable: {exc}", path=path) from None
        problem = _embedded_problem(data)
        if problem:
            raise CorruptFileError(f"its embedded loradex recipe is malformed: {problem}", path=path)
        if data.get("format", FORMAT) > FORMAT:
            raise UnsupportedError(f"recipe format {data['format']} is newer than this loradex understands", path=path)
        return cls(
            data["op"],
            data["params"],
            [RecipeInput(**i) for i in data["inputs"]],
            data.get("loradex_version", ""),
            data.get("format", FORMAT),
        )

    def to_toml(self) -> str:
        """The recipe as a TOML recipe file that :func:`load` reads back (sha256s as comments).

        Written by hand: tomli-w writes no comments, and the layout here is small and fixed.
        """
        lines = [f"op = {_toml(self.op)}"]
        if self.output is not None:
            lines.append(f"output = {_toml(str(self.output))}")
        for key, value in sorted(self.params.items()):
            if key in PARAMS[self.op] and value not in (None, {}, []):
                lines.append(f"{key} = {_toml(dynamic_text(value) if key == 'dynamic' else value)}")

        def ref(key: str, item: RecipeInput) -> str:
            return f"{key} = {_toml(item.ref)}" + (f"  # sha256 {item.sha256}" if item.sha256 else "")

        for item in self.inputs:
            if item.role == "base":
                lines.append(ref("base", item))
            elif self.op == "extract":
                lines.append(ref("tuned", item))
        for item in self.loras if self.op != "extract" else []:
            lines += ["", "[[inputs]]", ref("ref", item), f"weight = {_toml(item.weight)}"]
        return "\n".join(lines) + "\n"

    def check(self) -> None:
        """The checks a recipe from the command line and from a file share (one-line messages).

        Raises:
            RecipeFileError: (from a file) or LoradexError: an option is missing or out of range.
        """

        def fail(message: str) -> None:
            raise RecipeFileError(message, path=self.source) if self.source else LoradexError(message)

        op, p, loras = self.op, self.params, self.loras
        if op not in OPS:
            fail(f"unknown op {op!r}; choose {', '.join(OPS)}")
        rank, method, dtype = p.get("rank"), p.get("method", "concat"), p.get("dtype")
        if op == "mix" and not loras:
            fail("mix needs at least one input")
        if op in ("resize", "convert") and len(loras) != 1:
            fail(f"{op} takes exactly one input, got {len(loras)}")
        if op == "convert" and p.get("to") not in FORMATS:
            fail(f"convert needs 'to', one of {', '.join(FORMATS)}")
        if op in NEEDS_BASE and self.base is None:
            fail(f"{op} needs a base")
        if op == "extract" and not loras:
            fail("extract needs a tuned checkpoint")
        if op == "extract" and len(loras) > 1:
            fail("extract takes a base and a tuned checkpoint, not inputs")
        if op == "resize" and (rank is None) == (p.get("dynamic") is None):
            fail("resize needs exactly one of rank and dynamic")
        if op == "extract" and rank is None:
            fail("extract needs a rank")
        if op == "mix" and method == "svd" and rank is None:
            fail("the svd method needs a rank")
        if op == "mix" and method == "concat" and rank is not None:
            fail("a rank applies to the svd method only (concat keeps every input's rank)")
        if rank is not None and rank < 1:
            fail(f"rank must be a positive integer, got {rank}")
        if dtype is not None and dtype not in DTYPES:
            fail(f"unknown dtype {dtype!r}; choose {', '.join(DTYPES)}")
        if method not in MIX_METHODS:
            fail(f"unknown method {method!r}; choose {', '.join(MIX_METHODS)}")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _version() -> str:
    try:
        return metadata.version("loradex")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


# ---------------------------------------------------------------------------------------
# Option text (shared by the command line and recipe files)


def parse_weighted(text: str) -> tuple[str, float]:
    """``"REF[:WEIGHT]"`` → (ref, weight); split on the last colon so paths with colons work.

    A tail after the last colon that holds no path separator is a weight, and must be a finite
    number (``A:abc``, ``A:inf`` and ``A:nan`` are refused before anything is read).

    >>> parse_weighted("b.safetensors:-0.5")
    ('b.safetensors', -0.5)
    >>> parse_weighted("C:/loras/a.safetensors")
    ('C:/loras/a.safetensors', 1.0)

    Raises:
        ValueError: the weight is not a finite number.
    """
    ref, sep, tail = text.rpartition(":")
    if not sep or "/" in tail or "\\" in tail or not ref or Path(text).exists():
        return text, 1.0
    return ref, finite_number(tail, text)


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
        weights[block_label(label.strip())] = finite_number(value.strip(), part)
    if not weights:
        raise ValueError("no block weights given (e.g. IN=1,MID=0.5,OUT=1,TE=0)")
    return weights


#: Block labels as LoRA-block-weight tools spell them: groups, or one block (IN04, OUT11, TE.03, TE2.31).
_BLOCK_LABEL = re.compile(r"(BASE|IN|MID|OUT|TE2?)|(IN|OUT)\d\d|TE2?\.\d\d")


def block_label(label: str) -> str:
    """``label`` when it names a block or block group, for ``block_weights``.

    Raises:
        ValueError: an unknown label (a typo must not be silently ignored).
    """
    if not _BLOCK_LABEL.fullmatch(label):
        raise ValueError(
            f"unknown block {label!r}; use BASE, IN, MID, OUT, TE, TE2 or one block such as IN04, OUT11, TE.03, TE2.31"
        )
    return label


def parse_dynamic(text: str) -> tuple[str, float]:
    """``"sv_fro=0.9"`` → ``("sv_fro", 0.9)``.

    Raises:
        ValueError: an unknown method or a value that is not a positive number.
    """
    method, sep, value = text.partition("=")
    method = method.strip()
    if not sep or method not in DYNAMIC_METHODS:
        raise ValueError(
            f"{text!r} is not METHOD=VALUE with METHOD one of {', '.join(DYNAMIC_METHODS)} (e.g. sv_fro=0.9)"
        )
    number = finite_number(value.strip(), text)
    if number <= 0:
        raise ValueError(f"{text!r}: the value must be positive")
    return method, number


def dynamic_text(rule: Any) -> str:
    """The ``"METHOD=VALUE"`` spelling of a dynamic rule (``(method, value)``)."""
    method, value = rule
    return f"{method}={value:g}"


def finite_number(value: str, context: str) -> float:
    """``value`` as a finite float; a ValueError that quotes ``context`` (what the user typed) otherwise."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{context!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{context!r}: {value!r} is not a finite number")
    return number


# ---------------------------------------------------------------------------------------
# TOML recipe files


def load(path: str | os.PathLike[str]) -> Recipe:
    """Read and check a TOML recipe file (see the module docstring for the layout).

    Keys: ``op`` and ``output`` always; ``[[inputs]]`` tables (``ref``, optional ``weight``)
    for mix, resize (one) and bake; ``base`` for bake and extract (and mix/resize of DoRA
    inputs); ``tuned`` and ``rank`` for extract; ``method``, ``rank``, ``block_weights`` (a
    table or ``"IN=1,MID=0.5"``) for mix; ``rank`` or ``dynamic`` (``"sv_fro=0.9"``) for
    resize; ``dtype`` for bake and extract; ``allow_partial`` for bake; an optional ``format``.

    Returns:
        A checked :class:`Recipe` whose ``output`` is absolute (relative to the file's folder).

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
    known = _COMMON + (("base",) if op != "convert" else ()) + (("tuned",) if op == "extract" else ()) + PARAMS[op]
    if op == "extract":
        known = tuple(k for k in known if k != "inputs")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} for op {op!r} (known: {', '.join(known)})")

    def text(key: str, *, required: bool = False, choices: tuple[str, ...] | Mapping[str, str] = ()) -> str | None:
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
    recipe = Recipe(op, output=Path(os.path.abspath(path.parent / output)), folder=path.parent, source=path)
    base = text("base", required=op in NEEDS_BASE) if "base" in known else None
    if base is not None:
        recipe.inputs.append(RecipeInput(base, role="base"))
    if op == "extract":
        recipe.inputs.append(RecipeInput(text("tuned", required=True) or ""))
    else:
        recipe.inputs += [RecipeInput(ref, weight=w) for ref, w in _inputs(data.get("inputs"), fail)]
    p = recipe.params
    if "rank" in data:
        rank = data["rank"]
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise fail(f"'rank' must be a positive integer, got {rank!r}")
        p["rank"] = rank
    if "dtype" in PARAMS[op] and (dtype := text("dtype", choices=DTYPES)):
        p["dtype"] = dtype
    if op == "mix":
        p["method"] = text("method", choices=MIX_METHODS) or "concat"
        if weights := _block_weights(data.get("block_weights"), fail):
            p["block_weights"] = weights
    if op == "convert":
        p["to"] = text("to", required=True, choices=FORMATS)
    if op == "resize" and "dynamic" in data:
        try:
            p["dynamic"] = list(parse_dynamic(text("dynamic") or ""))
        except ValueError as exc:
            raise fail(f"'dynamic': {exc}") from None
    if op == "bake" and "allow_partial" in data:
        if not isinstance(data["allow_partial"], bool):
            raise fail(f"'allow_partial' must be true or false, got {data['allow_partial']!r}")
        p["allow_partial"] = data["allow_partial"]
    if op == "resize" and recipe.loras and recipe.loras[0].weight != 1.0:
        raise fail("resize takes no weight: inputs[0].weight must be left out")
    recipe.check()
    return recipe


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
        try:
            weights[block_label(str(label))] = float(weight)
        except ValueError as exc:
            raise fail(f"'block_weights': {exc}") from None
    return weights


#: The fields of an embedded recipe's input (:class:`RecipeInput`) and their JSON types.
_INPUT_TYPES: dict[str, type | tuple[type, ...]] = {"ref": str, "sha256": str, "weight": (int, float), "role": str}


def _embedded_problem(data: Any) -> str | None:
    """What is wrong with the parsed JSON of an embedded recipe, or None."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("op"), str) or data["op"] not in PARAMS:
        return f"op {data.get('op')!r:.40} is none of {', '.join(PARAMS)}"
    if not isinstance(data.get("params"), dict):
        return "params is not an object"
    if not isinstance(data.get("format", FORMAT), int) or not isinstance(data.get("loradex_version", ""), str):
        return "format or loradex_version has the wrong type"
    inputs = data.get("inputs")
    if not isinstance(inputs, list):
        return "inputs is not a list"
    for item in inputs:
        if (
            not isinstance(item, dict)
            or "ref" not in item
            or set(item) - set(_INPUT_TYPES)
            or any(isinstance(v, bool) or not isinstance(v, _INPUT_TYPES[k]) for k, v in item.items())
        ):
            return f"input {item!r:.60} is not {{ref, sha256, weight, role}}"
    return None


def read_recipe(path: str | Path) -> Recipe:
    """The recipe embedded in a derived safetensors file (for a baked folder: any of its files)."""
    path = Path(path)
    files = sorted(path.rglob("*.safetensors")) if path.is_dir() else [path]
    for f in files:
        with SafetensorsFile(f) as sf:
            if METADATA_KEY in sf.metadata:
                return Recipe.from_json(sf.metadata[METADATA_KEY], path=f)
    raise UnsupportedError("carries no loradex recipe (it was not made by loradex)", path=path)
