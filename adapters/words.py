"""Small words for messages: the article before a kind or base name, a count with its noun."""

from __future__ import annotations

# Names read letter by letter (an "ess-dee-ex-ell") or starting with a vowel sound take "an".
_AN = ("sd", "unknown", "a", "e", "i", "o", "u")


def article(word: str) -> str:
    """``word`` with its indefinite article: ``a lora``, ``an sdxl``, ``an unknown``."""
    return f"{'an' if word.lower().startswith(_AN) else 'a'} {word}"


def count(n: int, noun: str) -> str:
    """``n`` with ``noun`` (a plural) in the right number: ``1 error``, ``2 errors``, ``0 notes``."""
    return f"{n} {noun[:-1] if n == 1 and noun.endswith('s') and not noun.endswith('ss') else noun}"


def size(n: float) -> str:
    """A byte count as people read it (decimal units): ``532 B``, ``292.1 KB``, ``2.1 GB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns
