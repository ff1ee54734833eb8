""":class:`GGUFSource`: a GGUF file (city96's ComfyUI-GGUF quantised denoisers) as a
:class:`~.sources.WeightSource`.

Keys, shapes, GGML types and metadata come from the header alone (:mod:`.gguf_header`);
a tensor is read, and dequantised by the ``gguf`` package when it is stored in blocks, only
when asked for, one at a time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.errors import ArtifactNotFoundError, UnsupportedError
from loradex.adapters.vocabulary import Safety

from .gguf_header import GGUFTensor, read_gguf_header
from .header import DTYPE_SIZES
from .opening import open_regular_fd
from .reader import pread_exactly
from .sources import WeightSource
from .torch_dtypes import torch_dtype

if TYPE_CHECKING:
    import torch

__all__ = ["GGUFSource"]


class GGUFSource(WeightSource):
    """A GGUF file, read lazily. :meth:`dtype` is the GGML type's name (``Q8_0``, ``Q4_K`` …;
    ``F32``, ``F16``, ``BF16`` and the integer types are also safetensors' codes); :meth:`get` of a
    quantised tensor returns it dequantised to float32."""

    container = "gguf"
    safety = Safety.GGUF

    def __init__(self, path: Path) -> None:
        header = read_gguf_header(path)
        super().__init__(path, dict(header.metadata), [path])
        self._tensors = header.tensors
        self._bytes_read = header.data_offset
        self._fd: int | None = None

    def keys(self) -> list[str]:
        return list(self._tensors)

    def _key_set(self) -> dict[str, GGUFTensor]:
        return self._tensors

    def _info(self, key: str) -> GGUFTensor:
        try:
            return self._tensors[key]
        except KeyError:
            raise self._missing(key) from None

    def shape(self, key: str) -> tuple[int, ...]:
        return self._info(key).shape

    def dtype(self, key: str) -> str:
        return self._info(key).qtype

    def get(self, key: str) -> torch.Tensor:
        import torch

        info = self._info(key)
        raw = self._read(info)
        if info.qtype in DTYPE_SIZES:  # stored as plain values
            dtype = torch_dtype(info.qtype)
            return (torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)).reshape(info.shape)
        return torch.from_numpy(self._dequantised(info, raw)).reshape(info.shape)

    def _dequantised(self, info: GGUFTensor, raw: bytearray) -> Any:
        import numpy as np
        from gguf.constants import GGMLQuantizationType
        from gguf.quants import dequantize

        qtype = GGMLQuantizationType[info.qtype]
        try:
            return dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype(np.float32, copy=False)
        except NotImplementedError:
            raise UnsupportedError(
                f"tensor {info.name!r} is {info.qtype}, which this gguf package cannot dequantise", path=self.path
            ) from None

    def _read(self, info: GGUFTensor) -> bytearray:
        buf = bytearray(info.nbytes)
        pread_exactly(self._open_fd(), buf, info.start, self.path)
        self._bytes_read += len(buf)
        return buf

    def _open_fd(self) -> int:
        if self._fd is None:
            try:
                self._fd = open_regular_fd(self.path)
            except ArtifactNotFoundError:
                raise ArtifactNotFoundError("file disappeared after it was opened", path=self.path) from None
        return self._fd

    @property
    def bytes_read(self) -> int:
        return self._bytes_read

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
