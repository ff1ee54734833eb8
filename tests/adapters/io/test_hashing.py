"""Hashing: the hashes Civitai and the other tools answer to, from one read of each file; the
remembered sha256 of big bases (reused while the file is unchanged, never after), and the
sha256 a file would have with other metadata."""

from __future__ import annotations

import hashlib
import os
import zlib

import torch
from blake3 import blake3
from safetensors.torch import save_file

import loradex.adapters.io.hashing as hashing
from loradex.adapters.io.hashing import CHUNK_SIZE, cached_sha256, hash_file, sha256_file, sha256_with_metadata
from loradex.adapters.io.writer import save_tensors

# More than two read chunks of tensor data, so that every hasher sees chunk boundaries.
_BIG = {"w": torch.arange((2 * CHUNK_SIZE + 12345) // 2, dtype=torch.int16), "b": torch.ones(7)}


def _tensor_bytes(path) -> bytes:
    data = path.read_bytes()
    return data[8 + int.from_bytes(data[:8], "little") :]


def test_autov3_is_the_sha256_of_the_bytes_after_the_safetensors_header(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file(_BIG, path, {"ss_output_name": "big"})
    got = hash_file(path)
    assert got.autov3 == hashlib.sha256(_tensor_bytes(path)).hexdigest()[:12]
    assert got.autov3 == got.tensor_hash[:12]


def test_autov3_survives_a_rewritten_header_that_changes_the_sha256(tmp_path):
    tensors = {"down": torch.randn(4, 32), "up": torch.randn(32, 4)}
    save_file(tensors, tmp_path / "downloaded.safetensors", {"ss_output_name": "cat"})
    # A tool rewrites the metadata, as a manager's "edit metadata" does.
    save_file(tensors, tmp_path / "edited.safetensors", {"ss_output_name": "cat, retagged", "note": "mine"})
    downloaded, edited = hash_file(tmp_path / "downloaded.safetensors"), hash_file(tmp_path / "edited.safetensors")
    assert downloaded.sha256 != edited.sha256 and downloaded.blake3 != edited.blake3
    assert downloaded.autov3 == edited.autov3 is not None


def test_blake3_and_crc32_equal_the_libraries_one_shot_values(tmp_path):
    path = tmp_path / "big.safetensors"
    save_file(_BIG, path)
    data = path.read_bytes()
    got = hash_file(path)
    assert got.blake3 == blake3(data).hexdigest()
    assert got.crc32 == f"{zlib.crc32(data):08x}"
    assert got.sha256 == hashlib.sha256(data).hexdigest() and got.autov2 == got.sha256[:10]


def test_a_big_file_hashed_in_threads_has_the_hashes_of_one_thread(tmp_path, monkeypatch):
    path = tmp_path / "big.safetensors"
    save_file(_BIG, path, {"ss_output_name": "big"})
    serial = hash_file(path)
    monkeypatch.setattr(hashing, "PARALLEL_FROM", 0)  # this file now counts as big
    assert hash_file(path) == serial
    data = path.read_bytes()
    assert serial.crc32 == f"{zlib.crc32(data):08x}" and serial.blake3 == blake3(data).hexdigest()


def test_a_file_that_is_not_safetensors_has_no_autov3_but_every_other_hash(tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"PK\x03\x04 not a safetensors header" * 100)
    got = hash_file(path)
    assert (got.autov3, got.tensor_hash) == (None, None)
    assert got.blake3 == blake3(path.read_bytes()).hexdigest() and len(got.crc32) == 8


def test_a_folder_hashes_its_files_blake3_and_crc32_as_it_hashes_their_sha256(tmp_path):
    folder = tmp_path / "peft"
    folder.mkdir()
    save_file({"w": torch.ones(3)}, folder / "adapter_model.safetensors")
    (folder / "adapter_config.json").write_text('{"r": 4}')
    files = {name: hash_file(folder / name) for name in ("adapter_config.json", "adapter_model.safetensors")}
    lines = "".join(f"{name}\t{{}}\n" for name in files)
    got = hash_file(folder)
    assert got.sha256 == hashlib.sha256(lines.format(*(h.sha256 for h in files.values())).encode()).hexdigest()
    assert got.blake3 == blake3(lines.format(*(h.blake3 for h in files.values())).encode()).hexdigest()
    assert got.crc32 == f"{zlib.crc32(lines.format(*(h.crc32 for h in files.values())).encode()):08x}"
    assert got.autov3 is None  # Civitai's AutoV3 is defined for a safetensors file only


def test_every_hash_comes_from_one_read_of_each_byte(tmp_path, monkeypatch):
    path = tmp_path / "big.safetensors"
    save_file(_BIG, path)
    reads: list[int] = []
    real = hashing.open_regular

    class Counted:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def readinto(self, buf):
            n = self.f.readinto(buf)
            reads[-1] += n
            return n

    def opened(*args, **kwargs):
        reads.append(0)
        return Counted(real(*args, **kwargs))

    monkeypatch.setattr(hashing, "open_regular", opened)
    got = hash_file(path)
    assert reads == [path.stat().st_size]
    assert got.autov3 and got.blake3 and got.crc32 and got.sha256


def test_a_cached_sha256_is_reused_until_the_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "base.safetensors"
    path.write_bytes(b"one")
    assert cached_sha256(path) == hashlib.sha256(b"one").hexdigest()
    assert (tmp_path / "cache" / "loradex" / "sha256.json").exists()
    path.write_bytes(b"two!")
    assert cached_sha256(path) == hashlib.sha256(b"two!").hexdigest()


def test_a_same_size_rewrite_with_a_new_mtime_is_rehashed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "base.safetensors"
    path.write_bytes(b"aaaa")
    cached_sha256(path)
    path.write_bytes(b"bbbb")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert cached_sha256(path) == hashlib.sha256(b"bbbb").hexdigest()


def test_sha256_with_other_metadata_equals_the_sha256_of_that_file(tmp_path):
    tensors = {"b": torch.arange(6.0).reshape(2, 3), "a": torch.ones(5, dtype=torch.float16)}
    save_tensors(tmp_path / "one.safetensors", tensors, {"k": "short"})
    save_tensors(tmp_path / "two.safetensors", tensors, {"k": "a much longer value", "x": "y"})
    assert sha256_with_metadata(tmp_path / "one.safetensors", {"k": "a much longer value", "x": "y"}) == sha256_file(
        tmp_path / "two.safetensors"
    )
    assert (
        sha256_with_metadata(tmp_path / "one.safetensors", {"k": "short"})
        == hashlib.sha256((tmp_path / "one.safetensors").read_bytes()).hexdigest()
    )
