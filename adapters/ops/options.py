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

from .block_presets import LAYOUTS, PREFIXES, PRESETS, TABLE_FAMILIES

__all__ = [
    "DTYPES",
    "DYNAMIC_METHODS",
    "FACTOR_DTYPES",
    "FORMATS",
    "BlockWeights",
    "MIX_METHODS",
    "block_label",
    "block_vector",
    "block_weights_value",
    "dynamic_text",
    "finite_number",
    "parse_block_weights",
    "parse_dynamic",
    "parse_weighted",
    "preset_name",
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


#: What ``--block-weights`` holds: multipliers by block label (``{"IN": 1, "MID": 0.5}``), a LoRA
#: Block Weight vector (one number per position of the layout its length names,
#: :data:`~.block_presets.LAYOUTS`), or the name of one of LBW's presets (``"OUTALL"``). Which blocks a
#: vector or preset weighs depends on the adapter's family: :mod:`.block_weights` resolves it.
BlockWeights = dict[str, float] | list[float] | str

#: The lengths a block-weight vector may have, and what each is for (named in messages).
_VECTORS = "12, 17, 20, 26 or 61 numbers (SD1/SD2: 17 or 26; SDXL: 12, 20 or 26; Flux.1: 61)"


def parse_block_weights(text: str) -> BlockWeights:
    """The text of ``--block-weights`` (or of a recipe's ``block_weights``) as :data:`BlockWeights`.

    >>> parse_block_weights("IN=1,MID=0.5,OUT=1,TE=0")
    {'IN': 1.0, 'MID': 0.5, 'OUT': 1.0, 'TE': 0.0}
    >>> parse_block_weights("outall")
    'OUTALL'
    >>> len(parse_block_weights("1,0,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1"))
    17

    Raises:
        ValueError: an entry is not ``LABEL=NUMBER``, an unknown label or preset, a vector of a length
            no layout has.
    """
    text = text.strip()
    if "=" in text:
        weights: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            label, sep, value = part.partition("=")
            if not sep or not label.strip():
                raise ValueError(f"{part!r} is not LABEL=WEIGHT (e.g. IN=1,MID=0.5,OUT=1,TE=0)")
            weights[block_label(label.strip())] = finite_number(value.strip(), part)
        return weights
    if "," in text:
        return block_vector([finite_number(part.strip(), text) for part in text.split(",")])
    if not text:
        raise ValueError("no block weights given (e.g. IN=1,MID=0.5,OUT=1,TE=0, or a preset such as OUTALL)")
    return preset_name(text)


def block_weights_value(value: object) -> BlockWeights:
    """A recipe's ``block_weights`` as a TOML file, JSON or a front end gives it (a table of weights,
    an array of numbers, or text), checked as :data:`BlockWeights`.

    Raises:
        ValueError: anything else, or what :func:`parse_block_weights` refuses.
    """
    if isinstance(value, str):
        return parse_block_weights(value)
    if isinstance(value, dict):
        return {block_label(str(label)): _number(weight, str(label)) for label, weight in value.items()}
    if isinstance(value, list | tuple):
        return block_vector([_number(weight, f"position {i + 1}") for i, weight in enumerate(value)])
    raise ValueError("must be a table of LABEL = WEIGHT, a preset's name or an array of numbers")


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {value!r} is not a number")
    return finite_number(str(value), where)


def block_vector(numbers: list[float]) -> list[float]:
    """``numbers`` when their count is the length of a LoRA Block Weight layout.

    Raises:
        ValueError: naming the lengths there are.
    """
    if len(numbers) not in LAYOUTS:
        raise ValueError(f"a block-weight vector has {_VECTORS}; this one has {len(numbers)}")
    return numbers


def preset_name(text: str) -> str:
    """The spelling of a LoRA Block Weight preset (any case; Inspire Pack's ``SD-``/``SDXL-`` prefixes too).

    Raises:
        ValueError: no table has it; the message lists the presets.
    """
    upper = text.upper()
    prefix = next((p for p in PREFIXES if upper.startswith(p)), "")
    tables = [PREFIXES[prefix]] if prefix else list(PRESETS)
    if any(upper.removeprefix(prefix) in PRESETS[table] for table in tables):
        return upper
    listed = "; ".join(f"{', '.join(PRESETS[t])} ({TABLE_FAMILIES[t]})" for t in PRESETS)
    raise ValueError(
        f"unknown block-weight preset {text!r}; presets: {listed}; or give LABEL=WEIGHT pairs "
        f"(IN=1,MID=0.5) or a vector of {_VECTORS}"
    )


#: Block labels as LoRA-block-weight tools spell them: groups, or one block (IN04, OUT11, TE.03, TE2.31,
#: D0, S37, J12; LBW's M00 and D00 too).
_BLOCK_LABEL = re.compile(r"(BASE|IN|MID|OUT|TE[23]?|D|S|J)|(IN|OUT)\d\d|M00|[DSJ]\d+|TE[23]?\.\d\d")


def block_label(label: str) -> str:
    """``label`` when it names a block or block group, for ``block_weights``, in loradex's spelling
    (LBW's ``M00`` is ``MID``, its Flux ``D00`` is ``D0``).

    Raises:
        ValueError: an unknown label (a typo must not be silently ignored).
    """
    if not _BLOCK_LABEL.fullmatch(label):
        raise ValueError(
            f"unknown block {label!r}; use BASE, IN, MID, OUT, TE, TE2, TE3, D, S, J or one block such as IN04, "
            "OUT11, TE.03, TE2.31, D0 (Flux double), S37 (Flux single), J12 (SD3 joint)"
        )
    if label == "M00":
        return "MID"
    if m := re.fullmatch(r"([DSJ])(\d+)", label):
        return f"{m[1]}{int(m[2])}"
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
