"""Where an artifact's sidecars are: their names beside it (A1111's ``<stem>.json``, Civitai
Helper's ``.civitai.info``, Lora Manager's ``.metadata.json``, Stability Matrix's ``.cm-info.json``,
previews), and the signature of those present that a scan compares. Names and ``stat`` only, no
database: discovery, and with it a rescan that finds nothing changed, needs no more
(:mod:`.sidecars` reads and imports them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["JSON_KINDS", "PREVIEW_SUFFIXES", "SIDECAR_SUFFIXES", "SidecarsBeside", "sidecar_paths", "signature_names"]

PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: What follows an artifact's stem in the name of each sidecar, by kind.
JSON_KINDS = {
    "a1111": ".json",
    "civitai": ".civitai.info",
    "lora_manager": ".metadata.json",
    "cm_info": ".cm-info.json",
}
#: Every suffix a sidecar of ``<stem>`` may have: what a scan watches for changes.
SIDECAR_SUFFIXES = (
    *JSON_KINDS.values(),
    *(f".preview{s}" for s in PREVIEW_SUFFIXES),
    *PREVIEW_SUFFIXES,
)


def _stem(path: Path, is_dir: bool) -> Path:
    return path.parent / (path.name if is_dir else path.stem)


def sidecar_paths(path: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Where sidecars of ``path`` would be, existing or not: one list per JSON kind
    (``a1111``, ``civitai``, ``lora_manager``, ``cm_info``) and ``previews``.

    For a file ``x/foo.safetensors`` the stem is ``foo``; for a folder artifact ``x/foo`` the
    sidecars lie beside the folder under its name.
    """
    path = Path(path)
    stem = _stem(path, path.is_dir())
    previews = [Path(f"{stem}.preview{s}") for s in PREVIEW_SUFFIXES] + [Path(f"{stem}{s}") for s in PREVIEW_SUFFIXES]
    found: dict[str, list[Path]] = {kind: [Path(f"{stem}{suffix}")] for kind, suffix in JSON_KINDS.items()}
    found["previews"] = previews
    return found


class SidecarsBeside:
    """The sidecars among one folder's entries (from the one ``scandir`` a scan makes anyway), by
    the stem they belong to: one pass over the names, so that an artifact without sidecars, most
    of a library, costs a dictionary lookup (looking up every suffix for every file cost a rescan
    as much as its ``stat`` calls)."""

    def __init__(self, entries: Iterable[os.DirEntry[str]]) -> None:
        self._by_stem: dict[str, list[tuple[int, os.DirEntry[str]]]] = {}
        for entry in [e for e in entries if e.name.endswith(SIDECAR_SUFFIXES)]:
            for order, suffix in enumerate(SIDECAR_SUFFIXES):
                if entry.name.endswith(suffix):  # x.preview.png is x's preview, and x.preview's image
                    self._by_stem.setdefault(entry.name[: -len(suffix)], []).append((order, entry))

    def signature(self, stem: str) -> str:
        """The names and mtimes of the sidecars of the entry of this folder named ``stem`` (a file's
        name without its suffix, a folder's whole name): a scan reads the sidecars again when this
        changes. Only the sidecars found are ``stat``-ed."""
        kept = self._by_stem.get(stem)
        if not kept:  # no sidecars: most of a library
            return ""
        parts = []
        for _, entry in sorted(kept, key=lambda one: one[0]):
            try:
                parts.append(f"{entry.name}:{entry.stat().st_mtime_ns}")
            except OSError:
                continue
        return "|".join(parts)


def signature_names(path: Path, is_dir: bool, signature: str) -> frozenset[str]:
    """The names of the sidecars of ``path`` that its signature (:meth:`SidecarsBeside.signature`)
    lists, found by name, not by splitting: a file name may hold ``|`` or ``:``."""
    stem = path.name if is_dir else path.stem
    return frozenset(stem + suffix for suffix in SIDECAR_SUFFIXES if f"{stem}{suffix}:" in signature)
