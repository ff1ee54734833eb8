"""Errors of the catalog layer. All derive from :class:`LoradexError` (the one root, defined in
``adapters``) and from the builtin they resemble, so callers may catch either."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from loradex.adapters.errors import LoradexError

#: How many candidates an ambiguity message names; the rest are counted.
MAX_CANDIDATES = 5


class Candidate(Protocol):
    """What an ambiguity message names of an artifact (a row of the catalog)."""

    @property
    def id(self) -> int | None: ...

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...


class CatalogError(LoradexError):
    """The catalog cannot be opened or is newer than this loradex."""


class RefNotFoundError(LoradexError, LookupError):
    """No artifact of the catalog answers to a reference (id, name, path or hash prefix)."""

    def __init__(self, ref: str, *, hint: str = "") -> None:
        self.ref = ref
        tail = f"; {hint}" if hint else "; `loradex list` shows ids and names, `loradex scan DIR` adds files"
        super().__init__(f"no artifact matches {ref!r}{tail}")


class AmbiguousRefError(LoradexError, LookupError):
    """A reference matches several artifacts; the message names up to five of them."""

    def __init__(self, ref: str, candidates: Sequence[Candidate], *, total: int | None = None) -> None:
        self.ref = ref
        self.candidates = list(candidates)
        total = total if total is not None else len(self.candidates)
        shown = "; ".join(f"{a.id} {a.name} {a.path}" for a in self.candidates[:MAX_CANDIDATES])
        more = f" and {total - MAX_CANDIDATES} more" if total > MAX_CANDIDATES else ""
        super().__init__(f"{ref!r} matches {total} artifacts: {shown}{more}; use an id or a longer hash prefix")


class QueryError(LoradexError, ValueError):
    """A query option has a value the catalog cannot use (an unknown sort key, a bad share)."""


class NoLayersError(LoradexError, ValueError):
    """An artifact has no stored layer inventory, so layer compatibility cannot be computed."""


class InputUnavailableError(LoradexError, FileNotFoundError):
    """An input reference names no file and no usable catalogued artifact."""
