"""The safe readers: SafetensorsFile's strict validation and lazy reads, and open_weights on
pickles, single files and folders."""

from __future__ import annotations

import json
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from loradex.adapters.errors import (
    ArtifactNotFoundError,
    CorruptFileError,
    LoradexError,
    RefusedFileError,
    TensorNotFoundError,
    UnsupportedError,
)
from loradex.adapters.io.reader import SafetensorsFile
from loradex.adapters.io.weights import open_weights, sniff_container
from loradex.adapters.io.writer import save_tensors
from tests.support.io_helpers import (
    Evil,
    assert_one_line_naming,
    entry,
    raw_safetensors,
    same,
    sample_tensors,
)

# --------------------------------------------------------------------------------------------
# SafetensorsFile: strict validation
# --------------------------------------------------------------------------------------------

MALFORMED: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty file": (lambda: b"", "empty file"),
    "shorter than 8 bytes": (lambda: b"\x01\x02\x03", "too short"),
    "header length beyond file": (lambda: struct.pack("<Q", 1000) + b"{}", "exceeds the file size"),
    "header not utf-8": (lambda: raw_safetensors(None, header_bytes=b'{"\xff\xfe":1}'), "UTF-8"),
    "header not json": (lambda: raw_safetensors(None, header_bytes=b"not json"), "not valid JSON"),
    "header not an object": (lambda: raw_safetensors([1, 2]), "not a JSON object"),
    "duplicate tensor name": (
        lambda: raw_safetensors(None, header_bytes=b'{"a":{},"a":{}}'),
        "repeats the key",
    ),
    "metadata not str to str": (
        lambda: raw_safetensors({"__metadata__": {"k": 1}}),
        "__metadata__",
    ),
    "entry not an object": (lambda: raw_safetensors({"a": [1]}), "not an object"),
    "entry missing shape": (
        lambda: raw_safetensors({"a": {"dtype": "F32", "data_offsets": [0, 4]}}, b"\0" * 4),
        "missing 'shape'",
    ),
    "unknown dtype": (
        lambda: raw_safetensors({"a": entry("F33", [1], [0, 4])}, b"\0" * 4),
        "unknown dtype",
    ),
    "negative dimension": (
        lambda: raw_safetensors({"a": entry("F32", [-1], [0, 4])}, b"\0" * 4),
        "shape must be",
    ),
    "shape not a list": (
        lambda: raw_safetensors({"a": entry("F32", "4", [0, 4])}, b"\0" * 4),
        "shape must be",
    ),
    "offsets not a pair": (
        lambda: raw_safetensors({"a": entry("F32", [1], [4])}, b"\0" * 4),
        "data_offsets must be",
    ),
    "offsets reversed": (
        lambda: raw_safetensors({"a": entry("F32", [1], [4, 0])}, b"\0" * 4),
        "data_offsets must be",
    ),
    "offsets disagree with shape and dtype": (
        lambda: raw_safetensors({"a": entry("F32", [2], [0, 4])}, b"\0" * 4),
        "needs 8",
    ),
    "offsets beyond end of file": (
        lambda: raw_safetensors({"a": entry("F32", [1], [0, 4]), "b": entry("F32", [1], [100, 104])}, b"\0" * 4),
        "beyond the end of the file",
    ),
    "overlapping tensors": (
        lambda: raw_safetensors({"a": entry("F32", [2], [0, 8]), "b": entry("F32", [1], [4, 8])}, b"\0" * 8),
        "overlaps",
    ),
    "gap between tensors": (
        lambda: raw_safetensors({"a": entry("F32", [1], [0, 4]), "b": entry("F32", [1], [8, 12])}, b"\0" * 12),
        "gap",
    ),
    "truncated data section": (
        lambda: raw_safetensors({"a": entry("F32", [4], [0, 16])}, b"\0" * 10),
        "truncated data section",
    ),
    "trailing bytes after data": (
        lambda: raw_safetensors({"a": entry("F32", [1], [0, 4])}, b"\0" * 9),
        "unexpected bytes",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_safetensors_raise_corrupt_file_error_with_one_line_naming_the_file(
    tmp_path: Path, case: str
) -> None:
    build, phrase = MALFORMED[case]
    path = tmp_path / "broken.safetensors"
    path.write_bytes(build())
    with pytest.raises(CorruptFileError) as info:
        SafetensorsFile(path)
    assert_one_line_naming(info.value, path)
    assert phrase in str(info.value)


def test_a_valid_file_cut_short_is_reported_as_truncated(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    save_file({"w": torch.ones(64)}, str(good))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(CorruptFileError, match="truncated") as info:
        SafetensorsFile(cut)
    assert_one_line_naming(info.value, cut)


def test_missing_file_raises_artifact_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    with pytest.raises(ArtifactNotFoundError) as info:
        SafetensorsFile(path)
    assert_one_line_naming(info.value, path)


def test_unknown_key_raises_a_key_error_naming_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "one.safetensors"
    save_file({"a": torch.ones(1)}, str(path))
    with SafetensorsFile(path) as f, pytest.raises(TensorNotFoundError) as info:
        f.get("missing.weight")
    assert isinstance(info.value, LoradexError) and isinstance(info.value, KeyError)
    assert_one_line_naming(info.value, path)
    assert "missing.weight" in str(info.value)


# --------------------------------------------------------------------------------------------
# SafetensorsFile: reading
# --------------------------------------------------------------------------------------------


def test_files_written_by_the_safetensors_library_read_back_identically(tmp_path: Path) -> None:
    tensors = sample_tensors()
    path = tmp_path / "lib.safetensors"
    save_file(tensors, str(path), metadata={"ss_network_dim": "8", "note": "héllo"})
    with SafetensorsFile(path) as f:
        assert f.metadata == {"ss_network_dim": "8", "note": "héllo"}
        assert set(f.keys()) == set(tensors)
        for name, expected in tensors.items():
            assert same(f.get(name), expected), name
            assert f.info(name).shape == tuple(expected.shape)


def test_bytes_read_counts_the_header_plus_only_the_tensors_requested(tmp_path: Path) -> None:
    path = tmp_path / "three.safetensors"
    save_file({"a": torch.ones(100), "b": torch.ones(1000), "c": torch.ones(10)}, str(path))
    with SafetensorsFile(path) as f:
        assert f.bytes_read == f.header_size == f.data_offset
        f.get("c")
        assert f.bytes_read == f.header_size + 40
        f.read_raw("a")
        assert f.bytes_read == f.header_size + 40 + 400
    assert f.header_size + 4 * 1110 == path.stat().st_size


def test_tensors_are_listed_in_file_offset_order_with_absolute_offsets(tmp_path: Path) -> None:
    path = tmp_path / "order.safetensors"
    save_tensors(path, {"z": torch.ones(2), "a": torch.ones(3)})
    with SafetensorsFile(path) as f:
        infos = list(f.tensors.values())
        assert [i.start for i in infos] == sorted(i.start for i in infos)
        assert infos[0].start == f.header_size
        for info in infos:
            assert f.read_raw(info.name) == path.read_bytes()[info.start : info.end]
            assert info.nbytes == info.numel * 4


def test_metadata_is_empty_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "nometa.safetensors"
    save_file({"a": torch.ones(1)}, str(path))
    assert SafetensorsFile(path).metadata == {}


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.int64,
        torch.int32,
        torch.uint8,
        torch.bool,
        torch.float8_e4m3fn,
    ],
    ids=lambda d: str(d).removeprefix("torch."),
)
def test_scalar_decodes_a_one_element_tensor_like_torch(tmp_path: Path, dtype: torch.dtype) -> None:
    value = torch.tensor(0.1, dtype=torch.float32).to(dtype)  # an alpha, rounded to the dtype
    save_file({"alpha": value, "alpha1": value.reshape(1).clone()}, str(tmp_path / "a.safetensors"))
    with SafetensorsFile(tmp_path / "a.safetensors") as f:
        assert f.scalar("alpha") == f.scalar("alpha1") == float(value.float())


def test_scalar_refuses_a_tensor_of_several_values(tmp_path: Path) -> None:
    save_file({"alpha": torch.ones(2)}, str(tmp_path / "a.safetensors"))
    with SafetensorsFile(tmp_path / "a.safetensors") as f, pytest.raises(UnsupportedError, match="2 values"):
        f.scalar("alpha")


# --------------------------------------------------------------------------------------------
# open_weights: pickles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, dump",
    [
        ("evil.pt", lambda obj, p: torch.save(obj, p)),
        ("evil.ckpt", lambda obj, p: torch.save(obj, p, _use_new_zipfile_serialization=False)),
        ("evil.bin", lambda obj, p: p.write_bytes(pickle.dumps(obj, protocol=2))),
        ("evil5.bin", lambda obj, p: p.write_bytes(pickle.dumps(obj, protocol=5))),
    ],
    ids=["torch zip", "torch legacy", "pickle protocol 2", "pickle protocol 5"],
)
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(
    tmp_path: Path, filename: str, dump: Callable
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / filename
    dump({"weight": torch.ones(2), "payload": Evil(marker)}, path)
    with pytest.raises(RefusedFileError) as info:
        open_weights(path)
    assert_one_line_naming(info.value, path)
    assert "code execution" in str(info.value)
    assert not marker.exists()


def test_an_a1111_embedding_loads_flattened_with_metadata(tmp_path: Path) -> None:
    vectors = torch.randn(2, 768)
    path = tmp_path / "x.pt"
    torch.save(
        {"string_to_token": {"*": 265}, "string_to_param": {"*": vectors}, "name": "x", "step": 10},
        path,
    )
    with open_weights(path) as src:
        assert src.keys() == ["string_to_param.*"]
        assert torch.equal(src.get("string_to_param.*"), vectors)
        assert src.shape("string_to_param.*") == (2, 768)
        assert src.dtype("string_to_param.*") == "F32"
        assert src.metadata == {"string_to_token.*": "265", "name": "x", "step": "10"}
        assert (src.container, src.safety) == ("pickle", "pickle-safe")
        assert src.bytes_read == path.stat().st_size
        assert src.files == [path]


def test_non_string_keys_and_lists_flatten_to_dotted_keys(tmp_path: Path) -> None:
    path = tmp_path / "hyper.pt"
    torch.save({768: [torch.ones(1), torch.zeros(1)], "name": "h"}, path)
    with open_weights(path) as src:
        assert src.keys() == ["768.0", "768.1"]
        assert src.metadata == {"name": "h"}


def test_a_lone_tensor_gets_the_key_tensor(tmp_path: Path) -> None:
    path = tmp_path / "lone.pth"
    torch.save(torch.arange(3), path)
    with open_weights(path) as src:
        assert src.keys() == ["tensor"]
        assert src.dtype("tensor") == "I64"


@pytest.mark.parametrize(
    "filename, content",
    [
        ("cut.pt", None),
        ("garbage.bin", b"this is not a checkpoint at all"),
        ("empty.ckpt", b""),
    ],
    ids=["truncated zip", "garbage", "empty"],
)
def test_broken_pickles_raise_corrupt_file_error(tmp_path: Path, filename: str, content: bytes | None) -> None:
    path = tmp_path / filename
    if content is None:
        torch.save({"a": torch.ones(100)}, path)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(CorruptFileError) as info:
        open_weights(path)
    assert_one_line_naming(info.value, path)


# --------------------------------------------------------------------------------------------
# open_weights: single files
# --------------------------------------------------------------------------------------------


def test_safetensors_source_is_lazy_and_reports_header_shapes_and_dtypes(tmp_path: Path) -> None:
    path = tmp_path / "lora.safetensors"
    tensors = {"down": torch.ones(4, 8, dtype=torch.float16), "up": torch.ones(8, 4)}
    save_file(tensors, str(path), {"a": "b"})
    with open_weights(path) as src:
        header_only = src.bytes_read
        assert (src.shape("down"), src.dtype("down")) == ((4, 8), "F16")
        assert src.bytes_read == header_only
        assert torch.equal(src.get("up"), torch.ones(8, 4))
        assert src.bytes_read == header_only + 8 * 4 * 4
        assert (src.container, src.safety) == ("safetensors", "safetensors")
        assert src.metadata == {"a": "b"}
        assert "down" in src and "nope" not in src


def test_unknown_extension_is_opened_when_it_sniffs_as_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "weights.data"
    save_file({"a": torch.ones(1)}, str(path))
    with open_weights(path) as src:
        assert src.keys() == ["a"]


def test_unknown_extension_that_is_not_safetensors_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(UnsupportedError) as info:
        open_weights(path)
    assert_one_line_naming(info.value, path)


def test_a_pickle_disguised_as_safetensors_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "fake.safetensors"
    torch.save({"a": torch.ones(1)}, path)
    with pytest.raises(CorruptFileError, match="pickle"):
        open_weights(path)


def test_missing_path_raises_artifact_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError):
        open_weights(tmp_path / "ghost.safetensors")


@pytest.mark.parametrize(
    "kind, write",
    [
        ("safetensors", lambda p: save_file({"a": torch.ones(1)}, str(p))),
        ("pickle-zip", lambda p: torch.save({"a": torch.ones(1)}, p)),
        ("pickle-legacy", lambda p: torch.save({"a": 1}, p, _use_new_zipfile_serialization=False)),
        (None, lambda p: p.write_bytes(b"GIF89a....")),
        (None, lambda p: p.write_bytes(b"")),
    ],
    ids=["safetensors", "zip", "legacy", "other", "empty"],
)
def test_sniff_container_recognises_formats_by_magic_bytes(tmp_path: Path, kind: str | None, write: Callable) -> None:
    path = tmp_path / "file.weird"
    write(path)
    assert sniff_container(path) == kind


# --------------------------------------------------------------------------------------------
# open_weights: folders
# --------------------------------------------------------------------------------------------


def make_diffusers_folder(root: Path) -> None:
    (root / "unet").mkdir(parents=True)
    (root / "text_encoder").mkdir()
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / "model_index.json").write_text("{}")
    save_file(
        {"conv_in.weight": torch.ones(2)},
        str(root / "unet" / "diffusion_pytorch_model.safetensors"),
    )
    save_file(
        {"conv_in.weight": torch.ones(2, dtype=torch.float16), "only_in_fp16": torch.ones(1)},
        str(root / "unet" / "diffusion_pytorch_model.fp16.safetensors"),
    )
    save_file({"embeddings.weight": torch.ones(3)}, str(root / "text_encoder" / "model.safetensors"))
    torch.save({"embeddings.weight": torch.zeros(3)}, root / "text_encoder" / "pytorch_model.bin")
    save_file({"stale": torch.ones(1)}, str(root / ".cache" / "huggingface" / "x.safetensors"))


def test_diffusers_folder_prefixes_keys_by_subfolder_and_prefers_plain_safetensors(
    tmp_path: Path,
) -> None:
    make_diffusers_folder(tmp_path)
    with open_weights(tmp_path) as src:
        assert sorted(src.keys()) == ["text_encoder.embeddings.weight", "unet.conv_in.weight"]
        assert src.dtype("unet.conv_in.weight") == "F32"
        assert torch.equal(src.get("text_encoder.embeddings.weight"), torch.ones(3))
        assert sorted(p.relative_to(tmp_path).as_posix() for p in src.files) == [
            "text_encoder/model.safetensors",
            "unet/diffusion_pytorch_model.safetensors",
        ]
        assert (src.container, src.safety) == ("safetensors", "safetensors")


def test_a_variant_is_used_when_no_plain_file_exists(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    save_file(
        {"w": torch.ones(1, dtype=torch.float16)},
        str(tmp_path / "unet" / "diffusion_pytorch_model.fp16.safetensors"),
    )
    with open_weights(tmp_path) as src:
        assert src.keys() == ["unet.w"] and src.dtype("unet.w") == "F16"


def test_top_level_files_keep_their_keys_and_their_metadata_wins(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    save_file({"a": torch.ones(1)}, str(tmp_path / "lora.safetensors"), {"who": "top"})
    save_file({"b": torch.ones(1)}, str(tmp_path / "sub" / "extra.safetensors"), {"who": "sub", "x": "1"})
    with open_weights(tmp_path) as src:
        assert sorted(src.keys()) == ["a", "sub.b"]
        assert src.metadata == {"who": "top", "x": "1"}


def test_sharded_checkpoints_include_every_shard(tmp_path: Path) -> None:
    unet = tmp_path / "unet"
    unet.mkdir()
    names = [f"diffusion_pytorch_model-0000{i}-of-00002.safetensors" for i in (1, 2)]
    save_file({"a": torch.ones(1)}, str(unet / names[0]))
    save_file({"b": torch.ones(1)}, str(unet / names[1]))
    index = {"metadata": {}, "weight_map": {"a": names[0], "b": names[1]}}
    (unet / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    with open_weights(tmp_path) as src:
        assert sorted(src.keys()) == ["unet.a", "unet.b"]
    (unet / names[1]).unlink()
    with pytest.raises(CorruptFileError, match="missing"):
        open_weights(tmp_path)


def test_a_folder_of_pickles_is_marked_pickle_safe(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(1)}, tmp_path / "learned_embeds.bin")
    with open_weights(tmp_path) as src:
        assert src.keys() == ["w"]
        assert (src.container, src.safety) == ("pickle", "pickle-safe")


@pytest.mark.parametrize("contents", [[], ["model_index.json", "README.md"]], ids=["empty", "no weights"])
def test_a_folder_without_weights_raises_artifact_not_found(tmp_path: Path, contents: list[str]) -> None:
    for name in contents:
        (tmp_path / name).write_text("{}")
    with pytest.raises(ArtifactNotFoundError, match="holds no weights") as info:
        open_weights(tmp_path)
    assert_one_line_naming(info.value, tmp_path)
