"""Where recipes come from: a TOML recipe file, a front end's options, the JSON embedded in an
output, and the stamp an operation embeds. Each is validated by its op's model (:mod:`.registry`),
with one-line messages that name the field.

A TOML recipe file (relative paths are taken from the file's folder)::

    op = "bake"                               # mix | resize | bake | extract | convert
    base = "sd15"                             # catalog ref, hash prefix or path (bake, extract)
    output = "out/sd15_cat.safetensors"
    dtype = "fp16"

    [[inputs]]
    ref = "cat-lora"
    weight = 0.8

Keys: ``op`` and ``output`` always; ``[[inputs]]`` tables (``ref``, optional ``weight``) for mix,
resize (one), bake and convert (one); ``base`` for bake and extract (and mix/resize of DoRA
inputs); ``tuned`` for extract; the op's parameters (its model's fields: ``method``, ``rank``,
``block_weights`` as a table or ``"IN=1,MID=0.5"``, ``dynamic`` as ``"sv_fro=0.9"``, ``dtype``,
``allow_partial``, ``to`` …); an optional ``format``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

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

from .recipe import FORMAT, METADATA_KEY, Base, InputRef, Recipe, RecipeInput, problem, version
from .registry import lookup, operations

__all__ = ["embedded", "given", "load_recipe", "read_recipe", "stamp"]

_FILE_KEYS = ("op", "output", "format")


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and check a TOML recipe file (see the module docstring for the layout).

    Returns:
        The op's recipe model, its ``output`` absolute (relative to the file's folder).

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

    if "op" not in data:
        raise fail(f"missing 'op' (one of {', '.join(operations())})")
    try:
        model = lookup(data["op"]).recipe
    except LoradexError as exc:
        raise fail(str(exc)) from None
    version_ = data.get("format", FORMAT)
    if not isinstance(version_, int) or isinstance(version_, bool) or version_ > FORMAT:
        raise fail(f"'format' {version_!r} is not a recipe format this loradex reads (up to {FORMAT})")
    fields = dict(data)
    inputs = [RecipeInput(ref=ref, role="base") for ref in _named(fields, "base", model, fail)]
    if model.tuned_input:
        inputs += [RecipeInput(ref=ref) for ref in _named(fields, "tuned", model, fail, required=True)]
    else:
        inputs += [RecipeInput(**given.model_dump()) for given in _file_inputs(fields.pop("inputs", None), fail)]
    output = fields.pop("output", None)
    if not isinstance(output, str) or not output.strip():
        raise fail("missing 'output'" if output is None else f"'output' must be a file name, got {output!r}")
    fields.update(inputs=inputs, output=os.path.abspath(path.parent / Path(output).expanduser()))
    return _validated(model, fields, fail, folder=path.parent, source=path)


def _file_keys(model: type[Recipe]) -> tuple[str, ...]:
    """The keys a TOML recipe of ``model``'s op may hold."""
    inputs = ("tuned",) if model.tuned_input else ("inputs",)
    base = ("base",) if model.takes_base is not Base.NEVER else ()
    return _FILE_KEYS + base + inputs + model.parameter_names()


def _named(
    fields: dict[str, Any],
    key: str,
    model: type[Recipe],
    fail: Callable[[str], RecipeFileError],
    *,
    required: bool = False,
) -> list[str]:
    """The reference under ``key`` (``base``, ``tuned``) popped from ``fields``, as a list of none or one."""
    value = fields.pop(key, None)
    if key == "base" and model.takes_base is Base.NEVER and value is not None:
        raise fail(f"unknown key 'base' for op {fields['op']!r} (known: {', '.join(_file_keys(model))})")
    if value is None:
        if required or (key == "base" and model.takes_base is Base.REQUIRED):
            raise fail(f"missing {key!r}")
        return []
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{key!r} must be a non-empty string (a path, name or hash prefix), got {value!r}")
    return [value]


class _FileInputs(BaseModel):
    """The ``[[inputs]]`` of a TOML recipe file: references and weights, nothing else."""

    inputs: list[InputRef] = []


def _file_inputs(value: Any, fail: Callable[[str], RecipeFileError]) -> list[InputRef]:
    try:
        return _FileInputs.model_validate({"inputs": [] if value is None else value}).inputs
    except ValidationError as exc:
        raise fail(problem(exc, keys={"inputs": tuple(InputRef.model_fields)})) from None


def given(
    op: str,
    inputs: Sequence[tuple[str, float]],
    *,
    base: str | None = None,
    tuned: str | None = None,
    output: Path | None = None,
    folder: Path | None = None,
    **params: Any,
) -> Recipe:
    """The recipe of an operation as a front end is given it: references not resolved yet (the
    runner resolves them), unset options (None, empty) left out, relative references taken from
    ``folder`` (default: the working folder).

    Raises:
        LoradexError: an unknown op, or an option missing, out of range or inconsistent.
    """
    model = lookup(op).recipe
    items = [RecipeInput(ref=base, role="base")] if base else []
    items += [RecipeInput(ref=ref, weight=weight) for ref, weight in inputs]
    if tuned:
        items.append(RecipeInput(ref=tuned))
    fields = {key: value for key, value in params.items() if value not in (None, {})}
    fields.update(op=op, inputs=items, output=output)

    def fail(message: str) -> LoradexError:
        return LoradexError(message)

    return _validated(model, fields, fail, folder=folder or Path.cwd())


def embedded(text: str, *, path: Path | None = None) -> Recipe:
    """The recipe embedded in ``path``'s metadata (:meth:`Recipe.to_json`), parsed within bounds.

    Parameters a later loradex no longer takes are dropped (they did not change what the op made).

    Raises:
        CorruptFileError: the text is not such a recipe (not JSON, too deep, a field missing or of the wrong type).
        UnsupportedError: its format is newer than this loradex.
    """
    try:
        data = bounded_json.loads(text)
    except ValueError as exc:
        raise CorruptFileError(f"its embedded loradex recipe is unreadable: {exc}", path=path) from None

    def fail(message: str) -> CorruptFileError:
        return CorruptFileError(f"its embedded loradex recipe is malformed: {message}", path=path)

    if not isinstance(data, dict):
        raise fail(f"a JSON {type(data).__name__}, not an object")
    try:
        model = lookup(data.get("op")).recipe
    except LoradexError as exc:
        raise fail(str(exc)) from None
    params = data.get("params")
    if not isinstance(params, dict):
        raise fail("params is not an object")
    if isinstance(data.get("format"), int) and data["format"] > FORMAT:
        raise UnsupportedError(f"recipe format {data['format']} is newer than this loradex understands", path=path)
    known = model.parameter_names()
    fields = {key: value for key, value in data.items() if key != "params"}
    fields.update({key: value for key, value in params.items() if key in known})
    return _validated(model, fields, fail)


def stamp(
    op: str,
    inputs: Sequence[tuple[str | Path, float]],
    params: dict[str, Any],
    *,
    base: str | Path | None = None,
    known: Mapping[str, str] | None = None,
) -> Recipe:
    """The recipe an operation embeds in its output: inputs by path and sha256, this loradex's
    version, the parameters checked by the op's model like any other recipe's.

    Args:
        known: sha256 by path of the files the caller has hashed already (a bake hashes its inputs
            while the base's hash runs beside its planning).
    """
    known = known or {}

    def item(path: str | Path, weight: float, role: Literal["input", "base"] = "input") -> RecipeInput:
        ref = str(Path(path))
        return RecipeInput(ref=ref, sha256=known.get(ref) or sha256_file(path), weight=float(weight), role=role)

    items = [item(p, w) for p, w in inputs]
    if base is not None:
        items.insert(0, item(base, 1.0, "base"))
    model = lookup(op).recipe
    fields = {key: value for key, value in params.items() if value is not None}
    fields.update(op=op, inputs=items, loradex_version=version())

    def fail(message: str) -> LoradexError:
        return LoradexError(f"internal error: the {op} recipe to embed is invalid: {message}")

    return _validated(model, fields, fail)


def read_recipe(path: str | Path) -> Recipe:
    """The recipe embedded in a derived safetensors file (for a baked folder: any of its files)."""
    path = Path(path)
    files = sorted(path.rglob("*.safetensors")) if path.is_dir() else [path]
    for f in files:
        with SafetensorsFile(f) as sf:
            if METADATA_KEY in sf.metadata:
                return embedded(sf.metadata[METADATA_KEY], path=f)
    raise UnsupportedError("carries no loradex recipe (it was not made by loradex)", path=path)


def _validated(
    model: type[Recipe],
    fields: dict[str, Any],
    fail: Callable[[str], LoradexError],
    **where: Path | None,
) -> Recipe:
    """``fields`` as ``model``; the first problem as ``fail``'s one-line error."""
    try:
        return model.model_validate({**fields, **where})
    except ValidationError as exc:
        raise fail(problem(exc, keys={"": _file_keys(model)})) from None
