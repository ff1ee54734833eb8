"""A scan with nothing to do (:func:`loradex.registry.services.scan_plan.unchanged_scan`): on plain
``sqlite3`` it reports what the full scan reports and writes only the roots' scan time; anything
changed, and any catalog that is not a SQLite file, is left to the full scan, with nothing written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from loradex.registry.errors import CatalogError
from loradex.registry.queries import reading
from loradex.registry.services.scan import scan
from loradex.registry.services.scan_plan import unchanged_scan
from loradex.registry.store.db import open_catalog

KOHYA = ("sd1-kohya-lora", "sdxl-kohya-lora", "sd1-kohya-locon")


@pytest.fixture
def scanned(zoo, tmp_path) -> tuple[Path, Path]:
    """A tree of three LoRAs, a copy of one (a duplicate), a preview beside one, and a file gone
    since the first scan (a missing row), scanned twice: nothing left to do."""
    root = tmp_path / "tree"
    for name in KOHYA:
        (root / name).mkdir(parents=True)
        shutil.copy2(zoo[name].path, root / name / zoo[name].path.name)
    shutil.copy2(zoo["sd1-kohya-lora"].path, root / "copy.safetensors")
    (root / "sd1-kohya-locon" / f"{zoo['sd1-kohya-locon'].path.stem}.preview.png").write_bytes(b"png")
    (root / "gone.safetensors").write_bytes((root / "copy.safetensors").read_bytes()[:-1] + b" ")
    catalog = tmp_path / "catalog.db"
    engine = open_catalog(catalog)
    try:
        scan([root], engine=engine)
        (root / "gone.safetensors").unlink()
        scan([root], engine=engine)
    finally:
        engine.dispose()
    return root, catalog


def _scanned_twice(root: Path, catalog: Path) -> None:
    engine = open_catalog(catalog)
    try:
        scan([root], engine=engine)
        scan([root], engine=engine)
    finally:
        engine.dispose()


def _full_rescan(catalog: Path, root: Path) -> dict:
    engine = open_catalog(catalog)
    try:
        return scan([root], engine=engine).to_dict() | {"elapsed": None}
    finally:
        engine.dispose()


def _last_scans(catalog: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(catalog) as db:
        return db.execute("SELECT path, last_scan_at FROM scan_root ORDER BY path").fetchall()


def test_an_unchanged_tree_gets_the_full_scans_report_and_its_scan_time(scanned):
    root, catalog = scanned
    before = _last_scans(catalog)
    report = unchanged_scan(catalog, [root])
    assert report is not None
    assert report.to_dict() | {"elapsed": None} == _full_rescan(catalog, root)
    assert (report.unchanged, report.missing, len(report.duplicates)) == (4, 1, 1)
    after = _last_scans(catalog)
    assert [path for path, _ in after] == [path for path, _ in before] and after[0][1] > before[0][1]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: os.utime(next(root.rglob("*.safetensors")), (1, 1)),  # an edited file
        lambda root: shutil.copy2(root / "copy.safetensors", root / "new.safetensors"),  # a new one
        lambda root: (root / "copy.safetensors").unlink(),  # a file gone since the last scan
        lambda root: (root / "copy.preview.png").write_bytes(b"png"),  # a sidecar added
    ],
    ids=["changed", "added", "vanished", "sidecar"],
)
def test_any_change_is_left_to_the_full_scan_and_nothing_is_written(scanned, change):
    root, catalog = scanned
    change(root)
    before = catalog.read_bytes()
    assert unchanged_scan(catalog, [root]) is None
    assert catalog.read_bytes() == before


def test_a_folder_that_is_no_scan_root_yet_is_left_to_the_full_scan(scanned):
    root, catalog = scanned
    assert unchanged_scan(catalog, [root / "sd1-kohya-lora"]) is None
    assert [path for path, _ in _last_scans(catalog)] == ["./tree"]  # stored relative to the catalog


def test_a_server_catalog_or_none_yet_is_left_to_the_full_scan(tmp_path):
    (tmp_path / "tree").mkdir()
    assert unchanged_scan("postgresql+psycopg://nobody@127.0.0.1:1/none", [tmp_path / "tree"]) is None
    assert unchanged_scan(tmp_path / "catalog.db", [tmp_path / "tree"]) is None
    assert not (tmp_path / "catalog.db").exists()


def test_a_model_folder_and_a_file_that_cannot_be_examined_are_compared_as_the_full_scan_does(zoo, tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(zoo["sd1-peft-lora"].path, root / "peft")
    (root / "peft.preview.png").write_bytes(b"png")
    shutil.copy2(zoo["sd1-kohya-lora"].path, root / "kohya.safetensors")
    os.mkfifo(root / "fifo.safetensors")  # an error row, unchanged while it stays a FIFO
    catalog = tmp_path / "catalog.db"
    _scanned_twice(root, catalog)
    report = unchanged_scan(catalog, [root])
    assert report is not None
    assert report.to_dict() | {"elapsed": None} == _full_rescan(catalog, root)
    assert report.unchanged == 3
    os.utime(root / "peft" / "adapter_config.json", (1, 1))
    assert unchanged_scan(catalog, [root]) is None


def test_a_held_write_lock_is_waited_out_with_the_full_scans_tries(scanned, monkeypatch):
    root, catalog = scanned
    # A lock held past the busy timeout: shortened here, so that the first tries fail as they would after 30 s.
    monkeypatch.setattr(reading, "SQLITE_PRAGMAS", ("PRAGMA busy_timeout=50", "PRAGMA foreign_keys=ON"))
    before = _last_scans(catalog)
    holder = sqlite3.connect(catalog, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, holder.execute, ("COMMIT",))
    release.start()
    try:
        report = unchanged_scan(catalog, [root])
    finally:
        release.join()
        holder.close()
    assert report is not None and report.unchanged == 4
    assert _last_scans(catalog)[0][1] > before[0][1]


def test_a_write_lock_held_past_every_try_is_one_catalog_error(scanned, monkeypatch):
    root, catalog = scanned
    monkeypatch.setattr(reading, "SQLITE_PRAGMAS", ("PRAGMA busy_timeout=50", "PRAGMA foreign_keys=ON"))
    before = _last_scans(catalog)
    holder = sqlite3.connect(catalog, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(CatalogError, match="locked"):
            unchanged_scan(catalog, [root])
    finally:
        holder.close()
    assert _last_scans(catalog) == before
