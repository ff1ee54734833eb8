"""Which of an artifact's hashes Civitai is asked by, in the order they are tried."""

from __future__ import annotations

from loradex.registry.store.models import Artifact

__all__ = ["lookup_hashes"]


def lookup_hashes(artifact: Artifact) -> list[str]:
    """The hashes to look ``artifact`` up by, the first tried first (a file not found by one is
    asked again by the next); empty for an artifact that was never hashed (a folder).

    AutoV3 first (the tensor bytes' hash: a safetensors file whose header a tool rewrote after
    download still answers to it), then the full sha256. AutoV2, the sha256's first ten hex, is
    not asked by: two files can share it.
    """
    return [h for h in (artifact.autov3, artifact.sha256) if h]
