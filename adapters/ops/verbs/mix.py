"""mix: Σ weight·ΔW of LoRAs in one LoRA, exact (concat) or by SVD to a rank."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BeforeValidator, model_validator

from ..options import MIX_METHODS, block_label, parse_block_weights
from ..recipe import Base, Finite, Rank, Recipe
from ..registry import Inputs, operation

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress

    from ..mix import MixReport


def _block_weights(value: Any) -> Any:
    """``"IN=1,MID=0.5"`` as a TOML file or the command line may spell it, as a table."""
    return parse_block_weights(value) if isinstance(value, str) else value


class MixRecipe(Recipe):
    takes_base: ClassVar[Base] = Base.OPTIONAL

    op: Literal["mix"] = "mix"
    method: Literal[MIX_METHODS] = "concat"  # type: ignore[valid-type]
    rank: Rank | None = None
    block_weights: Annotated[
        dict[Annotated[str, AfterValidator(block_label)], Finite], BeforeValidator(_block_weights)
    ] = {}

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
