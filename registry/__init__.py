"""loradex.registry: the catalog, on four floors that import only downward: `store` (tables,
opening, migrations) < `queries` (reading) < `services` (what the front ends call) < `hub` (the
Hugging Face Hub) and `civitai` (Civitai, asked by hash); `errors` lies under them all.

The public Python API for scripts (imported on first use, so ``import loradex.registry`` loads no
database layer)::

    from loradex.registry import open_catalog, scan, find, publish, pull
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.lazy import lazy_exports

if TYPE_CHECKING:
    from .hub.publish import publish
    from .hub.pull import pull
    from .queries.orm import find
    from .services.scan import scan
    from .store.db import open_catalog

#: Public name -> the submodule that defines it.
_SOURCES = {
    "open_catalog": ".store.db",
    "scan": ".services.scan",
    "find": ".queries.orm",
    "publish": ".hub.publish",
    "pull": ".hub.pull",
}

__all__ = ["find", "open_catalog", "publish", "pull", "scan"]

__getattr__ = lazy_exports(__name__, _SOURCES)
