"""Real GGUF files for tests, written by the ``gguf`` package's own GGUFWriter, as city96's
ComfyUI-GGUF convert script writes them: the denoiser alone, named without
``model.diffusion_model.``, matrices quantised, 1-D tensors kept F32."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import gguf
import numpy as np
from safetensors.torch import load_file

DENOISER_PREFIX = "model.diffusion_model."
Q8_0 = gguf.GGMLQuantizationType.Q8_0


def write_gguf(
    path: Path,
    tensors: Mapping[str, tuple[np.ndarray, gguf.GGMLQuantizationType]],
    *,
    arch: str | None = "sdxl",
    metadata: Mapping[str, object] | None = None,
) -> Path:
    """``tensors`` (name → float32 values in torch's shape, GGML type) as a GGUF file at ``path``;
    ``arch`` as ``general.architecture`` (None: no key), ``metadata`` added as GGUFWriter types them."""
    writer = gguf.GGUFWriter(
        path, arch=arch or ""
    )  # an empty one is left out, as stable-diffusion.cpp's files have none
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for key, value in (metadata or {}).items():
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, list):
            writer.add_array(key, value)
        else:
            writer.add_uint32(key, int(value))  # type: ignore[call-overload]
    for name, (values, qtype) in tensors.items():
        writer.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def quant_type(values: np.ndarray) -> gguf.GGMLQuantizationType:
    """What ComfyUI-GGUF's convert keeps each tensor as at Q8_0: 1-D and convolution weights F32 or
    F16, matrices whose rows are whole blocks Q8_0."""
    if values.ndim == 1:
        return gguf.GGMLQuantizationType.F32
    if values.ndim == 2 and values.shape[1] % 32 == 0:
        return Q8_0
    return gguf.GGMLQuantizationType.F16


def denoiser_gguf(single_file: Path, out: Path, arch: str | None) -> Path:
    """The denoiser of a single-file checkpoint as ComfyUI-GGUF converts it."""
    tensors = {
        key.removeprefix(DENOISER_PREFIX): tensor.float().numpy()
        for key, tensor in load_file(single_file).items()
        if key.startswith(DENOISER_PREFIX)
    }
    return write_gguf(out, {name: (values, quant_type(values)) for name, values in tensors.items()}, arch=arch)
