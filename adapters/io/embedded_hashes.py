"""The hashes a safetensors header claims for its own tensor data, checked against the data read.

kohya's sd-scripts write ``sshs_model_hash``: the sha256 of the bytes after the header
(``addnet_hash_safetensors`` over the file as ``precalculate_safetensors_hashes`` saves it, whose
tensor bytes are the file's own). SAI's model spec writes ``modelspec.hash_sha256``: the same
hash with a ``0x`` in front. Both are the full hash whose first 12 digits are Civitai's AutoV3,
so they must equal the tensor hash of :mod:`.hashing`. A tool that changed the weights and kept
the header (a converter, a merge that copied metadata, a truncated download padded back) leaves
them wrong: worth saying beside the file, never a reason to refuse it.

Only the standard library: ``show`` reads this on its fast path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EMBEDDED_TENSOR_HASHES", "HashMismatch", "hash_mismatches"]

#: The header keys that claim the tensor hash.
EMBEDDED_TENSOR_HASHES = ("sshs_model_hash", "modelspec.hash_sha256")


@dataclass(frozen=True)
class HashMismatch:
    """A header's claim about its tensor data that the data does not bear out.

    Attributes:
        key: the metadata key that claims it.
        claimed: the hash it claims, as 64 lowercase hex digits (``0x`` dropped).
        actual: the tensor hash of the data read.
    """

    key: str
    claimed: str
    actual: str

    def __str__(self) -> str:
        return (
            f"{self.key} says {self.claimed[:12]}… but the tensor data hashes to {self.actual[:12]}…"
            " (the weights changed after it was written)"
        )


def hash_mismatches(metadata: Mapping[str, Any], tensor_hash: str | None) -> list[HashMismatch]:
    """The claims of :data:`EMBEDDED_TENSOR_HASHES` in ``metadata`` that ``tensor_hash`` contradicts.

    Args:
        metadata: a safetensors file's header metadata (or the part of it a catalog row keeps).
        tensor_hash: the sha256 of the file's tensor data; None (a pickle, a folder) checks nothing.

    Returns:
        One :class:`HashMismatch` per contradicted key, in :data:`EMBEDDED_TENSOR_HASHES` order;
        empty keys are no claim.
    """
    if not tensor_hash:
        return []
    found = []
    for key in EMBEDDED_TENSOR_HASHES:
        claimed = metadata.get(key)
        if not isinstance(claimed, str) or not (value := claimed.strip().lower().removeprefix("0x")):
            continue
        if value != tensor_hash:
            found.append(HashMismatch(key, value, tensor_hash))
    return found
