"""loradex.adapters: the tensors. Reading artifacts safely, probing, layer-name maps, LoRA math.

The public Python API for scripts::

    from loradex.adapters import probe, inspect, convert, mix, bake, run, load_recipe, torch_threads

Names are imported on first use (PEP 562), so that ``from loradex.adapters import probe``
or importing :mod:`.errors` does not load convert and inspection, which need torch.

Floors, each importing only the ones below it: the modules here (:mod:`.errors`, :mod:`.words`,
:mod:`.progress`, :mod:`.lazy`, :mod:`.libraries`, :mod:`.vocabulary`) < :mod:`.interrupts` (the
Ctrl-C policy), :mod:`.threads` (torch's thread count) < :mod:`.io` (reading and writing files) <
:mod:`.model` (knowing files) < :mod:`.ops` (LoRA math, the operations) < :mod:`.generate`
(quick-test) < :mod:`.zoo` (the tiny test models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from loradex.adapters.model.artifact import ArtifactInfo, LayerInfo
    from loradex.adapters.model.layermap import Layer, LayerMap, layer_map
    from loradex.adapters.model.probe import probe
    from loradex.adapters.ops.bake import bake
    from loradex.adapters.ops.convert import ConversionReport, convert
    from loradex.adapters.ops.extract import extract
    from loradex.adapters.ops.inspection import Inspection, inspect
    from loradex.adapters.ops.mix import mix, resize
    from loradex.adapters.ops.rebuild import rebuild
    from loradex.adapters.ops.recipe import Recipe
    from loradex.adapters.ops.recipe_sources import load_recipe, read_recipe
    from loradex.adapters.ops.runner import run
    from loradex.adapters.threads import torch_threads

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

#: Public name -> the submodule that defines it.
_SOURCES = {
    "ArtifactInfo": ".model.artifact",
    "LayerInfo": ".model.artifact",
    "ConversionReport": ".ops.convert",
    "convert": ".ops.convert",
    "ArtifactNotFoundError": ".errors",
    "CorruptFileError": ".errors",
    "DiskSpaceError": ".errors",
    "IncompatibleError": ".errors",
    "LoradexError": ".errors",
    "OutputError": ".errors",
    "RefusedFileError": ".errors",
    "UnsupportedError": ".errors",
    "Inspection": ".ops.inspection",
    "inspect": ".ops.inspection",
    "Layer": ".model.layermap",
    "LayerMap": ".model.layermap",
    "layer_map": ".model.layermap",
    "probe": ".model.probe",
    "mix": ".ops.mix",
    "resize": ".ops.mix",
    "bake": ".ops.bake",
    "extract": ".ops.extract",
    "rebuild": ".ops.rebuild",
    "Recipe": ".ops.recipe",
    "load_recipe": ".ops.recipe_sources",
    "read_recipe": ".ops.recipe_sources",
    "run": ".ops.runner",
    "torch_threads": ".threads",
}

__all__ = [
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "ConversionReport",
    "CorruptFileError",
    "DiskSpaceError",
    "IncompatibleError",
    "Inspection",
    "Layer",
    "LayerInfo",
    "LayerMap",
    "LoradexError",
    "OutputError",
    "Recipe",
    "RefusedFileError",
    "UnsupportedError",
    "bake",
    "convert",
    "extract",
    "inspect",
    "layer_map",
    "load_recipe",
    "mix",
    "probe",
    "read_recipe",
    "rebuild",
    "resize",
    "run",
    "torch_threads",
]


__getattr__ = lazy_exports(__name__, _SOURCES)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
