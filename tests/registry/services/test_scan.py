"""Scanning folders into the catalog, on SQLite and PostgreSQL, with real files in tmp_path.

Every tree is a private copy (of the zoo, or generated here): scans must not depend on a
shared folder, and several tests rename, edit, break or delete files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from sqlalchemy import func, text
from sqlmodel import select

import loradex.registry.services.scan as scan_module
from loradex.adapters.io.hashing import hash_file
from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe_version import PROBE_VERSION
from loradex.adapters.zoo import Zoo
from loradex.adapters.zoo.adapter_tensors import addnet_hash
from loradex.registry.queries import lookup
from loradex.registry.queries.lookup import duplicates
from loradex.registry.services.discovery import discover
from loradex.registry.services.records import search_text, training_metadata
from loradex.registry.services.scan import scan
from loradex.registry.services.sidecars import read_sidecars
from loradex.registry.services.verify import verify
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, ArtifactTag, LayerSetLayer, Module, Preview, ScanRoot, Tag

KOHYA = ("sd1-kohya-lora", "sdxl-kohya-lora")


def copy_items(zoo: Zoo, dst: Path, names: tuple[str, ...] | None = None) -> Path:
    """A private copy of the zoo's ``adapters/`` and ``bases/`` (or of the named items only)."""
    if names is None:
        for folder in ("adapters", "bases"):
            shutil.copytree(zoo.root / folder, dst / folder)
        return dst
    for name in names:
        src = zoo[name].path
        target = dst / src.relative_to(zoo.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
    return dst


def rows(engine) -> dict[str, Artifact]:
    with open_session(engine) as s:
        return {a.path: a for a in s.exec(select(Artifact))}


def count(engine, model, *where) -> int:
    with open_session(engine) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """Counts the scanner's calls that read a file (probe, hash, sidecars)."""
    calls: Counter = Counter()
    for name in ("probe", "hash_file", "read_sidecars"):
        real = getattr(scan_module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(scan_module, name, counted)
    return calls


# ---------------------------------------------------------------------------------------
# Hashes, records and discovery (no catalog)


def test_hashes_match_the_definitions_users_look_up(tmp_path, zoo):
    path = zoo["sd1-kohya-lora"].path
    data = path.read_bytes()
    got = hash_file(path)
    n = int.from_bytes(data[:8], "little")
    assert got.sha256 == hashlib.sha256(data).hexdigest() and got.autov2 == got.sha256[:10]
    assert got.tensor_hash == hashlib.sha256(data[8 + n :]).hexdigest()
    # kohya's addnet hash: as sd-scripts computes it, and as it wrote it into the file.
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert got.tensor_hash == addnet_hash(load_file(path), meta) == meta["sshs_model_hash"]
    assert got.model_hash is None  # under 1 MiB

    big = zoo["sd1-single"].path
    data = big.read_bytes()
    assert hash_file(big).model_hash == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]
    pickle_file = zoo["sd1-ti-a1111"].path
    assert hash_file(pickle_file).tensor_hash is None

    folder = copy_items(zoo, tmp_path, ("sd1-peft-lora",)) / "adapters" / "sd1-peft-lora"
    before = hash_file(folder)
    config = folder / "adapter_config.json"
    config.write_text(config.read_text().replace('"r": 4', '"r": 4, "x": 1'))
    after = hash_file(folder)
    assert after.sha256 != before.sha256 and after.tensor_hash == before.tensor_hash
    (folder / "README.md").write_text("not part of the artifact")
    assert hash_file(folder).sha256 == after.sha256


def test_search_text_follows_the_rule_of_migration_0002():
    spec = importlib.util.spec_from_file_location(
        "m0002",
        Path(scan_module.__file__).parents[1]
        / "store"
        / "migrations"
        / "versions"
        / "0002_search_text_for_list_filters.py",
    )
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    meta = {"ss_output_name": "Orange Cat", "ss_tag_frequency": '{"a": {"hidden": 1}}', "modelspec.title": "T"}
    assert search_text("Cat-LoRA", ["OHWX"], meta) == migration._text("Cat-LoRA", ["OHWX"], meta)
    assert "hidden" not in search_text("x", [], meta)
    kept = training_metadata(
        {**meta, "modelspec.thumbnail": "data:image/png;base64,AAAA", "blob": "x" * 1000, "format": "pt"}
    )
    assert set(kept) == {"ss_output_name", "ss_tag_frequency", "modelspec.title", "format"}


def test_discovery_treats_model_folders_as_one_artifact_and_skips_the_rest(tmp_path):
    (tmp_path / "loras").mkdir()
    for name in (
        "a.safetensors",
        "b.ckpt",
        "c.pt",
        "d.pth",
        "e.bin",
        "a.json",
        "a.preview.png",
        "a.civitai.info",
        ".a.safetensors.123.tmp",
        "config.json",
    ):  # a stray config.json does not make a model folder
        (tmp_path / "loras" / name).write_bytes(b"x")
    for folder, files in {
        "peft": ["adapter_config.json", "adapter_model.safetensors"],
        "multi": ["unet/adapter_config.json", "unet/adapter_model.safetensors"],
        "pipe": ["model_index.json", "unet/diffusion_pytorch_model.safetensors"],
        "cn": ["config.json", "diffusion_pytorch_model.fp16.safetensors"],
        ".cache": ["x.safetensors"],
        "sub/.hidden": ["y.safetensors"],
        "sub/deep": ["z.pt"],
    }.items():
        for file in files:
            (tmp_path / folder / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / file).write_bytes(b"x")
    found = {str(f.path.relative_to(tmp_path)): f for f in discover([tmp_path])}
    assert sorted(found) == [
        "cn",
        "loras/a.safetensors",
        "loras/b.ckpt",
        "loras/c.pt",
        "loras/d.pth",
        "loras/e.bin",
        "multi",
        "peft",
        "pipe",
        "sub/deep/z.pt",
    ]
    assert found["pipe"].is_dir and found["pipe"].size == 2  # model_index.json + the weights


# ---------------------------------------------------------------------------------------
# Scanning


def test_scan_indexes_the_zoo_as_expected_and_a_rescan_reads_nothing(engine, zoo, tmp_path, reads):
    root = copy_items(zoo, tmp_path / "tree")
    report = scan([root], engine=engine)
    assert report.added == len(zoo) and not report.errors and report.missing == 0
    assert report.hash_mismatches == []  # the zoo's kohya files embed their true tensor hash
    by_path = rows(engine)
    assert len(by_path) == len(zoo)
    with open_session(engine) as s:
        for item in zoo:
            row = by_path[str(root / item.path.relative_to(zoo.root))]
            assert (row.kind, row.format, row.base, row.status) == (item.kind, item.format, item.base, "ok"), item.name
            assert row.line == item.line, item.name
            assert row.sha256 and row.autov2 == row.sha256[:10] and row.size > 0
            assert row.blake3 and row.crc32 and len(row.crc32) == 8
            assert row.autov3 == (row.tensor_hash[:12] if row.tensor_hash and not row.is_dir else None), item.name
            modules = s.exec(select(func.count()).select_from(Module).where(Module.artifact_id == row.id)).one()
            if item.kind in ("lora", "lycoris"):
                assert modules == row.layer_count > 0, item.name
                # Layers are catalogued by canonical name: a LoRA of no known family has none.
                assert (row.layer_set_id is not None) == (item.base != "unknown"), item.name
            if item.kind == "checkpoint":
                layers = s.exec(
                    select(func.count())
                    .select_from(LayerSetLayer)
                    .where(LayerSetLayer.layer_set_id == row.layer_set_id)
                ).one()
                assert layers == row.layer_count > 0 and modules == 0, item.name
            if item.format in ("kohya", "lycoris"):
                assert row.tensor_hash == row.training_metadata["sshs_model_hash"], item.name
        assert s.exec(select(ScanRoot.path)).all() == [str(root)]
    # The same base as a diffusers folder and as a single file: one layer set.
    for base in ("sd1", "sdxl"):
        folder, single = (
            by_path[str(root / zoo[f"{base}-{kind}"].path.relative_to(zoo.root))] for kind in ("diffusers", "single")
        )
        assert folder.layer_set_id == single.layer_set_id
    assert by_path[str(root / "adapters" / "sd1-ti-diffusers" / "learned_embeds.bin")].name == "sd1-ti-diffusers"

    reads.clear()
    again = scan([root], engine=engine)
    assert not reads, f"an unchanged tree was read: {dict(reads)}"
    assert (again.unchanged, again.added, again.updated, again.moved, again.missing) == (len(zoo), 0, 0, 0, 0)


def test_rows_an_older_probe_described_are_probed_again_but_not_rehashed(engine, sd1_ckpt, tmp_path, reads):
    ckpt = Path(shutil.copy2(sd1_ckpt, tmp_path / "v1-5-pruned.ckpt"))
    scan([tmp_path], engine=engine)
    with open_session(engine) as s:  # what a loradex without versioned probes had written
        row = s.exec(select(Artifact).where(Artifact.path == str(ckpt))).one()
        sha, hashed_at = row.sha256, row.hashed_at
        row.kind, row.format, row.base, row.probed_with = "unknown", "unknown", "unknown", 0
        s.add(row)
        s.commit()
    reads.clear()
    report = scan([tmp_path], engine=engine)
    assert (report.reprobed, report.unchanged, report.updated, report.added) == (1, 0, 0, 0)
    assert reads["probe"] == 1 and reads["hash_file"] == 0
    with open_session(engine) as s:
        row = s.exec(select(Artifact).where(Artifact.path == str(ckpt))).one()
        assert (row.kind, row.base, row.probed_with) == ("checkpoint", "sd1", PROBE_VERSION)
        assert (row.sha256, row.hashed_at) == (sha, hashed_at)
    assert scan([tmp_path], engine=engine).unchanged == 1


def test_rows_hashed_before_blake3_and_crc32_were_kept_are_read_once_more(engine, zoo, tmp_path, reads):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    scan([root], engine=engine)
    with open_session(engine) as s:  # what a catalog upgraded from 0008 holds until the next scan
        for row in s.exec(select(Artifact)):
            row.blake3 = row.crc32 = None
            s.add(row)
        s.commit()
    reads.clear()
    report = scan([root], engine=engine)
    assert (report.rehashed, report.updated, report.unchanged, report.added) == (2, 0, 0, 0)
    assert reads["hash_file"] == 2
    for path, row in rows(engine).items():
        assert (row.blake3, row.crc32) == (hash_file(path).blake3, hash_file(path).crc32)
    reads.clear()
    assert scan([root], engine=engine).unchanged == 2 and not reads


def test_a_header_claiming_a_tensor_hash_its_data_lacks_is_reported_and_kept(engine, zoo, tmp_path):
    src = zoo["sd1-kohya-lora"].path
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    # A tool that changed the weights and copied the header as it was.
    save_file({k: v * 2 for k, v in load_file(src).items()}, tmp_path / "changed.safetensors", meta)
    shutil.copy2(src, tmp_path / "as-trained.safetensors")
    report = scan([tmp_path], engine=engine)
    assert report.added == 2 and not report.errors
    ((path, remark),) = report.hash_mismatches
    assert path == str(tmp_path / "changed.safetensors")
    assert "sshs_model_hash" in remark and meta["sshs_model_hash"][:12] in remark
    assert rows(engine)[path].status == "ok"


def test_a_renamed_file_keeps_its_row_notes_and_tags(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    scan([root], engine=engine)
    old = root / "adapters" / "sd1-kohya-lora.safetensors"
    with open_session(engine) as s:
        row = s.exec(select(Artifact).where(Artifact.path == str(old))).one()
        row.notes = "best cat so far"
        tag = Tag(name="cats")
        s.add_all([row, tag])
        s.flush()
        s.add(ArtifactTag(artifact_id=row.id, tag_id=tag.id))
        s.commit()
        ident = row.id
    new = root / "moved" / "orange-cat-v2.safetensors"
    new.parent.mkdir()
    old.rename(new)
    report = scan([root], engine=engine)
    assert (report.moved, report.added, report.missing) == (1, 0, 0)
    with open_session(engine) as s:
        row = s.get(Artifact, ident)
        assert (row.path, row.name, row.notes, row.status) == (str(new), "orange-cat-v2", "best cat so far", "ok")
        assert s.exec(select(ArtifactTag.tag_id).where(ArtifactTag.artifact_id == ident)).all() == [tag.id]
    assert count(engine, Artifact) == 2


def test_a_copy_does_not_take_the_row_of_a_file_on_an_absent_drive(engine, zoo, tmp_path):
    drive = copy_items(zoo, tmp_path / "drive", ("sd1-kohya-lora",))
    scan([drive], engine=engine)
    (tmp_path / "local").mkdir()
    shutil.copy2(drive / "adapters" / "sd1-kohya-lora.safetensors", tmp_path / "local" / "cat.safetensors")
    drive.rename(tmp_path / "unplugged")  # the drive's root is gone, not its files
    report = scan([tmp_path / "local"], engine=engine)
    assert (report.added, report.moved) == (1, 0)
    unplugged = str(drive / "adapters" / "sd1-kohya-lora.safetensors")
    with open_session(engine) as s:  # the stored row is kept as it was; it reads as missing while unplugged
        assert s.exec(select(Artifact.status).where(Artifact.path == unplugged)).one() == "ok"
    assert rows(engine)[unplugged].status == "missing"


def _add_metadata(src: Path, dst: Path, **extra: str) -> None:
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    save_file(load_file(src), dst, {**meta, **extra})


def test_edited_metadata_keeps_the_row_and_the_tensor_hash(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    scan([root], engine=engine)
    path = root / "adapters" / "sd1-kohya-lora.safetensors"
    before = rows(engine)[str(path)]
    _add_metadata(path, path, ss_comment="retagged")
    copy = root / "adapters" / "sd1-kohya-lora-retitled.safetensors"
    _add_metadata(path, copy, ss_comment="a copy, retitled")
    report = scan([root], engine=engine)
    after = rows(engine)[str(path)]
    assert (report.updated, report.added) == (1, 1)
    assert (str(path), "same weights, metadata changed") in report.notes
    assert report.same_weights == [(str(path), str(copy))]
    assert after.id == before.id and after.tensor_hash == before.tensor_hash and after.sha256 != before.sha256
    assert after.training_metadata["ss_comment"] == "retagged" and "retagged" in after.search_text


def test_a_deleted_file_becomes_missing_with_notes_kept_and_comes_back(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    scan([root], engine=engine)
    path = root / "adapters" / "sdxl-kohya-lora.safetensors"
    with open_session(engine) as s:
        row = s.exec(select(Artifact).where(Artifact.path == str(path))).one()
        row.notes = "keep me"
        s.add(row)
        s.commit()
    aside = tmp_path / "aside.safetensors"
    path.rename(aside)
    report = scan([root], engine=engine)
    assert report.missing == 1 and report.unchanged == 1
    gone = rows(engine)[str(path)]
    assert (gone.status, gone.notes) == ("missing", "keep me")
    aside.rename(path)
    report = scan([root], engine=engine)
    back = rows(engine)[str(path)]
    assert report.missing == 0 and report.updated == 1
    assert (back.id, back.status, back.notes) == (gone.id, "ok", "keep me")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_broken_files_become_error_rows_and_the_rest_is_indexed(engine, zoo, tmp_path, reads):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    broken = root / "broken"
    broken.mkdir()
    data = zoo["sd1-kohya-lora"].path.read_bytes()
    (broken / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (broken / "garbage.ckpt").write_bytes(b"this is not a checkpoint at all" * 10)
    (broken / "empty.safetensors").write_bytes(b"")
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _Payload(marker)}, broken / "evil.pt")
    report = scan([root], engine=engine)
    assert not marker.exists()
    assert report.added == 6 and len(report.errors) == 4
    for path, message in report.errors:
        assert "\n" not in message and Path(path).name in message
    by_path = rows(engine)
    for name in ("truncated.safetensors", "garbage.ckpt", "empty.safetensors", "evil.pt"):
        row = by_path[str(broken / name)]
        assert (row.status, row.kind) == ("error", "unknown") and row.error
    assert "refused" in by_path[str(broken / "evil.pt")].error
    assert sum(r.status == "ok" for r in by_path.values()) == 2
    reads.clear()
    again = scan([root], engine=engine)
    assert again.unchanged == 6 and not reads  # broken files are not re-read either
    assert not marker.exists()


def test_duplicates_are_reported(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    original = root / "adapters" / "sd1-kohya-lora.safetensors"
    (root / "copies").mkdir()
    shutil.copy2(original, root / "copies" / "cat.safetensors")
    report = scan([root], engine=engine)
    assert report.duplicates == [[str(original), str(root / "copies" / "cat.safetensors")]]
    with open_session(engine) as s:
        assert [[a.path for a in group] for group in duplicates(s)] == report.duplicates


def test_sidecars_are_imported_once_without_duplicate_previews(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", ("sd1-kohya-lora",))
    path = root / "adapters" / "sd1-kohya-lora.safetensors"
    stem = path.with_suffix("")
    Path(f"{stem}.json").write_text(
        json.dumps(
            {
                "description": "a cat",
                "sd version": "SD1",
                "activation text": "ohwx cat",
                "preferred weight": 0.8,
                "notes": "from a1111",
            }
        )
    )
    Path(f"{stem}.civitai.info").write_text(
        json.dumps({"trainedWords": ["orange cat"], "baseModel": "SD 1.5", "model": {"name": "Orange Cat"}})
    )
    Path(f"{stem}.preview.png").write_bytes(b"\x89PNG fake")
    Path(f"{stem}.png").write_bytes(b"\x89PNG fake too")
    found = read_sidecars(path)
    assert found.trained_words == ["orange cat"] and found.sd_version == "SD1" and len(found.previews) == 2

    scan([root], engine=engine)
    row = rows(engine)[str(path)]
    assert (row.activation_text, row.preferred_weight, row.notes) == ("ohwx cat", 0.8, "from a1111")
    assert row.sidecar["civitai"]["model"]["name"] == "Orange Cat" and count(engine, Artifact) == 1
    with open_session(engine) as s:
        row.notes = "my own note"
        s.add(row)
        s.commit()
    os.utime(path, (time.time() + 5, time.time() + 5))  # changed on disk: re-probed, sidecars re-read
    report = scan([root], engine=engine)
    assert report.updated == 1
    after = rows(engine)[str(path)]
    assert (after.notes, after.activation_text) == ("my own note", "ohwx cat")
    with open_session(engine) as s:
        previews = s.exec(select(Preview.path, Preview.source).where(Preview.artifact_id == row.id)).all()
    assert sorted(previews) == [(f"{stem}.png", "sidecar"), (f"{stem}.preview.png", "sidecar")]


def test_verify_records_changed_files_as_errors_and_vanished_ones_as_missing(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    scan([root], engine=engine)
    edited, deleted = (root / "adapters" / f"{n}.safetensors" for n in KOHYA)
    st = edited.stat()
    with open(edited, "r+b") as f:  # flip a tensor byte, keep size and mtime: invisible to a scan
        f.seek(st.st_size - 3)
        byte = f.read(1)
        f.seek(st.st_size - 3)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
    deleted.unlink()
    stored = rows(engine)[str(edited)].sha256
    report = verify(engine)
    assert report.missing == [str(deleted)] and report.checked == 1
    [change] = report.changed
    assert (change.path, change.old_sha256, change.same_weights) == (str(edited), stored, False)
    assert change.new_sha256 == hash_file(edited).sha256
    after = rows(engine)
    assert after[str(deleted)].status == "missing"
    changed = after[str(edited)]
    assert changed.status == "error" and changed.sha256 == stored  # the old hashes stay, no longer trusted
    assert changed.error.startswith(str(edited)) and stored[:12] in changed.error and "loradex scan" in changed.error
    assert not report.clean and verify(engine).clean  # nothing left to find: the rows say it already
    # The next scan reads the edited file again (size and mtime alone would skip it) and accepts it.
    rescan = scan([root], engine=engine)
    assert rescan.updated == 1 and rows(engine)[str(edited)].status == "ok"
    assert rows(engine)[str(edited)].sha256 == change.new_sha256


def test_a_root_that_does_not_exist_is_refused_and_not_remembered(engine, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        scan([tmp_path / "typo"], engine=engine)
    assert count(engine, ScanRoot) == 0


def test_files_recorded_one_by_one_are_artifacts_not_scan_roots(engine, zoo, tmp_path):
    root = copy_items(zoo, tmp_path / "tree", KOHYA)
    scan([root], engine=engine)
    single = Path(shutil.copy2(zoo["sd1-kohya-locon"].path, tmp_path / "output.safetensors"))
    report = scan([single], engine=engine, remember=False)
    assert report.added == 1 and str(single) in rows(engine)
    with open_session(engine) as s:
        assert s.exec(select(ScanRoot.path)).all() == [str(root)]


# ---------------------------------------------------------------------------------------
# A scan killed for real


_KILLED_SCAN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from loradex.registry.store.db import open_catalog
    from loradex.registry.services.scan import scan
    engine = open_catalog(sys.argv[1])
    # Slowed down so that the kill lands mid-way whatever the machine.
    scan([Path(sys.argv[2])], engine=engine, workers=1, batch_size=4, progress=lambda p: time.sleep(0.02))
""")


def _many_loras(folder: Path, n: int, seed: int = 1) -> None:
    layers = [layer for layer in layer_map("sd1").layers.values() if layer.module == "linear"][:6]
    gen = torch.Generator().manual_seed(seed)
    for i in range(n):
        tensors = {}
        for layer in layers:
            out, inp = layer.shape
            tensors[f"{layer.kohya}.lora_down.weight"] = torch.randn(1, inp, generator=gen).half()
            tensors[f"{layer.kohya}.lora_up.weight"] = torch.randn(out, 1, generator=gen).half()
            tensors[f"{layer.kohya}.alpha"] = torch.tensor(1.0).half()
        save_tensors(
            folder / f"{i // 50:02d}" / f"lora-{i:03d}.safetensors", tensors, {"ss_output_name": f"l{seed}-{i}"}
        )


def _kill_mid_scan(url: str, root: Path, committed: int, rng: random.Random) -> None:
    """Start a scan, let it commit a batch beyond the ``committed`` rows, then kill -9 it a
    seeded random moment later (mid-batch, mid-probe, mid-commit: wherever it is)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SCAN, url, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    watcher = open_catalog(url, migrate=False)
    try:
        deadline = time.monotonic() + 60
        while count(watcher, Artifact) <= committed:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the scan never committed a batch"
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
        watcher.dispose()
    assert proc.returncode == -signal.SIGKILL


def test_a_killed_scan_leaves_a_consistent_catalog_that_the_next_scan_completes(engine, tmp_path):
    n, rounds = 200, 5
    root = tmp_path / "many"
    for i in range(n // 50):
        (root / f"{i:02d}").mkdir(parents=True)
    _many_loras(root, n)
    url = engine.url.render_as_string(hide_password=False)
    rng = random.Random(18)
    kept: dict[str, tuple] = {}  # what the catalog held after the last kill
    for _ in range(rounds):
        _kill_mid_scan(url, root, len(kept), rng)
        engine.dispose()  # connections opened before the kill are not trusted
        if engine.url.get_backend_name() == "sqlite":
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        done = {
            path: (a.id, a.sha256, a.size, a.mtime, a.layer_count, a.status, a.probed_with)
            for path, a in rows(engine).items()
        }
        assert len(kept) < len(done) < n, "the kill came too late to test anything"
        # A committed batch survives every later kill whole and unchanged.
        assert {path: done.get(path) for path in kept} == kept
        with open_session(engine) as s:  # batches are atomic: no row without its modules
            per_row = dict(s.exec(select(Module.artifact_id, func.count()).group_by(Module.artifact_id)).all())
        assert all(per_row.get(row[0]) == row[4] == 6 and row[5] == "ok" for row in done.values())
        kept = done

    report = scan([root], engine=engine)
    assert (report.unchanged, report.added, report.errors) == (len(kept), n - len(kept), [])
    final = rows(engine)
    assert len(final) == n == len({a.path for a in final.values()})
    assert all(a.status == "ok" for a in final.values())
    assert all(final[path].id == row[0] and final[path].sha256 == row[1] for path, row in kept.items())


# ---------------------------------------------------------------------------------------
# Two processes writing one catalog at once

_SCANNER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from loradex.registry.store.db import open_catalog
    from loradex.registry.services.scan import scan
    report = scan([Path(sys.argv[2])], engine=open_catalog(sys.argv[1]), workers=2, batch_size=8)
    assert not report.errors, report.errors
""")

_TAGGER = textwrap.dedent("""
    import sys
    from loradex.registry.services import edits
    from loradex.registry.store.db import open_catalog, session
    from loradex.registry.store.models import Artifact
    engine = open_catalog(sys.argv[1])
    with session(engine) as s:
        ids = [a.id for a in s.query(Artifact).filter(Artifact.path.like(sys.argv[2] + "%")).all()]
    for i in ids:  # one commit per edit, as a user in the TUI makes them
        with session(engine) as s:
            artifact = s.get(Artifact, i)
            edits.set_tags(s, artifact, add=[f"t{i}", "edited"])
            edits.set_note(s, artifact, f"note {i}")
""")


def test_a_scan_and_tag_edits_in_two_processes_lose_nothing(engine, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for seed, (folder, n) in enumerate(((first, 40), (second, 120))):
        for i in range((n + 49) // 50):
            (folder / f"{i:02d}").mkdir(parents=True)
        _many_loras(folder, n, seed)
    scan([first], engine=engine)
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url, str(arg)], env=env, stderr=subprocess.PIPE)
        for code, arg in ((_SCANNER, second), (_TAGGER, first))
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
    final = rows(engine)
    assert len(final) == 160 and all(a.status == "ok" for a in final.values())
    with open_session(engine) as s:
        for artifact in final.values():
            if artifact.path.startswith(str(first)):
                assert artifact.notes == f"note {artifact.id}"
                assert set(lookup.tags_of(s, artifact)) == {f"t{artifact.id}", "edited"}
