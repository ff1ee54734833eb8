"""What a render is and returns: its size in images and steps, the finished :class:`Grid`, and
:class:`Stopped`, raised between steps when a render is asked to stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradex.adapters.errors import LoradexError
from loradex.adapters.words import count

from .records import ImageRecord


@dataclass(frozen=True)
class JobSize:
    """What a render will do, said before it starts (A1111 prints the same)."""

    images: int
    steps: int

    def __str__(self) -> str:
        return f"{count(self.images, 'images')}, {self.steps} steps in all"


@dataclass
class Grid:
    """A finished (or interrupted) render.

    Attributes:
        images: the images rendered, in row order (seed), then column (scale).
        seeds, scales: the axes.
        sheet: the contact sheet's path, when ``out`` was given.
        interrupted: the render was stopped; ``images`` holds what finished.
    """

    images: list[ImageRecord]
    seeds: list[int]
    scales: list[float]
    job: JobSize
    sheet: Path | None = None
    interrupted: bool = False
    pictures: list[Any] = field(default_factory=list, repr=False)

    def __json__(self) -> dict[str, Any]:
        """The job's size as images and steps (not its per-image plan)."""
        return {
            "job": {"images": self.job.images, "steps": self.job.steps},
            "seeds": self.seeds,
            "scales": self.scales,
            "sheet": str(self.sheet) if self.sheet else None,
            "interrupted": self.interrupted,
            "images": self.images,
        }


class Stopped(LoradexError):
    """The render was asked to stop; raised between steps by the step callback."""


def steps_per_image(steps: int, strength: float | None) -> int:
    """Denoising steps one image takes: img2img runs only the last ``strength`` of the schedule."""
    return steps if strength is None else int(steps * strength)
