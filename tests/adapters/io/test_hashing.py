"""Hashing: the remembered sha256 of big bases (reused while the file is unchanged, never
after), and the sha256 a file would have with other metadata."""

from __future__ import annotations

import hashlib
import os

import torch

from loradex.adapters.io.hashing import cached_sha256, sha256_file, sha256_with_metadata
from loradex.adapters.io.writer import save_tensors


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
