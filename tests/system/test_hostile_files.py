"""Hostile files on disk: each bad path is one error row (or one error line), never a stopped
scan, a hang or an internal error. Real files in tmp_path: lone surrogates in headers, symlink
loops, folder chains deeper than the recursion limit, FIFOs, unreadable files, hostile pickles."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import pickle
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from sqlmodel import select

from loradex.adapters.errors import CorruptFileError, RefusedFileError
from loradex.adapters.io.header import read_header
from loradex.adapters.io.pickle_globals import stream_globals, unsafe_globals
from loradex.adapters.io.weights import open_weights
from loradex.adapters.jsonable import jsonable
from loradex.registry.services.discovery import discover
from loradex.registry.services.scan import scan
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, ScanRoot
from tests.support.io_helpers import entry, raw_safetensors
from tests.support.ops_cli import cli, one_error_line


def _lora(path: Path, seed: int = 0) -> Path:
    g = torch.Generator().manual_seed(seed)
    save_file(
        {
            "lora_unet_x.lora_down.weight": torch.randn(2, 4, generator=g),
            "lora_unet_x.lora_up.weight": torch.randn(4, 2, generator=g),
        },
        str(path),
    )
    return path


def _surrogate_files(folder: Path) -> list[Path]:
    """A tensor name and a metadata value with a lone surrogate: valid JSON, invalid UTF-8."""
    data = bytes(4)
    name = folder / "name.safetensors"
    name.write_bytes(
        raw_safetensors(
            None, data, header_bytes=('{"bad\\ud800": ' + json.dumps(entry("F32", [1], [0, 4])) + "}").encode()
        )
    )
    meta = folder / "meta.safetensors"
    meta.write_bytes(
        raw_safetensors(
            None,
            data,
            header_bytes=(
                '{"__metadata__": {"ss_tag": "x\\udfff"}, "t": ' + json.dumps(entry("F32", [1], [0, 4])) + "}"
            ).encode(),
        )
    )
    return [name, meta]


def _rows(engine) -> dict[str, Artifact]:
    with open_session(engine) as s:
        return {a.path: a for a in s.exec(select(Artifact))}


def test_lone_surrogate_in_a_header_is_refused_as_corrupt(tmp_path):
    for path in _surrogate_files(tmp_path):
        with pytest.raises(CorruptFileError, match="surrogate") as info:
            read_header(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    pair = tmp_path / "pair.safetensors"  # an escaped surrogate *pair* is one valid character
    pair.write_bytes(
        raw_safetensors(
            None,
            bytes(4),
            header_bytes=('{"ok\\ud83d\\ude00": ' + json.dumps(entry("F32", [1], [0, 4])) + "}").encode(),
        )
    )
    assert list(read_header(pair)[2]) == ["ok\U0001f600"]


def test_scan_records_each_bad_path_as_one_error_row_and_finishes(engine, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    bad = _surrogate_files(root)
    (root / "a.safetensors").symlink_to(root / "b.safetensors")  # a file-symlink loop
    (root / "b.safetensors").symlink_to(root / "a.safetensors")
    _mkdir_chain(root / "deep", sys.getrecursionlimit() + 50)
    good = [_lora(root / f"good{i}.safetensors", i) for i in range(3)]
    in_deep = _lora(_deepest(root / "deep") / "deep.safetensors", 9)
    try:
        report = scan([root], engine=engine, batch_size=2)
        again = scan([root], engine=engine, batch_size=2)  # a rescan finishes too
    finally:
        in_deep.unlink()
        _rmdir_chain(root / "deep")  # shutil.rmtree (pytest's cleanup) recurses too

    rows = _rows(engine)
    errors = {p: r.error for p, r in rows.items() if r.status == "error"}
    assert set(errors) == {str(p) for p in bad} | {str(root / "a.safetensors"), str(root / "b.safetensors")}
    assert all("\n" not in e and p in e for p, e in errors.items())
    assert [rows[str(p)].error for p in [*good, in_deep]] == [None] * 4
    assert len(report.errors) == 4 and again.unchanged == len(rows)  # unchanged, as every row


def _mkdir_chain(top: Path, depth: int) -> None:
    # Iteratively: os.makedirs recurses, and this chain is deeper than the recursion limit.
    path = top
    for _ in range(depth):
        path.mkdir()
        path = path / "d"


def _deepest(top: Path) -> Path:
    path = top
    while (path / "d").is_dir():
        path = path / "d"
    return path


def _rmdir_chain(top: Path) -> None:
    path = _deepest(top)
    while path != top.parent:
        path.rmdir()
        path = path.parent


# ---------------------------------------------------------------------------------------
# Non-regular files: never opened (a FIFO's open() waits for a writer forever)


def _loradex(*args: object, code: int = 1) -> str:
    """Run the CLI in a fresh process, bounded in time (a regression fails instead of hanging);
    its one error line."""
    run = subprocess.run(
        [sys.executable, "-m", "loradex.tui.cli", *map(str, args)], capture_output=True, text=True, timeout=90
    )
    assert run.returncode == code, run.stderr
    if code == 0:
        return ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal" not in lines[0], run.stderr
    return lines[0]


@pytest.mark.parametrize("command", ["probe", "inspect", "bake --base", "rebuild"])
def test_a_fifo_is_refused_at_once_never_opened(zoo, tmp_path, command):
    fifo = tmp_path / "x.safetensors"
    if command == "rebuild":  # a recipe whose input is now a FIFO
        lora = Path(shutil.copy2(zoo["sd1-kohya-lora"].path, fifo))
        _loradex("mix", f"{lora}:0.5", "-o", tmp_path / "out.safetensors", code=0)
        lora.unlink()
        args: tuple[object, ...] = ("rebuild", tmp_path / "out.safetensors")
    elif command == "bake --base":
        args = ("bake", "--base", fifo, f"{zoo['sd1-kohya-lora'].path}:0.5", "-o", tmp_path / "out.safetensors")
    else:
        args = (command, fifo)
    os.mkfifo(fifo)
    line = _loradex(*args)
    assert str(fifo) in line and "not a regular file (a FIFO)" in line, line


def test_scan_records_a_fifo_as_an_error_row_without_opening_it(engine, tmp_path):
    os.mkfifo(tmp_path / "x.safetensors")
    good = _lora(tmp_path / "good.safetensors")
    report = scan([tmp_path], engine=engine)
    assert [p for p, _ in report.errors] == [str(tmp_path / "x.safetensors")]
    assert [f.error is not None for f in discover([tmp_path / "x.safetensors"])] == [True]  # a FIFO as the root
    rows = _rows(engine)
    assert "not a regular file (a FIFO)" in rows[str(tmp_path / "x.safetensors")].error
    assert rows[str(good)].error is None


# ---------------------------------------------------------------------------------------
# Files the OS refuses to open


@contextlib.contextmanager
def _as_nobody():
    """Run the body with the effective uid of ``nobody`` (root reads any file whatever its mode,
    so that is the only way to make the OS refuse); the real uid stays root to switch back."""
    if os.geteuid() != 0:
        yield
        return
    try:
        nobody = pwd.getpwnam("nobody").pw_uid
    except KeyError:
        pytest.skip("running as root and there is no user 'nobody' to be refused as")
    os.seteuid(nobody)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def open_folder(tmp_path_factory, zoo, monkeypatch):
    """A world-searchable folder (tmp_path's parents are root's alone) holding a readable LoRA;
    the data folder points there too, as the CLI looks for a default catalog."""
    folder = Path(tempfile.mkdtemp(prefix="loradex-refused-"))
    folder.chmod(0o755)
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "xdg"))
    shutil.copy2(zoo["sd1-kohya-lora"].path, folder / "ok.safetensors")
    yield folder
    shutil.rmtree(folder)


def test_probe_of_a_file_the_os_refuses_to_open_is_one_error_line(open_folder):
    ok = open_folder / "ok.safetensors"
    shut = Path(shutil.copy2(ok, open_folder / "shut.safetensors"))
    shut.chmod(0)
    hidden = open_folder / "private"  # a folder it may not search: stat() itself is refused
    hidden.mkdir(mode=0o700)
    inside = Path(shutil.copy2(ok, hidden / "in.safetensors"))
    assert cli("probe", ok).exit_code == 0  # every module probe needs is imported while root
    with _as_nobody():
        for path in (shut, inside):
            line = one_error_line(cli("probe", path), str(path), "cannot open", "Permission denied")
            assert "internal" not in line
    beyond = ok / "x.safetensors"  # a file on the way: NotADirectoryError
    one_error_line(cli("probe", beyond), str(beyond), "no such file")


# ---------------------------------------------------------------------------------------
# Concurrent scans

_SCAN_AT = """
import sys, time
from pathlib import Path
from loradex.registry.store.db import open_catalog
from loradex.registry.services.scan import scan
engine = open_catalog(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # start together, imports done
report = scan([Path(sys.argv[2])], engine=engine, batch_size=16)
print(report.added + report.updated + report.unchanged + report.moved, len(report.errors))
"""


def test_two_scans_that_start_together_on_a_new_root_both_finish_with_every_row(tmp_path):
    from loradex.registry.store.db import open_catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    open_catalog(url).dispose()  # the catalog exists; each round's root is new to it
    for round_ in range(3):
        root = tmp_path / f"root{round_}"
        root.mkdir()
        for i in range(60):
            save_file({"t": torch.full((4,), float(i + 100 * round_))}, str(root / f"f{i:03}.safetensors"))
        at = str(time.time() + 4)
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", _SCAN_AT, url, str(root), at],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = [run.communicate(timeout=120) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], [err for _, err in outs]
        assert [out.split() for out, _ in outs] == [["60", "0"], ["60", "0"]]
        engine = open_catalog(url)
        with open_session(engine) as s:
            paths = [a.path for a in s.exec(select(Artifact).where(Artifact.path.startswith(str(root))))]
            roots = [r.path for r in s.exec(select(ScanRoot).where(ScanRoot.path == str(root)))]
        engine.dispose()
        assert sorted(paths) == [str(root / f"f{i:03}.safetensors") for i in range(60)] and roots == [str(root)]


# ---------------------------------------------------------------------------------------
# Pickles: every member of a torch zip is vetted, refused rows say so

#: ``os.system("id")`` as protocol 2 writes it (GLOBAL opcode), hand-made: never unpickled here.
_OS_SYSTEM = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def _ckpt_with_a_hidden_member(path: Path) -> Path:
    """A valid torch zip checkpoint plus a member torch never reads, which would call os.system."""
    torch.save({"state_dict": {"w": torch.ones(2)}}, path)
    with zipfile.ZipFile(path, "a") as archive:
        prefix = archive.namelist()[0].split("/")[0]
        archive.writestr(f"{prefix}/extra.pkl", _OS_SYSTEM)
    return path


def test_a_torch_zip_with_a_hostile_unreferenced_member_is_refused_naming_the_global(tmp_path):
    path = _ckpt_with_a_hidden_member(tmp_path / "evil.ckpt")
    with pytest.raises(RefusedFileError) as info:
        open_weights(path)
    assert str(path) in str(info.value) and "extra.pkl: os.system" in str(info.value)
    assert "code execution" in str(info.value)
    plain = tmp_path / "plain.ckpt"  # the same checkpoint without the member loads
    torch.save({"state_dict": {"w": torch.ones(2)}}, plain)
    with open_weights(plain) as src:
        assert src.keys() == ["w"] and src.safety == "pickle-safe"


def test_pickle_globals_are_read_as_picklescan_reads_them():
    stream = pickle.dumps(collections.OrderedDict(), protocol=4) + b""
    assert list(stream_globals(io.BytesIO(stream))) == ["collections.OrderedDict"]  # STACK_GLOBAL + memo
    assert list(stream_globals(io.BytesIO(_OS_SYSTEM))) == ["os.system"]  # GLOBAL
    assert unsafe_globals(
        [
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2",
            "torch.FloatStorage",
            "os.system",
            "builtins.eval",
        ]
    ) == ["os.system", "builtins.eval"]


def test_a_refused_pickle_is_recorded_pickle_refused_and_counted(engine, tmp_path):
    evil = _ckpt_with_a_hidden_member(tmp_path / "evil.ckpt")
    torch.save({"w": torch.ones(2)}, tmp_path / "fine.pt")
    (tmp_path / "broken.safetensors").write_bytes(b"garbage")
    report = scan([tmp_path], engine=engine)
    rows = _rows(engine)
    assert rows[str(evil)].status == "error" and rows[str(evil)].safety == "pickle-refused"
    assert rows[str(tmp_path / "broken.safetensors")].safety == "unknown"  # nothing read could say
    assert rows[str(tmp_path / "fine.pt")].safety == "pickle-safe"
    assert report.refused == 1 and jsonable(report)["refused"] == 1 and len(report.errors) == 2


def test_a_file_name_that_is_not_utf8_is_reported_and_the_scan_finishes(engine, tmp_path):
    good = _lora(tmp_path / "good.safetensors")
    os.link(good, os.fsencode(tmp_path) + b"/bad\xff.safetensors")  # no catalog can store this name
    report = scan([tmp_path], engine=engine)
    assert list(_rows(engine)) == [str(good)]
    assert [m for _, m in report.errors] == [
        f"{tmp_path}/bad\\xff.safetensors: file name is not valid UTF-8; rename it to catalog it"
    ]
    json.dumps(jsonable(report))  # --json can print it


def test_nul_characters_in_a_files_strings_are_stored_as_replacement_characters(engine, zoo, tmp_path):
    """Valid JSON and a loadable file, but PostgreSQL text cannot hold NUL: the row keeps U+FFFD instead."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    source = zoo["sd1-kohya-lora"].path
    with safe_open(source, "pt") as f:
        metadata = f.metadata()
    metadata |= {"modelspec.trigger_phrase": "a \x00cat", "ss_output_name": "nul\x00name"}
    folder = tmp_path / "lib"
    folder.mkdir()
    save_file(load_file(source), folder / "nul.safetensors", metadata)
    report = scan([folder], engine=engine)
    assert report.errors == []
    (row,) = _rows(engine).values()
    assert row.status == "ok" and "a \ufffdcat" in row.trigger_words
    assert row.training_metadata["ss_output_name"] == "nul\ufffdname"


def test_a_truncated_gguf_is_one_error_line_and_one_error_row(engine, zoo, tmp_path):
    from tests.support.gguf_files import denoiser_gguf

    raw = denoiser_gguf(zoo["sd1-single"].path, tmp_path / "whole.gguf", "sd1").read_bytes()
    folder = tmp_path / "unet"
    folder.mkdir()
    cut = {"header": folder / "header-cut.gguf", "data": folder / "data-cut.gguf"}
    cut["header"].write_bytes(raw[:300])
    cut["data"].write_bytes(raw[: len(raw) // 2])
    for path in cut.values():
        line = _loradex("probe", path)
        assert str(path) in line and "truncated" in line, line
    report = scan([folder], engine=engine)
    assert sorted(p for p, _ in report.errors) == sorted(map(str, cut.values()))
    assert all(row.status == "error" and "\n" not in (row.error or "\n") for row in _rows(engine).values())
