"""mix: Σ weight·ΔW of LoRAs in one LoRA, exact (concat) or by SVD to a rank."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Self

from pydantic import PlainValidator, model_validator

from ..options import MIX_METHODS, BlockWeights, block_weights_value
from ..recipe import Base, Rank, Recipe
from ..registry import Inputs, operation

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress

    from ..mix import MixReport


class MixRecipe(Recipe):
    takes_base: ClassVar[Base] = Base.OPTIONAL

    op: Literal["mix"] = "mix"
    method: Literal[MIX_METHODS] = "concat"  # type: ignore[valid-type]
    rank: Rank | None = None
    #: A table, ``"IN=1,MID=0.5"``, a preset's name (``"OUTALL"``) or a vector (an array or ``"1,0,…"``).
    block_weights: Annotated[BlockWeights, PlainValidator(block_weights_value)] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.loras:
            raise ValueError("mix needs at least one input")
        if self.method == "svd" and self.rank is None:
            raise ValueError("the svd method needs a rank")
        if self.method == "concat" and self.rank is not None:
            raise ValueError("a rank applies to the svd method only (concat keeps every input's rank)")
        return self


@operation(MixRecipe)
def run(recipe: MixRecipe, inputs: Inputs, out: Path, *, progress: Progress | None, hashes: bool) -> MixReport:
    from ..mix import mix

    return mix(
        inputs.weighted,
        out,
        method=recipe.method,
        rank=recipe.rank,
        block_weights=recipe.block_weights or None,
        base=inputs.base,
        progress=progress,
    )
