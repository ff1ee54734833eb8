"""convert: a LoRA written in another key convention (kohya, diffusers, a PEFT folder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from pydantic import model_validator

from loradex.adapters.vocabulary import TargetFormat

from ..recipe import Rank, Recipe
from ..registry import Inputs, operation

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress

    from ..convert import ConversionReport


class ConvertRecipe(Recipe):
    op: Literal["convert"] = "convert"
    to: TargetFormat
    #: The rank of the SVD approximation (required for LyCORIS inputs; reduces a LoRA).
    rank: Rank | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.loras) != 1:
            raise ValueError(f"convert takes exactly one input, got {len(self.loras)}")
        return self


@operation(ConvertRecipe)
def run(
    recipe: ConvertRecipe, inputs: Inputs, out: Path, *, progress: Progress | None, hashes: bool
) -> ConversionReport:
    from ..convert import convert

    ((path, _),) = inputs.weighted
    return convert(path, recipe.to, out, rank=recipe.rank)
