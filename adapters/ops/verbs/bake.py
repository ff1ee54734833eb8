"""bake: LoRAs merged into a checkpoint, W' = W + Σ weight·ΔW, streamed tensor by tensor."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Strict

from loradex.adapters.vocabulary import Dtype

from ..recipe import Base, Recipe
from ..registry import Inputs, operation

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress

    from ..bake import BakeReport


class BakeRecipe(Recipe):
    takes_base: ClassVar[Base] = Base.REQUIRED
    hashes_base_first: ClassVar[bool] = True

    op: Literal["bake"] = "bake"
    #: Floating tensors' storage dtype; None: as in the base.
    dtype: Dtype | None = None
    allow_partial: Annotated[bool, Strict()] = False


@operation(BakeRecipe)
def run(recipe: BakeRecipe, inputs: Inputs, out: Path, *, progress: Progress | None, hashes: bool) -> BakeReport:
    from ..bake import bake

    assert inputs.base is not None  # the model requires a base
    return bake(
        inputs.base,
        inputs.weighted,
        out,
        dtype=recipe.dtype,
        allow_partial=recipe.allow_partial,
        progress=progress,
        hashes=hashes,
    )
