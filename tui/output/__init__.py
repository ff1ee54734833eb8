"""The one output sink of the CLI: Rich tables for people, JSON for scripts; notes to stderr.

:class:`Sink` is one object per command run. Its renderings come by command group, one module
each, as the commands do (:mod:`.files`, :mod:`.library`, :mod:`.operations`, :mod:`.generate`,
:mod:`.hub`, :mod:`.civitai`, :mod:`.sidecars`); the shared core (JSON or human, consoles, notes, progress bars)
is :class:`.base.BaseSink`. A new command group adds a module and a base here.
"""

from __future__ import annotations

from .civitai import CivitaiOutput
from .files import FilesOutput
from .generate import GenerateOutput
from .hub import HubOutput
from .library import CatalogOutput
from .operations import OperationsOutput
from .sidecars import SidecarsOutput

__all__ = ["Sink"]


class Sink(FilesOutput, CatalogOutput, OperationsOutput, GenerateOutput, HubOutput, CivitaiOutput, SidecarsOutput):
    """Where every command's output goes: ``Sink(as_json)``, then one rendering call."""
