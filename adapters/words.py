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
