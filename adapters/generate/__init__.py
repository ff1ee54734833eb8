"""Quick-test generation: a base kept warm, adapters applied and switched on it, grids of images
whose PNGs carry the parameters that reproduce them, and CLIP-score sweeps.

Names are imported on first use (PEP 562): the workbench loads diffusers and torch, while the
front ends read options (:mod:`.grid_options`) and records (:mod:`.records`) without them.

A floor above `adapters.ops`: imports `ops`, `model`, `io` and the root modules, never `zoo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.lazy import lazy_exports

if TYPE_CHECKING:
    from .grid import Grid, JobSize
    from .records import ImageRecord, read_record
    from .samplers import SAMPLERS, sampler
    from .workbench import Workbench

_SOURCES = {
    "ImageRecord": ".records",
    "read_record": ".records",
    "SAMPLERS": ".samplers",
    "sampler": ".samplers",
    "Grid": ".grid",
    "JobSize": ".grid",
    "Workbench": ".workbench",
}

__all__ = ["SAMPLERS", "Grid", "ImageRecord", "JobSize", "Workbench", "read_record", "sampler"]

__getattr__ = lazy_exports(__name__, _SOURCES)
