"""Helpers shared by the reading and writing tests: hand-made safetensors bytes, sample tensors, checks."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch


def raw_safetensors(header: object, data: bytes = b"", *, header_bytes: bytes | None = None) -> bytes:
    """Bytes of a safetensors file with an arbitrary (possibly invalid) header."""
    blob = header_bytes if header_bytes is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + data


def entry(dtype: str, shape: list, offsets: list) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets}


def sample_tensors() -> dict[str, torch.Tensor]:
    """One tensor per interesting dtype, plus a scalar and a zero-size tensor."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(3, 4, generator=g)
    return {
        "f32": base,
        "f16": base.half(),
        "bf16": base.bfloat16(),
        "f64": base.double(),
        "i64": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "i32": torch.arange(5, dtype=torch.int32),
        "i16": torch.arange(-3, 3, dtype=torch.int16),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "f8_e4m3": base.to(torch.float8_e4m3fn),
        "f8_e5m2": base.to(torch.float8_e5m2),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 7, dtype=torch.float16),
    }


CODES = {
    "f32": "F32", "f16": "F16", "bf16": "BF16", "f64": "F64", "i64": "I64", "i32": "I32",
    "i16": "I16", "i8": "I8", "u8": "U8", "bool": "BOOL", "f8_e4m3": "F8_E4M3",
    "f8_e5m2": "F8_E5M2", "scalar": "F32", "empty": "F16",
}  # fmt: skip


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-exact equality, also for dtypes torch.equal does not implement (fp8)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    as_bytes = [t.contiguous().reshape(-1).view(torch.uint8) for t in (a, b)]
    return torch.equal(*as_bytes)


def assert_one_line_naming(exc: BaseException, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text, text
    assert path.name in text, text


class Evil:
    """Pickles to a call of os.system: loading it unsafely would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())
