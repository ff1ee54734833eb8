"""JSON from files, parsed within bounds: a header, a metadata value or an embedded recipe is
written by whoever made the file, and the standard parser trusts it — a 5,000-digit integer
raises "Exceeds the limit (4300 digits)", ``1e999`` is ``inf``, 100,000 nested brackets exhaust the
stack. :func:`loads` checks size and depth before parsing and every number as it is parsed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

#: The deepest nesting any JSON loradex reads needs (a header: object → entry → shape is 3).
MAX_DEPTH = 64
#: Digits of an integer: a u64 offset has 20.
MAX_DIGITS = 20

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonLimitError(ValueError):
    """The text is beyond a bound (size, depth, a number); the message says which."""


def loads(
    text: str,
    *,
    max_chars: int | None = None,
    max_depth: int = MAX_DEPTH,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
) -> Any:
    """``json.loads(text)`` within bounds: at most ``max_chars`` characters, ``max_depth``
    levels of nesting, integers of :data:`MAX_DIGITS` digits, finite numbers only.

    Raises:
        JsonLimitError: a bound is exceeded (checked before any parsing, numbers as parsed).
        json.JSONDecodeError: the text is not JSON.
    """
    if max_chars is not None and len(text) > max_chars:
        raise JsonLimitError(f"{len(text):,} characters of JSON, more than {max_chars:,}")
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if bracket[0] in "[{" else -1
        if depth > max_depth:
            raise JsonLimitError(f"JSON nested more than {max_depth} levels deep")
    return json.loads(
        text, object_pairs_hook=object_pairs_hook, parse_int=_int, parse_float=_float, parse_constant=_constant
    )


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise JsonLimitError(f"an integer of {len(digits.lstrip('-')):,} digits (at most {MAX_DIGITS})")
    return int(digits)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonLimitError(f"the number {text[:20]} is out of range")
    return value


def _constant(name: str) -> float:
    raise JsonLimitError(f"{name} is not a JSON number")
