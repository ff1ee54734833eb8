"""A GGUF checkpoint as probe sees it: city96's ComfyUI-GGUF files hold a denoiser alone, its
tensors named as in the single file without ``model.diffusion_model.`` (ComfyUI-GGUF's loader
strips it, and puts it back when it loads them), quantised tensor by tensor.

probe reads such a file as the single file it was cut from (:func:`as_single_file`), so the
family, its evidence, its claims (``general.architecture`` is one, weighed as a safetensors
file's metadata claims are: :mod:`.base_evidence`) and the layer inventory come from the same
rules as any checkpoint's; :func:`describe_gguf` then adds what is the GGUF's own: its format and
its quantisation types as the dtype. Nothing is dequantised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from loradex.adapters.io.sources import WeightSource

from .artifact import ArtifactInfo

if TYPE_CHECKING:
    import torch

__all__ = ["DENOISER_PREFIX", "as_single_file", "describe_gguf", "quant_types"]

#: The denoiser's prefix in a single-file checkpoint (ComfyUI's and the LDM/SGM layouts alike).
DENOISER_PREFIX = "model.diffusion_model."


class _Prefixed(WeightSource):
    """``src`` with every key under ``prefix``: a denoiser-only file as its single file names it."""

    def __init__(self, src: WeightSource, prefix: str) -> None:
        super().__init__(src.path, src.metadata, src.files)
        self.container, self.safety = src.container, src.safety
        self._src, self._prefix = src, prefix
        self._keys = {prefix + key: key for key in src.keys()}

    def keys(self) -> list[str]:
        return list(self._keys)

    def _key_set(self) -> Mapping[str, str]:
        return self._keys

    def _inner(self, key: str) -> str:
        try:
            return self._keys[key]
        except KeyError:
            raise self._missing(key) from None

    def shape(self, key: str) -> tuple[int, ...]:
        return self._src.shape(self._inner(key))

    def dtype(self, key: str) -> str:
        return self._src.dtype(self._inner(key))

    def get(self, key: str) -> torch.Tensor:
        return self._src.get(self._inner(key))

    @property
    def bytes_read(self) -> int:
        return self._src.bytes_read


def as_single_file(src: WeightSource) -> WeightSource:
    """A GGUF's tensors named as in a single-file checkpoint: under ``model.diffusion_model.``
    unless the file already names them so."""
    if any(key.startswith(DENOISER_PREFIX) for key in src.keys()):
        return src
    return _Prefixed(src, DENOISER_PREFIX)


def quant_types(src: WeightSource) -> str:
    """The GGML types the tensors are stored in, most parameters first (``"Q8_0, F32"``)."""
    params: Counter[str] = Counter()
    for key in src.keys():
        count = 1
        for dim in src.shape(key):
            count *= dim
        params[src.dtype(key)] += count
    return ", ".join(qtype for qtype, _ in params.most_common())


def describe_gguf(info: ArtifactInfo, src: WeightSource) -> ArtifactInfo:
    """``info`` (probed through :func:`as_single_file`) as the GGUF it is."""
    info.format = "gguf"
    info.dtype = quant_types(src) or None
    return info
