"""An adapter's layers one by one, in file order: what the TUI's block chart draws."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .reading import Reader, as_reader

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = ["Layer", "layers"]


class Layer(NamedTuple):
    """One adapted layer: its canonical name and component (None where the key matched no layer
    of the architecture), its rank and alpha (None where the file has none)."""

    canonical: str | None
    component: str | None
    rank: int | None
    alpha: float | None


def layers(source: Reader | Session, artifact_id: int) -> list[Layer]:
    """The artifact's adapted layers (its ``module`` rows), in the order of the file's keys."""
    rows = as_reader(source).rows(
        'SELECT canonical, component, "rank", alpha FROM module WHERE artifact_id = :id ORDER BY id',
        {"id": artifact_id},
    )
    return [Layer(*row) for row in rows]
