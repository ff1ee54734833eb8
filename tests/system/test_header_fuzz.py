"""A seeded fuzz of safetensors headers and ``__metadata__`` through probe and scan.

Thousands of mutations of one small, valid kohya LoRA (byte flips, truncations, wrong length
fields, wrong types, deep nesting, lone surrogates, huge numbers, broken metadata) go through
``probe`` in-process, each under a time bound: every failure must be a ``LoradexError`` (one line
naming the file), never an internal error or a hang. A few hundred of them are then scanned as
one folder: the scan finishes with a row for each and no message of an unexpected exception.

Left out on purpose, owned by the header number/depth bounds work (issue 18, point 11): integers
of more than 4300 digits (``int`` refuses to parse them, a ``ValueError`` the JSON decoder does
not wrap) and JSON nested in metadata *strings* (``ss_tag_frequency`` 100k deep, ``1e999``).
"""

from __future__ import annotations

import copy
import json
import random
import re
import struct
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from sqlmodel import select

from loradex.adapters import probe
from loradex.registry.services.scan import scan
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact
from tests.support.fuzz import Mutation, probe_failures, write_mutants

SEED = 18
CASES = 3000
SCANNED = 300
PROBE_SECONDS = 10  # one probe of a 20 KB file (~3 ms); far above what any case takes

_STEM = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_"
_METADATA = {
    "ss_base_model_version": "sd_v1",
    "ss_network_dim": "4",
    "ss_network_alpha": "2",
    "modelspec.trigger_phrase": "a cat",
    "modelspec.architecture": "stable-diffusion-v1/lora",
    "ss_tag_frequency": json.dumps({"1_cats": {"cat": 3, "sitting": 1}}),
    "ss_training_comment": "fuzz",
}


def _seed_file(folder: Path) -> tuple[dict[str, Any], bytes]:
    """A valid kohya LoRA (two SD1 attention layers with alphas): its header and data section."""
    g = torch.Generator().manual_seed(SEED)
    tensors = {}
    for proj in ("k", "v"):
        tensors[f"{_STEM}{proj}.lora_down.weight"] = torch.randn(4, 768, generator=g).half()
        tensors[f"{_STEM}{proj}.lora_up.weight"] = torch.randn(320, 4, generator=g).half()
        tensors[f"{_STEM}{proj}.alpha"] = torch.tensor(2.0).half()
    path = folder / "seed.safetensors"
    save_file(tensors, str(path), _METADATA)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _encode(header: Any, data: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + data


# -- mutations: each takes (rng, header, data) and returns a file's bytes -----------------------

_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    1e308,
    float("inf"),
    float("nan"),
    "",
    "x",
    "F32",
    [],
    {},
    [1],
    [-1, 2],
    [0, 0, 0],
    {"a": 1},
    [None],
    ["1"],
    2**64,
    -(2**63),
    10**300,
    10**4000,
]


def _tensor_names(header: dict[str, Any]) -> list[str]:
    return [k for k in header if k != "__metadata__"]


def flip_bytes(rng: random.Random, header: dict, data: bytes) -> bytes:
    raw = bytearray(_encode(header, data))
    n = struct.unpack("<Q", raw[:8])[0]
    for _ in range(rng.randint(1, 6)):
        raw[8 + rng.randrange(n)] = rng.randrange(256)
    return bytes(raw)


def truncate(rng: random.Random, header: dict, data: bytes) -> bytes:
    raw = _encode(header, data)
    return raw[: rng.randrange(len(raw))]


def wrong_length(rng: random.Random, header: dict, data: bytes) -> bytes:
    raw = _encode(header, data)
    n = struct.unpack("<Q", raw[:8])[0]
    length = rng.choice([0, 1, 2, n - 1, n + 1, n + 7, len(raw), 100_000_001, 2**63, 2**64 - 1, rng.randrange(2**64)])
    return struct.pack("<Q", length) + raw[8:]


def wrong_type(rng: random.Random, header: dict, data: bytes) -> bytes:
    header = copy.deepcopy(header)
    where = rng.choice(["entry", "field", "field", "field", "metadata", "metadata_value", "root"])
    name = rng.choice(_tensor_names(header))
    value = rng.choice(_VALUES[:-1])  # no 4300+-digit integers: point 11's bound, see the module doc
    if where == "entry":
        header[name] = value
    elif where == "field":
        header[name][rng.choice(["dtype", "shape", "data_offsets"])] = value
    elif where == "metadata":
        header["__metadata__"] = value
    elif where == "metadata_value":
        header["__metadata__"][rng.choice(list(_METADATA))] = value
    else:
        return _encode(value, data)
    return _encode(header, data)


def huge_number(rng: random.Random, header: dict, data: bytes) -> bytes:
    header = copy.deepcopy(header)
    entry = header[rng.choice(_tensor_names(header))]
    number = rng.choice([2**31, 2**63, 2**64, 2**64 + 1, 10**20, 10**300, 10**4000 - 1, -(10**20), 1e308, 1e-300])
    number = number if not isinstance(number, int) or len(str(number)) <= 4300 else 10**4299
    field = rng.choice(["shape", "data_offsets"])
    entry[field][rng.randrange(len(entry[field]) or 1) if entry[field] else 0 :] = [number]
    return _encode(header, data)


def deep_nesting(rng: random.Random, header: dict, data: bytes) -> bytes:
    depth = rng.choice([10, 100, 1000, 5000, 50_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    nested = opener * depth + "1" + closer * depth
    where = rng.choice(["entry_extra", "metadata", "root"])
    if where == "root":
        blob = nested.encode()
    else:
        text = json.dumps(header)
        target = f'"{_tensor_names(header)[0]}": {{' if where == "entry_extra" else '"__metadata__": {'
        blob = text.replace(target, target + f'"deep": {nested}, ', 1).encode()
    return struct.pack("<Q", len(blob)) + blob + data


def surrogate(rng: random.Random, header: dict, data: bytes) -> bytes:
    text = json.dumps(header)
    escape = rng.choice(["\\ud800", "\\udfff", "\\udc80", "\\ud83d", "\\ud83d\\ude00", "\\u0000", "\\u001b[2J"])
    keys = [*_tensor_names(header), *_METADATA, *_METADATA.values()]
    target = json.dumps(rng.choice(keys))[1:-1]
    blob = text.replace(target, target[: len(target) // 2] + escape + target[len(target) // 2 :], 1).encode()
    return struct.pack("<Q", len(blob)) + blob + data


def metadata_strings(rng: random.Random, header: dict, data: bytes) -> bytes:
    """The strings inside ``__metadata__`` that probe reads as numbers or JSON, made wrong."""
    header = copy.deepcopy(header)
    key = rng.choice(
        [
            "ss_network_dim",
            "ss_network_alpha",
            "ss_tag_frequency",
            "ss_base_model_version",
            "modelspec.trigger_phrase",
            "modelspec.architecture",
        ]
    )
    header["__metadata__"][key] = rng.choice(
        [
            "",
            "nan",
            "inf",
            "-1",
            "1e308",
            "0x10",
            "9" * 400,
            "[]",
            "{}",
            "null",
            "[1, 2]",
            '{"a": 1}',
            '{"a": {"b": "c"}}',
            '{"a": {"b": -5}}',
            '{"a": {"b": 1.5}}',
            '{"a": [1]}',
            '{"a"',
            "\x00" * 10,
            "\x1b]0;TITLE\x07",
            "x" * 100_000,
            '{"a": {"' + "t" * 5000 + '": 1}}',
        ]
    )
    return _encode(header, data)


def rename_tensor(rng: random.Random, header: dict, data: bytes) -> bytes:
    header = copy.deepcopy(header)
    name = rng.choice(_tensor_names(header))
    new = rng.choice(
        [
            "",
            "__metadata__",
            ".",
            "lora_unet_.alpha",
            name.replace("lora_down", "lora_up"),
            name + ".alpha",
            "a" * 10_000,
            "lora_te_text_model_encoder_layers_99_mlp_fc1.lora_down.weight",
            name.replace("attn2_to_", "attn2_to_out_0_"),
        ]
    )
    entry = header.pop(name)
    header[new] = entry
    return _encode(header, data)


def flip_data(rng: random.Random, header: dict, data: bytes) -> bytes:
    """Tensor bytes changed (alphas become NaN, inf, huge, negative)."""
    raw = bytearray(_encode(header, data))
    for _ in range(rng.randint(1, 8)):
        raw[rng.randrange(len(raw) - len(data), len(raw))] = rng.choice([0x00, 0x7C, 0x7E, 0xFC, 0xFF])
    return bytes(raw)


MUTATIONS: list[Mutation] = [
    flip_bytes,
    truncate,
    wrong_length,
    wrong_type,
    huge_number,
    deep_nesting,
    surrogate,
    metadata_strings,
    rename_tensor,
    flip_data,
]


# -- the test ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mutants(tmp_path_factory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("fuzz")
    header, data = _seed_file(folder)
    # Untimed: the first probe builds the SD1 layer map (imports diffusers, fills the cache, which
    # the tests' redirected user folders start without): seconds that are no case's fault.
    assert probe(folder / "seed.safetensors").kind == "lora"
    return write_mutants(folder, MUTATIONS, header, data, rng=random.Random(SEED), cases=CASES, suffix=".safetensors")


def test_probe_of_mutated_headers_raises_only_loradex_errors_in_time(mutants):
    failures = probe_failures(mutants, seconds=PROBE_SECONDS)
    assert not failures, f"{len(failures)} of {len(mutants)} failed:\n" + "\n".join(failures[:30])


def test_a_scan_of_a_folder_of_mutated_headers_finishes_with_a_row_each(mutants, engine, tmp_path):
    folder = tmp_path / "mutants"
    folder.mkdir()
    chosen = random.Random(SEED).sample(mutants, SCANNED)  # every kind of mutation
    for _, path in chosen:
        (folder / path.name).symlink_to(path)  # the scan follows file symlinks
    began = time.monotonic()
    report = scan([folder], engine=engine)
    assert time.monotonic() - began < 120
    unexpected = [
        m for _, m in report.errors if re.match(rf"{re.escape(str(folder))}/[^:]+: [A-Za-z]+(Error|Exception): ", m)
    ]
    assert not unexpected, unexpected[:10]
    with open_session(engine) as s:
        paths = set(s.exec(select(Artifact.path)))
    assert paths == {str(folder / p.name) for _, p in chosen}
