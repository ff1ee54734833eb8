"""Writing safetensors headers: planning a layout's offsets, encoding the header with its
metadata, and re-encoding an existing file's header with new metadata. No torch."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .header import DTYPE_SIZES, LENGTH_PREFIX, METADATA_KEY, TensorInfo, is_nonneg_int

__all__ = ["encode_header", "plan_layout", "reencode_header"]


def plan_layout(layout: Sequence[tuple[str, str, tuple[int, ...]]]) -> dict[str, TensorInfo]:
    """Assign contiguous offsets to (name, dtype code, shape) entries, in layout order.

    The offsets are relative to the data section until :func:`encode_header` knows the
    header's size and shifts them.

    Raises:
        ValueError: A name is invalid or repeated, a dtype code unknown, a shape invalid.
    """
    planned: dict[str, TensorInfo] = {}
    cursor = 0
    for entry in layout:
        name, code, shape = entry
        if not isinstance(name, str) or name == METADATA_KEY:
            raise ValueError(f"invalid tensor name {name!r}")
        if name in planned:
            raise ValueError(f"tensor {name!r} appears twice in the layout")
        if code not in DTYPE_SIZES:
            raise ValueError(f"tensor {name!r}: unknown dtype code {code!r}")
        shape = tuple(shape)
        if not all(is_nonneg_int(d) for d in shape):
            raise ValueError(f"tensor {name!r}: invalid shape {list(shape)}")
        size = math.prod(shape) * DTYPE_SIZES[code]
        planned[name] = TensorInfo(name, code, shape, cursor, cursor + size)
        cursor += size
    return planned


def encode_header(planned: dict[str, TensorInfo], metadata: Mapping[str, str] | None) -> bytes:
    """The header, length prefix included, of ``planned`` (from :func:`plan_layout`) with
    ``metadata``; shifts the planned offsets to absolute ones, in place.

    Raises:
        ValueError: ``metadata`` does not map str to str.
    """
    metadata = _check_metadata(metadata)
    header: dict[str, Any] = {}
    if metadata is not None:
        header[METADATA_KEY] = metadata
    for info in planned.values():
        header[info.name] = {
            "dtype": info.dtype,
            "shape": list(info.shape),
            "data_offsets": [info.start, info.end],
        }
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # The spec pads with spaces to a multiple of 8 so the data section starts aligned.
    raw += b" " * (-len(raw) % 8)
    blob = LENGTH_PREFIX.pack(len(raw)) + raw
    for name, info in planned.items():
        planned[name] = TensorInfo(name, info.dtype, info.shape, info.start + len(blob), info.end + len(blob))
    return blob


def reencode_header(tensors: dict[str, TensorInfo], header_size: int, metadata: Mapping[str, str] | None) -> bytes:
    """The header for the same tensors (absolute offsets after a ``header_size``-byte header)
    with ``metadata`` instead: same order, offsets shifted to the new header's end.

    Raises:
        ValueError: ``metadata`` does not map str to str.
    """
    relative = {
        n: TensorInfo(n, i.dtype, i.shape, i.start - header_size, i.end - header_size) for n, i in tensors.items()
    }
    return encode_header(relative, metadata)


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
    if bad:
        raise ValueError(f"metadata must map str to str; offending key {bad[0]!r}")
    return dict(metadata)
