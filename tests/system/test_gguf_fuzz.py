"""A seeded fuzz of GGUF headers through probe, as ``test_header_fuzz.py`` does for safetensors.

Mutations of one small, valid GGUF denoiser file (byte flips in the header, cuts anywhere, a
length or count field replaced by a huge or small number, a type code replaced, tensor data
cut short) go through ``probe`` in-process, each under a time bound: every failure must be a
``LoradexError`` (one line naming the file), never an internal error or a hang. GGUF's lengths
are binary, so a wrong one asks for up to 2⁶⁴ elements: exactly what must be refused before
any loop or allocation.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pytest

from loradex.adapters import probe
from loradex.adapters.io.gguf_header import read_gguf_header
from tests.support.fuzz import Mutation, probe_failures, write_mutants
from tests.support.gguf_files import Q8_0, write_gguf

SEED = 20
CASES = 1200
PROBE_SECONDS = 10


def _seed_file(folder: Path) -> tuple[bytes, int]:
    """A valid GGUF (a quantised matrix, an F32 bias, an F16 conv; long and short metadata arrays):
    its bytes and where its data section starts."""
    import gguf

    rng = np.random.default_rng(SEED)
    path = write_gguf(
        folder / "seed.gguf",
        {
            "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (
                rng.standard_normal((32, 768)).astype(np.float32),
                Q8_0,
            ),
            "input_blocks.1.1.proj_in.bias": (
                rng.standard_normal(32).astype(np.float32),
                gguf.GGMLQuantizationType.F32,
            ),
            "input_blocks.1.0.in_layers.2.weight": (
                rng.standard_normal((8, 4, 3, 3)).astype(np.float32),
                gguf.GGMLQuantizationType.F16,
            ),
        },
        arch="sd1",
        metadata={"general.name": "fuzz", "tokens": [str(i) for i in range(80)], "shape": [32, 768]},
    )
    return path.read_bytes(), read_gguf_header(path).data_offset


def flip_bytes(rng: random.Random, raw: bytes, header: int) -> bytes:
    out = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        out[rng.randrange(header)] = rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, raw: bytes, header: int) -> bytes:
    return raw[: rng.choice([rng.randrange(header), rng.randrange(len(raw))])]


def huge_number(rng: random.Random, raw: bytes, header: int) -> bytes:
    """Some 8 header bytes (a length, a count, a dimension or an offset, or across two fields) replaced."""
    where = rng.randrange(4, header - 8)
    number = rng.choice([0, 1, 2**31, 2**32 - 1, 2**62, 2**63, 2**64 - 1, rng.randrange(2**64), len(raw)])
    return raw[:where] + struct.pack("<Q", number) + raw[where + 8 :]


def wrong_code(rng: random.Random, raw: bytes, header: int) -> bytes:
    """Some 4 header bytes (a value type, a GGML type, a dimension count) replaced by a small number."""
    where = rng.randrange(4, header - 4)
    return raw[:where] + struct.pack("<I", rng.choice([0, 1, 4, 5, 8, 9, 12, 13, 30, 99, 2**31])) + raw[where + 4 :]


def cut_data(rng: random.Random, raw: bytes, header: int) -> bytes:
    return raw[: rng.randrange(header, len(raw))]


MUTATIONS: list[Mutation] = [
    flip_bytes,
    truncate,
    huge_number,
    wrong_code,
    cut_data,
]


@pytest.fixture(scope="module")
def mutants(tmp_path_factory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("gguf-fuzz")
    raw, header = _seed_file(folder)
    assert probe(folder / "seed.gguf").base == "sd1"  # untimed: builds the SD1 layer map
    return write_mutants(folder, MUTATIONS, raw, header, rng=random.Random(SEED), cases=CASES, suffix=".gguf")


def test_probe_of_mutated_gguf_headers_raises_only_loradex_errors_in_time(mutants):
    failures = probe_failures(mutants, seconds=PROBE_SECONDS)
    assert not failures, f"{len(failures)} of {len(mutants)} failed:\n" + "\n".join(failures[:30])
