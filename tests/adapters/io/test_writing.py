"""The writer and atomic outputs: SafetensorsWriter (in line, write-behind, hashing), interrupts,
temps of killed writers, protected inputs, atomic_path."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from loradex.adapters.io.atomic import atomic_path
from loradex.adapters.io.hashing import FileHashes, hash_file
from loradex.adapters.io.reader import SafetensorsFile
from loradex.adapters.io.writer import SafetensorsWriter, save_tensors
from tests.support.io_helpers import CODES, leftovers, same, sample_tensors

# --------------------------------------------------------------------------------------------
# SafetensorsWriter
# --------------------------------------------------------------------------------------------


def test_writer_output_loads_identically_with_the_safetensors_library(tmp_path: Path) -> None:
    tensors = sample_tensors()
    path = tmp_path / "ours.safetensors"
    layout = [(name, CODES[name], tuple(t.shape)) for name, t in tensors.items()]
    with SafetensorsWriter(path, layout, {"format": "pt"}) as writer:
        for name, t in tensors.items():
            writer.write(name, t)
        writer.commit()
    loaded = load_file(str(path))
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert same(loaded[name], t), name
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
        assert same(f.get_tensor("bf16"), tensors["bf16"])
        assert same(f.get_tensor("scalar"), tensors["scalar"])


def test_save_tensors_round_trips_through_both_readers(tmp_path: Path) -> None:
    tensors = sample_tensors()
    tensors["strided"] = torch.arange(12.0).reshape(3, 4).t()  # non-contiguous input
    path = tmp_path / "saved.safetensors"
    save_tensors(path, tensors, {"k": "v"})
    loaded = load_file(str(path))
    with SafetensorsFile(path) as ours:
        for name, t in tensors.items():
            assert same(loaded[name], t.contiguous()), name
            assert same(ours.get(name), t.contiguous()), name
        assert ours.metadata == {"k": "v"}


def test_header_is_space_padded_to_a_multiple_of_8(tmp_path: Path) -> None:
    path = tmp_path / "pad.safetensors"
    save_tensors(path, {"abc": torch.ones(1)}, {"x": "y"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    assert raw[8:9] == b"{"
    text = raw[8 : 8 + n].decode()
    assert text.rstrip(" ").endswith("}") and json.loads(text)["__metadata__"] == {"x": "y"}


def test_write_raw_copies_bytes_unchanged(tmp_path: Path) -> None:
    src = tmp_path / "src.safetensors"
    save_file({"a": torch.randn(5).bfloat16()}, str(src))
    dst = tmp_path / "dst.safetensors"
    with SafetensorsFile(src) as f, SafetensorsWriter(dst, [("a", "BF16", (5,))]) as w:
        w.write_raw("a", f.read_raw("a"))
        w.commit()
    assert same(load_file(str(dst))["a"], load_file(str(src))["a"])


@pytest.mark.parametrize(
    "name, tensor, phrase",
    [
        ("b", torch.ones(2), "expected tensor 'a' next"),
        ("a", torch.ones(2, dtype=torch.float16), "declares F32"),
        ("a", torch.ones(3), "declares shape"),
    ],
    ids=["out of order", "wrong dtype", "wrong shape"],
)
def test_writer_rejects_tensors_that_do_not_match_the_layout(
    tmp_path: Path, name: str, tensor: torch.Tensor, phrase: str
) -> None:
    layout = [("a", "F32", (2,)), ("b", "F32", (2,))]
    with SafetensorsWriter(tmp_path / "o.safetensors", layout) as w:
        with pytest.raises(ValueError, match=phrase):
            w.write(name, tensor)


def write_mixed(path: Path, source: Path, write_behind: int, hashes: bool = False) -> FileHashes | None:
    """Every way of appending a tensor through one writer; returns its hashes (with ``hashes``)."""
    layout = [("a", "F32", (64,)), ("b", "F16", (3, 5)), ("c", "BF16", (5,)), ("d", "F32", (4,))]
    with (
        SafetensorsFile(source) as src,
        SafetensorsWriter(path, layout, {"h": "1" * 8}, write_behind=write_behind, hashes=hashes) as w,
    ):
        w.write("a", torch.arange(64.0))
        w.write("b", torch.ones(3, 5, dtype=torch.float16))
        w.copy_from("c", src.fileno(), src.info("c").start)
        w.write_raw("d", torch.arange(4.0).numpy().tobytes())
        w.commit()
    return w.hashes


def test_write_behind_writes_the_same_bytes_as_writing_in_line(tmp_path: Path) -> None:
    source = tmp_path / "src.safetensors"
    save_file({"c": torch.randn(5).bfloat16()}, str(source))
    write_mixed(tmp_path / "inline.safetensors", source, write_behind=0)
    # A budget smaller than one tensor: each waits for the last, none is refused.
    write_mixed(tmp_path / "behind.safetensors", source, write_behind=16)
    assert (tmp_path / "behind.safetensors").read_bytes() == (tmp_path / "inline.safetensors").read_bytes()
    assert SafetensorsFile(tmp_path / "behind.safetensors").metadata == {"h": "1" * 8}


@pytest.mark.parametrize("write_behind", [0, 16], ids=["in line", "write-behind"])
def test_a_writer_that_hashes_gives_the_hashes_of_the_file_it_wrote(tmp_path: Path, write_behind: int) -> None:
    source = tmp_path / "src.safetensors"
    save_file({"c": torch.randn(5).bfloat16()}, str(source))
    out = tmp_path / "out.safetensors"
    assert write_mixed(out, source, write_behind=write_behind, hashes=True) == hash_file(out)


def test_a_writer_hashes_a_file_past_the_legacy_model_hash_window(tmp_path: Path) -> None:
    out = tmp_path / "big.safetensors"
    hashes = save_tensors(out, {"w": torch.randn(3, 1 << 19)}, hashes=True)  # 6 MiB: the window at 1 MiB is inside
    assert hashes == hash_file(out) and hashes.model_hash is not None


def test_write_behind_failure_surfaces_in_the_caller_and_removes_the_temp_file(tmp_path: Path) -> None:
    source = tmp_path / "src.safetensors"
    save_file({"c": torch.randn(5).bfloat16()}, str(source))
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 4)  # fewer bytes than tensor "c" needs
    with open(short, "rb") as fh, pytest.raises(ValueError, match="source ended early"):
        with SafetensorsWriter(tmp_path / "o.safetensors", [("c", "BF16", (5,))], write_behind=1 << 20) as w:
            w.copy_from("c", fh.fileno(), 0)
            w.commit()
    assert leftovers(tmp_path) == ["short.bin", "src.safetensors"]


@pytest.mark.parametrize("write_behind", [0, 1 << 20], ids=["in line", "write-behind"])
@pytest.mark.parametrize("interrupt", [RuntimeError("boom"), KeyboardInterrupt()], ids=["exception", "ctrl-c"])
def test_interrupted_write_leaves_no_output_and_no_temp_file(
    tmp_path: Path, interrupt: BaseException, write_behind: int
) -> None:
    path = tmp_path / "out.safetensors"
    with pytest.raises(type(interrupt)):
        with SafetensorsWriter(path, [("a", "F32", (4,)), ("b", "F32", (4,))], write_behind=write_behind) as w:
            w.write("a", torch.ones(4))
            raise interrupt
    assert leftovers(tmp_path) == []


def test_interrupted_write_leaves_an_existing_target_untouched(tmp_path: Path) -> None:
    path = tmp_path / "out.safetensors"
    path.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        with SafetensorsWriter(path, [("a", "F32", (4,))]):
            raise KeyboardInterrupt
    assert path.read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["out.safetensors"]


def test_leaving_the_writer_without_commit_discards_everything(tmp_path: Path) -> None:
    with SafetensorsWriter(tmp_path / "o.safetensors", [("a", "F32", (1,))]) as w:
        w.write("a", torch.ones(1))
    assert leftovers(tmp_path) == []


def test_commit_with_tensors_missing_fails_and_cleans_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="never written"):
        with SafetensorsWriter(tmp_path / "o.safetensors", [("a", "F32", (1,))]) as w:
            w.commit()
    assert leftovers(tmp_path) == []


_KILLED_WRITER = """
import os, signal, sys, torch
from loradex.adapters.io.atomic import atomic_path
from loradex.adapters.io.writer import SafetensorsWriter
target, kind = sys.argv[1], sys.argv[2]
if kind == "folder":
    with atomic_path(target, directory=True) as tmp:
        (tmp / "half.bin").write_bytes(b"x")
        os.kill(os.getpid(), signal.SIGKILL)
with SafetensorsWriter(target, [("a", "F32", (4,)), ("b", "F32", (4,))]) as w:
    w.write("a", torch.ones(4))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def age(path: Path, seconds: float) -> None:
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_the_next_write_removes_a_temp_left_by_a_killed_writer(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out.safetensors"
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target), kind])
    assert proc.returncode == -signal.SIGKILL
    (temp,) = leftovers(tmp_path)
    age(tmp_path / temp, 120)
    save_tensors(target, {"a": torch.ones(1)})
    assert leftovers(tmp_path) == ["out.safetensors"]


def test_a_fresh_unlocked_temp_is_left_alone(tmp_path: Path) -> None:
    # It may belong to a writer that has created it and not locked it yet.
    (tmp_path / ".out.safetensors.abc.tmp").write_bytes(b"")
    save_tensors(tmp_path / "out.safetensors", {"a": torch.ones(1)})
    assert leftovers(tmp_path) == [".out.safetensors.abc.tmp", "out.safetensors"]


def test_a_live_writers_temp_is_never_removed_by_another_writer(tmp_path: Path) -> None:
    target = tmp_path / "out.safetensors"
    with SafetensorsWriter(target, [("a", "F32", (1,))]) as first:
        (temp,) = leftovers(tmp_path)
        age(tmp_path / temp, 120)  # looks abandoned, but is locked
        save_tensors(target, {"a": torch.zeros(1)})
        first.write("a", torch.ones(1))
        first.commit()
    assert leftovers(tmp_path) == ["out.safetensors"]
    assert load_file(str(target))["a"].item() == 1.0


def test_temp_file_is_hidden_beside_the_target_while_writing(tmp_path: Path) -> None:
    with SafetensorsWriter(tmp_path / "o.safetensors", [("a", "F32", (1,))]) as w:
        (temp,) = leftovers(tmp_path)
        assert temp.startswith(".") and temp.endswith(".tmp")
        w.write("a", torch.ones(1))
        w.commit()
    assert leftovers(tmp_path) == ["o.safetensors"]


def test_writer_never_overwrites_a_protected_input(tmp_path: Path) -> None:
    src = tmp_path / "in.safetensors"
    save_file({"a": torch.ones(1)}, str(src))
    before = src.read_bytes()
    sneaky = tmp_path / "sub" / ".." / "in.safetensors"
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="refusing to overwrite"):
        save_tensors(sneaky, {"a": torch.zeros(1)}, protect=[src])
    assert src.read_bytes() == before
    assert leftovers(tmp_path) == ["in.safetensors", "sub"]


# --------------------------------------------------------------------------------------------
# atomic_path
# --------------------------------------------------------------------------------------------


def test_atomic_path_replaces_a_file_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert target.read_text() == "old" and leftovers(tmp_path) == ["config.json"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and leftovers(tmp_path) == ["config.json"]


def test_atomic_path_creates_a_folder_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "a.json").write_text("{}")
            raise KeyboardInterrupt
    assert leftovers(tmp_path) == []
    with atomic_path(target, directory=True) as tmp:
        (tmp / "a.json").write_text("{}")
    assert (target / "a.json").read_text() == "{}"
    assert leftovers(tmp_path) == ["model"]


def test_atomic_path_refuses_to_replace_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        with atomic_path(tmp_path / "model", directory=True):
            pass


def test_written_files_get_the_usual_permissions_not_private_temp_ones(tmp_path):
    from loradex.adapters.io.writer import save_tensors

    out = tmp_path / "out.safetensors"
    save_tensors(out, {"a": torch.zeros(2)})
    assert out.stat().st_mode & 0o044 == 0o044
