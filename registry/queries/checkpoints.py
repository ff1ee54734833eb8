"""The catalogued checkpoints a front end offers as a base: to quick-test an adapter on, to bake
a mix into."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .compat import base_of
from .reading import Reader, as_reader
from .rows import artifact_rows

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = ["Checkpoint", "usable"]


class Checkpoint(NamedTuple):
    """A checkpoint to choose: its name, its path, its effective base family (override first)."""

    name: str
    path: str
    base: str


def usable(source: Reader | Session) -> list[Checkpoint]:
    """The catalogued checkpoints whose file was there at the last scan (status ``ok``), by name
    then path."""
    rows = artifact_rows(as_reader(source), "a.kind = 'checkpoint' AND a.status = 'ok'", {}, order="a.name, a.path")
    return [Checkpoint(row.name, row.path, base_of(row)) for row in rows]
