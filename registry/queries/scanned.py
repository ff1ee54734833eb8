"""The rows a scan compares with what it finds on disk: every artifact under the scan's roots,
with what tells whether its file changed (size, mtime), whether an older loradex described it
(``probed_with``) or hashed it before BLAKE3 and CRC-32 were kept, and the sidecars it last saw.
SQL text over a :class:`.reading.Reader`, so that a rescan that finds nothing changed runs on
plain ``sqlite3`` (:mod:`loradex.registry.services.scan_plan`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradex.registry.store.paths import HERE, absolute, stored

from .reading import Reader

__all__ = ["ScannedRow", "scanned_under", "under"]


@dataclass(slots=True)
class ScannedRow:
    """An artifact's row as a scan compares it with its file (slots, not frozen: a rescan builds
    one per catalogued file, and a frozen dataclass is several times slower to build)."""

    id: int
    size: int
    mtime: float
    status: str
    probed_with: int
    #: Hashed, but before BLAKE3 and CRC-32 were kept (a catalog from before migration 0009).
    lacking_hashes: bool
    sidecar_seen: str | None


def under(column: str, roots: Sequence[Path], folder: str | None, params: dict[str, Any]) -> str:
    """SQL for "``column`` is one of ``roots`` or a path below one", on the stored forms (paths under
    the catalog's ``folder`` are stored relative to it: :mod:`.paths`); the values go into
    ``params``. SQLite's LIKE ignores ASCII case: a caller that must be exact checks the prefix
    again."""
    conditions = []
    for i, root in enumerate(roots):
        text = str(root).rstrip(os.sep) or os.sep
        prefix = text if text.endswith(os.sep) else text + os.sep
        params[f"root{i}"] = stored(text, folder)
        params[f"below{i}"] = re.sub(r"([/%_])", r"/\1", stored(prefix, folder)) + "%"
        conditions += [f"{column} = :root{i}", f"{column} LIKE :below{i} ESCAPE '/'"]
        if folder and (folder + os.sep).startswith(prefix):  # the catalog's own folder lies below the root
            conditions += [f"{column} = '{HERE}'", f"{column} LIKE '{HERE}{os.sep}%'"]
    return "(" + " OR ".join(conditions or ["1 = 0"]) + ")"


def scanned_under(reader: Reader, roots: Sequence[Path]) -> dict[str, ScannedRow]:
    """Every artifact under ``roots`` (:func:`under`), by absolute path."""
    params: dict[str, Any] = {}
    sql = (
        "SELECT path, id, size, mtime, status, probed_with, "
        "CASE WHEN sha256 IS NOT NULL AND blake3 IS NULL THEN 1 ELSE 0 END, sidecar_seen "
        f"FROM artifact WHERE {under('path', roots, reader.folder, params)}"
    )
    return {
        absolute(path, reader.folder): ScannedRow(id, size, mtime, status, probed, bool(lacking), seen)
        for path, id, size, mtime, status, probed, lacking, seen in reader.rows(sql, params)
    }
