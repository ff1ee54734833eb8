"""The operations' option tables: the one place each option's values are listed (CLI choices,
recipe checks, the writers' dtypes), as members of :mod:`loradex.adapters.vocabulary`. Data only: the
command line builds its options from these at start-up without loading the code that runs the
operations (:mod:`.recipe`)."""

from __future__ import annotations

from loradex.adapters.vocabulary import Dtype, Op, TargetFormat

__all__ = ["DTYPES", "DYNAMIC_METHODS", "FORMATS", "MIX_METHODS", "NEEDS_BASE", "OPS", "PARAMS"]

OPS: tuple[Op, ...] = tuple(Op)
#: Target formats of ``convert``.
FORMATS: tuple[TargetFormat, ...] = tuple(TargetFormat)
MIX_METHODS = ("concat", "svd")
DYNAMIC_METHODS = ("sv_ratio", "sv_fro", "sv_cumulative")
#: Storage dtype options → safetensors dtype codes.
DTYPES: dict[Dtype, str] = {Dtype.FP16: "F16", Dtype.BF16: "BF16", Dtype.FP32: "F32"}
#: The parameters each op takes in a recipe file besides its inputs; anything else is refused
#: (a typo must not be silently ignored: `rnak = 8` would otherwise bake at the default rank).
PARAMS: dict[str, tuple[str, ...]] = {
    "mix": ("method", "rank", "block_weights"),
    "resize": ("rank", "dynamic"),
    "bake": ("dtype", "allow_partial"),
    "extract": ("rank", "dtype"),
    "convert": ("to", "rank"),
}
#: Ops that cannot run without a base (mix and resize take one only for DoRA inputs).
NEEDS_BASE = ("bake", "extract")
