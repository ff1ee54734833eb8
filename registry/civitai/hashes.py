"""Which of an artifact's hashes Civitai is asked by, in the order they are tried."""

from __future__ import annotations

from loradex.registry.store.models import Artifact

__all__ = ["lookup_hashes"]


def lookup_hashes(artifact: Artifact) -> list[str]:
    """The hashes to look ``artifact`` up by, the first tried first (a file not found by one is
    asked again by the next); empty for an artifact that was never hashed (a folder).

    Civitai indexes every file by its full sha256 (and by AutoV2, its first ten hex, which two
    files can share, so it is not asked by).
    """
    return [artifact.sha256] if artifact.sha256 else []
