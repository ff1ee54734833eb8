"""Reading GGUF files (city96's ComfyUI-GGUF quantised denoisers): the header within bounds, checked
against the ``gguf`` package's own GGUFReader; tensors read one at a time, quantised ones
dequantised as the package dequantises them; every malformation one line naming the file."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from loradex.adapters.errors import CorruptFileError, UnsupportedError
from loradex.adapters.io.gguf_header import read_gguf_header
from loradex.adapters.io.weights import open_weights, sniff_container
from tests.support.gguf_files import Q8_0, write_gguf

F16, F32, BF16 = gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.BF16


def _values(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture
def sample(tmp_path) -> Path:
    return write_gguf(
        tmp_path / "sample.gguf",
        {
            "blocks.0.q.weight": (_values(64, 96), Q8_0),
            "blocks.0.q.bias": (_values(64, seed=1), F32),
            "blocks.0.conv.weight": (_values(8, 4, 3, 3, seed=2), F16),
            "blocks.0.k.weight": (_values(16, 32, seed=3), BF16),
        },
        metadata={"general.name": "tiny", "comfy.gguf.orig_shape.blocks.0.q.bias": [4, 16], "tokens": list(range(100))},
    )


def test_the_header_lists_what_gguf_reader_reads_with_torch_shapes(sample):
    header = read_gguf_header(sample)
    reader = gguf.GGUFReader(sample)
    assert list(header.tensors) == [t.name for t in reader.tensors]
    for t in reader.tensors:
        ours = header.tensors[t.name]
        assert (ours.dtype, ours.start, ours.nbytes) == (t.tensor_type.name, t.data_offset, t.n_bytes)
        if t.name != "blocks.0.q.bias":
            assert ours.shape == tuple(reversed(t.shape.tolist()))
    assert header.data_offset == reader.data_offset


def test_comfyui_ggufs_recorded_original_shape_is_the_tensors_shape(sample):
    with open_weights(sample) as src:
        assert src.shape("blocks.0.q.bias") == (4, 16)
        assert torch.equal(src.get("blocks.0.q.bias"), torch.from_numpy(_values(64, seed=1)).reshape(4, 16))


def test_metadata_is_text_and_long_arrays_are_counted_not_copied(sample):
    with open_weights(sample) as src:
        assert src.metadata["general.name"] == "tiny"
        assert src.metadata["general.quantization_version"] == "2"
        assert src.metadata["comfy.gguf.orig_shape.blocks.0.q.bias"] == "[4, 16]"
        assert src.metadata["tokens"] == "<100 int32 values>"


def test_plain_tensors_read_as_stored_and_the_dtype_is_the_ggml_type(sample):
    with open_weights(sample) as src:
        assert (src.container, src.safety) == ("gguf", "gguf")
        assert {k: src.dtype(k) for k in src.keys()} == {
            "blocks.0.q.weight": "Q8_0",
            "blocks.0.q.bias": "F32",
            "blocks.0.conv.weight": "F16",
            "blocks.0.k.weight": "BF16",
        }
        conv = src.get("blocks.0.conv.weight")
        assert conv.dtype == torch.float16 and torch.equal(conv, torch.from_numpy(_values(8, 4, 3, 3, seed=2)).half())
        k = src.get("blocks.0.k.weight")
        assert k.dtype == torch.bfloat16 and torch.equal(k, torch.from_numpy(_values(16, 32, seed=3)).bfloat16())


def test_a_quantised_tensor_reads_dequantised_to_float32_as_gguf_dequantises_it(sample):
    quantised = gguf.quants.quantize(_values(64, 96), Q8_0)
    with open_weights(sample) as src:
        got = src.get("blocks.0.q.weight")
    assert got.dtype == torch.float32 and got.shape == (64, 96)
    assert torch.equal(got, torch.from_numpy(gguf.quants.dequantize(quantised, Q8_0)))
    torch.testing.assert_close(got, torch.from_numpy(_values(64, 96)), atol=0.05, rtol=0.02)  # Q8_0's error


def test_opening_reads_the_header_only_and_each_get_its_tensor(sample):
    header = read_gguf_header(sample)
    with open_weights(sample) as src:
        assert src.bytes_read == header.data_offset
        src.get("blocks.0.k.weight")
        assert src.bytes_read == header.data_offset + header.tensors["blocks.0.k.weight"].nbytes


def test_a_gguf_is_recognised_by_its_magic_whatever_its_name(sample, tmp_path):
    renamed = tmp_path / "unet.bin"
    renamed.write_bytes(sample.read_bytes())
    assert sniff_container(renamed) == "gguf"
    with open_weights(renamed) as src:
        assert src.container == "gguf" and len(src) == 4


def _one_line(exc: pytest.ExceptionInfo, path: Path) -> str:
    message = str(exc.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_a_gguf_cut_anywhere_is_one_corrupt_file_error(sample, tmp_path):
    raw = sample.read_bytes()
    cut = tmp_path / "cut.gguf"
    ends = [*range(0, read_gguf_header(sample).data_offset + 8), len(raw) // 2, len(raw) - 1]
    for end in ends:
        cut.write_bytes(raw[:end])
        with pytest.raises(CorruptFileError) as caught:
            open_weights(cut)
        _one_line(caught, cut)


def _header(version: int = 3, tensors: int = 0, kvs: int = 1) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def _key(name: str) -> bytes:
    return struct.pack("<Q", len(name)) + name.encode()


_MALFORMED = [
    (b"GGUS" + bytes(20), "not a GGUF file"),
    (_header(kvs=2**62), "declares 4611686018427387904 metadata entries"),
    # An array that claims more elements than the file holds: gguf.GGUFReader loops over them.
    (_header() + _key("k") + struct.pack("<IIQ", 9, 0, 2**62), "elements in 'k'"),
    (_header() + _key("k") + struct.pack("<I", 99), "unknown value type 99"),
    (_header() + _key("k") + struct.pack("<IQ", 8, 2) + b"\xff\xfe", "not UTF-8"),
    (_header(kvs=2) + (_key("k") + struct.pack("<IB", 0, 1)) * 2, "'k' occurs twice"),
    (_header(tensors=1, kvs=0) + _key("t") + struct.pack("<I", 5) + bytes(64), "5 dimensions"),
    (_header(tensors=1, kvs=0) + _key("t") + struct.pack("<IQIQ", 1, 33, 8, 0), "whole Q8_0 blocks"),
    (_header(tensors=1, kvs=0) + _key("t") + struct.pack("<IQIQ", 1, 1 << 40, 0, 0), "tensor 't' ends at byte"),
    (_header(tensors=1, kvs=0) + _key("t") + struct.pack("<IQIQ", 1, 4, 0, 3), "not 32-aligned"),
    (_header(tensors=2, kvs=0) + (_key("t") + struct.pack("<IQIQ", 1, 4, 0, 0)) * 2 + bytes(64), "occurs twice"),
    (_header() + _key("general.alignment") + struct.pack("<II", 4, 3), "not a power of two"),
]


@pytest.mark.parametrize(("body", "words"), _MALFORMED, ids=[words for _, words in _MALFORMED])
def test_a_malformed_header_is_one_corrupt_file_error_at_once(tmp_path, body, words):
    path = tmp_path / "bad.gguf"
    path.write_bytes(body)
    started = time.perf_counter()
    with pytest.raises(CorruptFileError) as caught:
        open_weights(path)
    assert words in _one_line(caught, path)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("version", "words"), [(1, "GGUF version 1"), (int.from_bytes((3).to_bytes(4, "big"), "little"), "big-endian")]
)
def test_a_gguf_loradex_does_not_read_is_unsupported_in_one_line(tmp_path, version, words):
    path = tmp_path / "old.gguf"
    path.write_bytes(_header(version, kvs=0))
    with pytest.raises(UnsupportedError) as caught:
        open_weights(path)
    assert words in _one_line(caught, path)
