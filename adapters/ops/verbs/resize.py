"""resize: a LoRA's rank reduced, fixed or per layer by a rule on its singular values."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import BeforeValidator, Field, model_validator

from ..options import DYNAMIC_METHODS, parse_dynamic
from ..recipe import Base, Finite, Rank, Recipe
from ..registry import Inputs, operation

if TYPE_CHECKING:
    from loradex.adapters.progress import Progress

    from ..mix import MixReport


def _rule(value: Any) -> Any:
    """``"sv_fro=0.9"`` as a TOML file or the command line may spell it, as (method, value)."""
    return parse_dynamic(value) if isinstance(value, str) else value


#: kohya's resize rules: ``(method, value)``, e.g. ``("sv_fro", 0.9)``.
DynamicRule = Annotated[
    tuple[Literal[DYNAMIC_METHODS], Annotated[Finite, Field(gt=0)]],  # type: ignore[valid-type]
    BeforeValidator(_rule),
]


class ResizeRecipe(Recipe):
    takes_base: ClassVar[Base] = Base.OPTIONAL

    op: Literal["resize"] = "resize"
    rank: Rank | None = None
    dynamic: DynamicRule | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.loras) != 1:
            raise ValueError(f"resize takes exactly one input, got {len(self.loras)}")
        if self.loras[0].weight != 1.0:
            raise ValueError("resize takes no weight: inputs[0].weight must be left out")
        if (self.rank is None) == (self.dynamic is None):
            raise ValueError("resize needs exactly one of rank and dynamic")
        return self


@operation(ResizeRecipe)
def run(recipe: ResizeRecipe, inputs: Inputs, out: Path, *, progress: Progress | None, hashes: bool) -> MixReport:
    from ..mix import resize

    ((path, _),) = inputs.weighted
    return resize(path, out, rank=recipe.rank, dynamic=recipe.dynamic, base=inputs.base, progress=progress)
