"""The quick-test base the app keeps warm between runs (a flow borrows it; the app holds it)."""

from __future__ import annotations

import os
from typing import Any


class WarmBench:
    """The quick-test Workbench kept between runs: the same base is never loaded twice."""

    def __init__(self) -> None:
        self.base: str | None = None
        self.bench: Any = None

    def get(self, base: str) -> tuple[Any, bool]:
        """The Workbench on ``base``, and whether it was loaded now (False: the warm one)."""
        key = os.path.abspath(base)
        if self.bench is not None and self.base == key:
            return self.bench, False
        from loradex.adapters.libraries import quiet

        quiet()
        from loradex.adapters.generate import Workbench

        self.bench, self.base = None, None  # the old pipeline goes before the new one is loaded
        bench = Workbench(key)
        self.bench, self.base = bench, key
        return bench, True
