"""loradex.adapters: the tensors. Reading artifacts safely, probing, layer-name maps, LoRA math.

The public Python API for scripts::

    from loradex.adapters import probe, inspect, convert
"""

from .artifact import ArtifactInfo, LayerInfo
from .convert import ConversionReport, convert
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
from .inspection import Inspection, inspect
from .layermap import Layer, LayerMap, layer_map
from .probe import probe

__all__ = [
    "ArtifactInfo", "ArtifactNotFoundError", "ConversionReport", "CorruptFileError", "DiskSpaceError",
    "IncompatibleError", "Inspection", "Layer", "LayerInfo", "LayerMap", "LoradexError", "OutputError",
    "RefusedFileError", "UnsupportedError",
    "convert", "inspect", "layer_map", "probe",
]
