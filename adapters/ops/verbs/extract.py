"""extract: the LoRA that turns one checkpoint into another, by a rank-R SVD per layer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from loradex.adapters.vocabulary import Dtype

from ..options import FACTOR_DTYPES
from ..recipe import Base, Finite, Rank, Recipe
from ..registry import Inputs, operation

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress

    from ..extract import ExtractReport


class ExtractRecipe(Recipe):
    takes_base: ClassVar[Base] = Base.REQUIRED
    tuned_input: ClassVar[bool] = True

    op: Literal["extract"] = "extract"
    rank: Rank
    dtype: Dtype = Dtype.FP16
    #: A layer whose change is below this fraction of its norm is left out.
    min_change: Annotated[Finite, Field(ge=0)] = 1e-6

    @field_validator("dtype")
    @classmethod
    def _factor_dtype(cls, dtype: Dtype) -> Dtype:
        if dtype not in FACTOR_DTYPES:
            raise ValueError(f"LoRA factors are stored as {', '.join(FACTOR_DTYPES)}; {dtype} is for checkpoints")
        return dtype

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.loras) != 1:
            raise ValueError("extract takes a base and one tuned checkpoint")
        return self


@operation(ExtractRecipe)
def run(recipe: ExtractRecipe, inputs: Inputs, out: Path, *, progress: Progress | None, hashes: bool) -> ExtractReport:
    from ..extract import extract

    assert inputs.base is not None  # the model requires a base
    ((tuned, _),) = inputs.weighted
    return extract(
        inputs.base, tuned, out, rank=recipe.rank, dtype=recipe.dtype, min_change=recipe.min_change, progress=progress
    )
