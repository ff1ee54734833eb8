"""The operations loradex runs: each module of :mod:`.verbs` registers one with :func:`operation`
-- its recipe model and the function that runs it -- so adding an operation is adding a module.

The verb modules are light (pydantic, no torch): each imports the code that does the work only
when it runs, so a recipe is read and checked, and a bake's base starts hashing, before torch loads.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from loradex.adapters.errors import LoradexError
from loradex.adapters.progress import Progress

from .recipe import Recipe

__all__ = ["Inputs", "Operation", "lookup", "operation", "operations"]

R = TypeVar("R", bound=Recipe)
#: The recipe type a run takes: only an argument of ``Runs``, so contravariant there.
R_contra = TypeVar("R_contra", bound=Recipe, contravariant=True)


@dataclass(frozen=True)
class Inputs:
    """A recipe's inputs resolved to files: the base (if any) and the others with their weights."""

    base: Path | None
    weighted: Sequence[tuple[Path, float]]


class Runs(Protocol[R_contra]):
    def __call__(
        self, recipe: R_contra, inputs: Inputs, out: Path, *, progress: Progress | None, hashes: bool
    ) -> Any: ...


@dataclass(frozen=True)
class Operation:
    """An operation: its name, its recipe model, and what runs a recipe of it into ``out``."""

    name: str
    recipe: type[Recipe]
    run: Runs[Any]


_REGISTERED: dict[str, Operation] = {}


def operation(model: type[R]) -> Callable[[Runs[R]], Runs[R]]:
    """Register the decorated function as the runner of ``model``'s op (named by its ``op`` default)."""
    name = model.model_fields["op"].default

    def register(run: Runs[R]) -> Runs[R]:
        _REGISTERED[name] = Operation(name, model, run)
        return run

    return register


def operations() -> Mapping[str, Operation]:
    """Every operation, by name (the verb modules are imported on first use)."""
    _discover()
    return _REGISTERED


@functools.cache
def _discover() -> None:
    """Import every verb module once. Not "while nothing is registered": a script that imported one
    verb directly has registered that one, and the others must still be found."""
    # Found by name, as plugins are: the verbs sit above this module and import it.
    verbs = importlib.import_module(f"{__package__}.verbs")
    for module in pkgutil.iter_modules(verbs.__path__):
        importlib.import_module(f"{verbs.__name__}.{module.name}")


def lookup(op: Any) -> Operation:
    """The operation named ``op``.

    Raises:
        LoradexError: no operation has that name (the message lists them).
    """
    known = operations()
    if not isinstance(op, str) or op not in known:
        raise LoradexError(f"unknown op {op!r:.40}; choose {', '.join(known)}")
    return known[op]
