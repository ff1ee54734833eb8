"""The operations' options: the one place each option's values are listed (CLI choices, recipe
fields, the writers' dtypes), as members of :mod:`loradex.adapters.vocabulary`, and their text forms
(``REF:WEIGHT``, ``IN=1,MID=0.5``, ``sv_fro=0.9``) as the command line and recipe files spell them.
Plain Python only: the command line builds its options from these at start-up without loading
pydantic or the code that runs the operations."""

from __future__ import annotations

import math
import re
from pathlib import Path

from loradex.adapters.vocabulary import Dtype, TargetFormat

__all__ = [
    "DTYPES",
    "DYNAMIC_METHODS",
    "FACTOR_DTYPES",
    "FORMATS",
    "MIX_METHODS",
    "block_label",
    "dynamic_text",
    "finite_number",
    "parse_block_weights",
    "parse_dynamic",
    "parse_weighted",
]

#: Target formats of ``convert``.
FORMATS: tuple[TargetFormat, ...] = tuple(TargetFormat)
MIX_METHODS = ("concat", "svd")
DYNAMIC_METHODS = ("sv_ratio", "sv_fro", "sv_cumulative")
#: Storage dtype options → safetensors dtype codes (a checkpoint's floating tensors take any of them).
DTYPES: dict[Dtype, str] = {
    Dtype.FP16: "F16",
    Dtype.BF16: "BF16",
    Dtype.FP32: "F32",
    Dtype.FP8_E4M3FN: "F8_E4M3",
    Dtype.FP8_E5M2: "F8_E5M2",
}
#: The dtypes a LoRA's factors are stored in: fp8 has 2-3 mantissa bits, far too few for low-rank
#: factors whose product is a small correction (and few loaders read fp8 LoRAs).
FACTOR_DTYPES: tuple[Dtype, ...] = (Dtype.FP16, Dtype.BF16, Dtype.FP32)


def parse_weighted(text: str) -> tuple[str, float]:
    """``"REF[:WEIGHT]"`` → (ref, weight); split on the last colon so paths with colons work.

    A tail after the last colon that holds no path separator is a weight, and must be a finite
    number (``A:abc``, ``A:inf`` and ``A:nan`` are refused before anything is read).

    >>> parse_weighted("b.safetensors:-0.5")
    ('b.safetensors', -0.5)
    >>> parse_weighted("C:/loras/a.safetensors")
    ('C:/loras/a.safetensors', 1.0)

    Raises:
        ValueError: the weight is not a finite number.
    """
    ref, sep, tail = text.rpartition(":")
    if not sep or "/" in tail or "\\" in tail or not ref or Path(text).exists():
        return text, 1.0
    return ref, finite_number(tail, text)


def parse_block_weights(text: str) -> dict[str, float]:
    """``"IN=1,MID=0.5,OUT=1,TE=0"`` → ``{"IN": 1.0, "MID": 0.5, "OUT": 1.0, "TE": 0.0}``.

    Raises:
        ValueError: an entry is not ``LABEL=NUMBER``.
    """
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        label, sep, value = part.partition("=")
        if not sep or not label.strip():
            raise ValueError(f"{part!r} is not LABEL=WEIGHT (e.g. IN=1,MID=0.5,OUT=1,TE=0)")
        weights[block_label(label.strip())] = finite_number(value.strip(), part)
    if not weights:
        raise ValueError("no block weights given (e.g. IN=1,MID=0.5,OUT=1,TE=0)")
    return weights


#: Block labels as LoRA-block-weight tools spell them: groups, or one block (IN04, OUT11, TE.03, TE2.31).
_BLOCK_LABEL = re.compile(r"(BASE|IN|MID|OUT|TE[23]?|D|S|J)|(IN|OUT)\d\d|[DSJ]\d+|TE[23]?\.\d\d")


def block_label(label: str) -> str:
    """``label`` when it names a block or block group, for ``block_weights``.

    Raises:
        ValueError: an unknown label (a typo must not be silently ignored).
    """
    if not _BLOCK_LABEL.fullmatch(label):
        raise ValueError(
            f"unknown block {label!r}; use BASE, IN, MID, OUT, TE, TE2, TE3, D, S, J or one block such as IN04, "
            "OUT11, TE.03, TE2.31, D0 (Flux double), S37 (Flux single), J12 (SD3 joint)"
        )
    return label


def parse_dynamic(text: str) -> tuple[str, float]:
    """``"sv_fro=0.9"`` → ``("sv_fro", 0.9)``.

    Raises:
        ValueError: an unknown method or a value that is not a positive number.
    """
    method, sep, value = text.partition("=")
    method = method.strip()
    if not sep or method not in DYNAMIC_METHODS:
        raise ValueError(
            f"{text!r} is not METHOD=VALUE with METHOD one of {', '.join(DYNAMIC_METHODS)} (e.g. sv_fro=0.9)"
        )
    number = finite_number(value.strip(), text)
    if number <= 0:
        raise ValueError(f"{text!r}: the value must be positive")
    return method, number


def dynamic_text(rule: tuple[str, float]) -> str:
    """The ``"METHOD=VALUE"`` spelling of a dynamic rule (``(method, value)``)."""
    method, value = rule
    return f"{method}={value:g}"


def finite_number(value: str, context: str) -> float:
    """``value`` as a finite float; a ValueError that quotes ``context`` (what the user typed) otherwise."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{context!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{context!r}: {value!r} is not a finite number")
    return number
