"""The remembered sha256 of big bases: reused while the file is unchanged, never after."""

from __future__ import annotations

import hashlib
import os

from loradex.adapters.hashing import cached_sha256


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
