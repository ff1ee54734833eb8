"""Rescan: scan again every folder the catalog was scanned from (its scan roots), as the TUI's
``r`` does, skipping roots that are out of reach so their files are not marked missing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from loradex.adapters.progress import Progress
from loradex.registry.errors import CatalogError
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import ScanRoot

from .scan import ScanReport, scan

__all__ = ["Rescanned", "rescan"]


@dataclass(frozen=True)
class Rescanned:
    """What a rescan did.

    Attributes:
        roots: the scan roots scanned (those present), by path.
        absent: the scan roots skipped because they are not there (an unplugged drive).
        report: the scan's report over ``roots``.
    """

    roots: list[str]
    absent: list[str]
    report: ScanReport


def rescan(engine: Engine, *, progress: Progress | None = None) -> Rescanned:
    """Scan again every scan root the catalog records; an absent one is skipped (not scanned, so
    its files are not marked missing).

    Args:
        engine: the catalog.
        progress: :func:`.scan.scan`'s progress callback (an exception it raises cancels).

    Raises:
        CatalogError: the catalog records no scan root, or none of them is present.
    """
    with open_session(engine) as session:
        roots = [root.path for root in session.exec(select(ScanRoot).order_by(ScanRoot.path))]
    if not roots:
        raise CatalogError("the catalog records no scan roots yet; scan a folder first (loradex scan DIR)")
    present = [root for root in roots if os.path.exists(root)]
    absent = [root for root in roots if root not in present]
    if not present:
        raise CatalogError(f"none of the {len(roots)} scan roots is present (first: {roots[0]})")
    report = scan([Path(root) for root in present], engine=engine, progress=progress)
    return Rescanned(present, absent, report)
