"""The license ids the Hugging Face Hub accepts on a model card, checked before any request.

The Hub refuses a commit whose card names a license outside its list, after the weights were
uploaded; the list ships with loradex (``data/hub_licenses.tsv``, from the Hub's documentation)
so ``publish --license`` is checked offline, at once.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib.resources import files

from loradex.adapters.errors import LoradexError

__all__ = ["LicenseError", "check_license", "hub_licenses"]

#: How many near ids a refusal suggests.
SUGGESTED = 3


class LicenseError(LoradexError, ValueError):
    """A license id the Hub does not accept (a usage error: the CLI exits 2)."""


@cache
def hub_licenses() -> dict[str, str]:
    """The Hub's license ids and their full names, in the documentation's order."""
    text = files("loradex.registry.hub").joinpath("data/hub_licenses.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {license_id: name for license_id, name in rows}


def check_license(value: str) -> str:
    """``value`` when it is a Hub license id; else a one-line error naming the closest ids."""
    known = hub_licenses()
    if value in known:
        return value
    near = difflib.get_close_matches(value.lower(), known, n=SUGGESTED, cutoff=0.5)
    if value.lower() in known:  # the Hub's ids are lowercase and compared as written
        near = [value.lower()]
    choices = f"{', '.join(near[:-1])} or {near[-1]}" if len(near) > 1 else "".join(near)
    hint = f"did you mean {choices}?" if near else "for example apache-2.0, mit, openrail++ or other"
    raise LicenseError(
        f"license {value!r} is not a Hub license id; {hint} "
        "(https://huggingface.co/docs/hub/repositories-licenses lists them)"
    )
