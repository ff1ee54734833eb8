"""Small words for messages: the article before a kind or base name, a count with its noun, layers a
file does not hold, text safe to print."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# Names read letter by letter (an "ess-dee-ex-ell") or starting with a vowel sound take "an".
_AN = ("sd", "unknown", "a", "e", "i", "o", "u")


def article(word: str) -> str:
    """``word`` with its indefinite article: ``a lora``, ``an sdxl``, ``an unknown``."""
    return f"{'an' if word.lower().startswith(_AN) else 'a'} {word}"


def count(n: int, noun: str) -> str:
    """``n`` with ``noun`` (a plural) in the right number: ``1 error``, ``2 errors``, ``0 notes``."""
    return f"{n} {noun[:-1] if n == 1 and noun.endswith('s') and not noun.endswith('ss') else noun}"


def not_held(canonicals: Iterable[str]) -> str:
    """``12 text-encoder layers not in this file`` for canonical layers (``text_encoder.…``, or
    their components' names: one per layer) of components a file does not hold (a denoiser-only
    checkpoint has no text encoders)."""
    words = Counter(
        "text-encoder" if c.startswith("text_encoder") else "denoiser" if c in ("unet", "transformer") else c
        for c in (name.split(".", 1)[0] for name in canonicals)
    )
    return ", ".join(count(n, f"{word} layers") for word, n in sorted(words.items())) + " not in this file"


def size(n: float) -> str:
    """A byte count as people read it (decimal units): ``532 B``, ``292.1 KB``, ``2.1 GB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover - the loop returns


def _escape_table(keep: str) -> dict[int, str]:
    controls = [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
    return {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in controls if chr(c) not in keep}


# Control characters (C0, DEL, C1) drive a terminal — clear it, set its title, write the clipboard
# (OSC 52), spoof links (OSC 8) — and bidi overrides make text read other than it is; all of them
# can come from a downloaded file's name or metadata.
_ESCAPES = _escape_table("\n\t")
_ESCAPES_ONE_LINE = _escape_table("")


def printable(text: str, *, one_line: bool = False) -> str:
    r"""``text`` safe to show on a terminal: each control character and bidi override written as
    its escape (``\x1b``, ``\u202e``); newlines and tabs kept unless ``one_line``."""
    return text.translate(_ESCAPES_ONE_LINE if one_line else _ESCAPES)
