"""safetensors dtype codes <-> torch dtypes.

Apart from the header codec because it is the only part of the table that needs torch; torch
is imported inside each function, so importing this module (as the reader does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.errors import UnsupportedError

if TYPE_CHECKING:
    import torch

__all__ = ["dtype_code", "torch_dtype"]

# Looked up by attribute name because older torch builds lack the fp8 and wide unsigned types;
# a file using them still validates; only building such a tensor (SafetensorsFile.get) refuses.
_TORCH_DTYPE_NAMES: dict[str, str] = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
    "F8_E8M0": "float8_e8m0fnu",
    "I16": "int16",
    "U16": "uint16",
    "F16": "float16",
    "BF16": "bfloat16",
    "I32": "int32",
    "U32": "uint32",
    "F32": "float32",
    "I64": "int64",
    "U64": "uint64",
    "F64": "float64",
    "C64": "complex64",
}


def torch_dtype(code: str) -> torch.dtype:
    """Return the torch dtype for a safetensors dtype code.

    Args:
        code: A safetensors dtype code such as ``"F16"`` or ``"F8_E4M3"``.

    Returns:
        The matching ``torch.dtype``.

    Raises:
        UnsupportedError: The code is unknown, or this torch build has no such dtype.
    """
    import torch

    name = _TORCH_DTYPE_NAMES.get(code)
    dtype = getattr(torch, name, None) if name else None
    if not isinstance(dtype, torch.dtype):
        raise UnsupportedError(f"dtype {code} is not available in torch {torch.__version__}")
    return dtype


def dtype_code(dtype: torch.dtype) -> str:
    """Return the safetensors dtype code for a torch dtype.

    Args:
        dtype: A torch dtype, e.g. ``torch.bfloat16``.

    Returns:
        The code, e.g. ``"BF16"``.

    Raises:
        UnsupportedError: safetensors has no code for this dtype (e.g. quantized types).
    """
    import torch

    for code, name in _TORCH_DTYPE_NAMES.items():
        if getattr(torch, name, None) == dtype:
            return code
    raise UnsupportedError(f"torch dtype {dtype} has no safetensors equivalent")
