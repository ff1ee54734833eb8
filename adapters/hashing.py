"""Content hashes users look up elsewhere, computed in one read of the file.

- sha256 (Civitai, the Hub) and AutoV2 (A1111/Civitai: its first 10 hex digits);
- the kohya/A1111 "addnet" tensor hash: sha256 of the bytes after the safetensors header, so
  editing a file's metadata changes its sha256 but not this;
- the legacy A1111 checkpoint "model hash": first 8 hex of sha256 of 64 KiB at offset 1 MiB.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    autov2: str
    tensor_hash: str | None
    model_hash: str | None


def _safetensors_data_offset(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return None
    (n,) = struct.unpack("<Q", head[:8])
    return 8 + n if 8 + n <= os.path.getsize(path) else None


def hash_file(path: str | os.PathLike[str]) -> FileHashes:
    """All hashes of one file, reading it once in 1 MiB chunks."""
    path = Path(path)
    offset = _safetensors_data_offset(path) if path.suffix == ".safetensors" else None
    whole, tensors = hashlib.sha256(), hashlib.sha256() if offset is not None else None
    legacy = None
    pos = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            whole.update(chunk)
            if tensors is not None and pos + len(chunk) > offset:
                tensors.update(chunk[max(0, offset - pos):])
            if legacy is None and pos <= 0x100000 < pos + len(chunk):
                legacy = bytearray(chunk[0x100000 - pos:])
            elif legacy is not None and len(legacy) < 0x10000:
                legacy += chunk
            pos += len(chunk)
    sha = whole.hexdigest()
    model_hash = hashlib.sha256(bytes(legacy[:0x10000])).hexdigest()[:8] if legacy else None
    return FileHashes(sha, sha[:10], tensors.hexdigest() if tensors is not None else None, model_hash)


def sha256_file(path: str | os.PathLike[str]) -> str:
    return hash_file(path).sha256
