"""loradex.adapters: the tensors. Reading artifacts safely, probing, layer-name maps, LoRA math.

The public Python API for scripts::

    from loradex.adapters import probe, inspect, convert

Names are imported on first use (PEP 562), so that ``from loradex.adapters import probe``
or importing :mod:`.errors` does not load convert and inspection, which need torch.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .lazy import lazy_exports

if TYPE_CHECKING:
    from loradex.adapters.model.artifact import ArtifactInfo, LayerInfo
    from loradex.adapters.ops.convert import ConversionReport, convert
    from .errors import (
        ArtifactNotFoundError,
        CorruptFileError,
        DiskSpaceError,
        IncompatibleError,
        LoradexError,
        OutputError,
        RefusedFileError,
        UnsupportedError,
    )
    from loradex.adapters.ops.inspection import Inspection, inspect
    from loradex.adapters.model.layermap import Layer, LayerMap, layer_map
    from loradex.adapters.model.probe import probe

#: Public name -> the submodule that defines it.
_SOURCES = {
    "ArtifactInfo": ".model.artifact", "LayerInfo": ".model.artifact",
    "ConversionReport": ".ops.convert", "convert": ".ops.convert",
    "ArtifactNotFoundError": ".errors", "CorruptFileError": ".errors", "DiskSpaceError": ".errors",
    "IncompatibleError": ".errors", "LoradexError": ".errors", "OutputError": ".errors",
    "RefusedFileError": ".errors", "UnsupportedError": ".errors",
    "Inspection": ".ops.inspection", "inspect": ".ops.inspection",
    "Layer": ".model.layermap", "LayerMap": ".model.layermap", "layer_map": ".model.layermap",
    "probe": ".model.probe",
}

__all__ = [
    "ArtifactInfo", "ArtifactNotFoundError", "ConversionReport", "CorruptFileError", "DiskSpaceError",
    "IncompatibleError", "Inspection", "Layer", "LayerInfo", "LayerMap", "LoradexError", "OutputError",
    "RefusedFileError", "UnsupportedError",
    "convert", "inspect", "layer_map", "probe",
]


__getattr__ = lazy_exports(__name__, _SOURCES)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(ModuleType):
    # Importing the submodule `probe` (or `convert`) binds it on this package under the name
    # of the function exported here. When this file imported everything eagerly the function
    # was bound last and won; dropping the binding keeps it so (__getattr__ then answers), and
    # the submodule is still in sys.modules for `from loradex.adapters.model.probe import ...`.
    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in _SOURCES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
