"""What a user types for a grid — seeds, scales, a size — read the same way by the CLI and the TUI.

No torch here: the front ends check a form or the command line before anything loads.
"""

from __future__ import annotations

import math
import re

from loradex.adapters.errors import UnsupportedError


def parse_numbers(text: str, kind: type, what: str | None = None) -> list:
    """``"1, 2,3"`` → ``[1, 2, 3]`` (``kind`` int or float); one-line UnsupportedError, starting
    with ``what`` when given (the CLI leaves it out: Click names the option itself)."""
    try:
        values = [kind(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise UnsupportedError(_named(what, f"{text!r} is not a comma-separated list of numbers, e.g. 1,2,3")) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise UnsupportedError(_named(what, f"{text!r}: give comma-separated finite numbers"))
    return values


def parse_size(text: str | None, what: str | None = None) -> tuple[int, int] | None:
    """``"512x768"`` → ``(512, 768)``; blank or None → None (the base's native size)."""
    if text is None or not text.strip():
        return None
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise UnsupportedError(_named(what, f"{text!r} is not WIDTHxHEIGHT, e.g. 512x768"))
    return int(m[1]), int(m[2])


def _named(what: str | None, message: str) -> str:
    return f"{what}: {message}" if what else message
