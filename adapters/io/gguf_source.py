""":class:`GGUFSource`: a GGUF file (city96's ComfyUI-GGUF quantised denoisers) as a
:class:`~.sources.WeightSource`.

Keys, shapes, GGML types and metadata come from the header alone (:mod:`.gguf_header`);
a tensor is read, and dequantised by the ``gguf`` package when it is stored in blocks, only
when asked for, one at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.vocabulary import Safety

from .gguf_header import read_gguf_header
from .header import DTYPE_SIZES, TensorInfo
from .reader import TensorFile
from .sources import TensorFileSource

if TYPE_CHECKING:
    import torch

__all__ = ["GGUFSource"]


class GGUFSource(TensorFileSource):
    """A GGUF file, read lazily. :meth:`dtype` is the GGML type's name (``Q8_0``, ``Q4_K`` …;
    ``F32``, ``F16``, ``BF16`` and the integer types are also safetensors' codes); :meth:`get` of a
    quantised tensor returns it dequantised to float32."""

    container = "gguf"
    safety = Safety.GGUF

    def __init__(self, path: Path) -> None:
        header = read_gguf_header(path)
        super().__init__(path, dict(header.metadata), TensorFile(path, header.tensors, header.data_offset))

    def get(self, key: str) -> torch.Tensor:
        import torch

        info = self._file.info(key)
        if info.dtype in DTYPE_SIZES:  # stored as plain values
            return self._file.get(key)
        return torch.from_numpy(self._dequantised(info, self._file.read_raw(key))).reshape(info.shape)

    def _dequantised(self, info: TensorInfo, raw: bytearray) -> Any:
        import numpy as np
        from gguf.constants import GGMLQuantizationType
        from gguf.quants import dequantize

        qtype = GGMLQuantizationType[info.dtype]
        try:
            return dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype(np.float32, copy=False)
        except NotImplementedError:
            raise UnsupportedError(
                f"tensor {info.name!r} is {info.dtype}, which this gguf package cannot dequantise", path=self.path
            ) from None
