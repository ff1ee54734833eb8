"""Quick-test generation: a base kept warm, adapters applied and switched on it, grids of images
whose PNGs carry the parameters that reproduce them, and CLIP-score sweeps.

Nothing here is imported by ``probe``/``list``: the package loads diffusers and torch.
"""

from .records import ImageRecord, read_record
from .samplers import SAMPLERS, sampler
from .workbench import Grid, JobSize, Workbench

__all__ = ["SAMPLERS", "Grid", "ImageRecord", "JobSize", "Workbench", "read_record", "sampler"]
