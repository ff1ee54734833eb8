"""Which probe described a catalog row: apart from probe itself, so that a rescan deciding what
to probe again imports none of it."""

from __future__ import annotations

__all__ = ["PROBE_VERSION"]

#: Raised whenever probe's verdict on an unchanged file can change (a format it learnt to read,
#: a better base rule), so that a catalog re-probes rows an older loradex described.
#: 2: LDM ``.ckpt`` checkpoints with their weights under ``state_dict``.
#: 3: SD3, Flux.1 and Flux.2 adapters and checkpoints, by name and shape; model lines (the catalog's).
#: 4: SD3, Flux.1 and Flux.2 checkpoints in every layout (bare BFL/SAI, ComfyUI, diffusers folder, GGUF).
PROBE_VERSION = 4
