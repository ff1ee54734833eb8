"""A catalog kept beside its files: paths under its folder are stored relative to it, so a catalog
moved or cloned with its files (catalog.db.example) finds them; a file gone since the last scan
reads as missing; and commands that only read leave the catalog file, and its folder, as they were."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loradex.tui.app import make_app
from loradex.tui.cli import app

EXAMPLE = Path(__file__).parents[3] / "catalog.db.example"
LORAS = ("sd1-kohya-lora", "sd1-kohya-locon", "sdxl-kohya-lora")

runner = CliRunner()


def cli(catalog: Path, *args, code: int = 0):
    result = runner.invoke(app, ["--catalog", str(catalog), *map(str, args)])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if "--json" in args else result


def stored_paths(catalog: Path, table: str = "artifact") -> list[str]:
    with sqlite3.connect(catalog) as conn:
        return [p for (p,) in conn.execute(f"SELECT path FROM {table} ORDER BY path")]


@pytest.fixture
def library(zoo, tmp_path) -> Path:
    """``home/catalog.db`` beside ``home/zoo/`` (three LoRAs and the SD1 checkpoint), scanned."""
    home = tmp_path / "home"
    (home / "zoo").mkdir(parents=True)
    for name in (*LORAS, "sd1-single"):
        shutil.copy2(zoo[name].path, home / "zoo" / zoo[name].path.name)
    cli(home / "catalog.db", "scan", home / "zoo", "--json")
    return home


def test_paths_under_the_catalogs_folder_are_stored_relative_to_it(library, zoo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy2(zoo["sd1-lycoris-loha"].path, outside / "loha.safetensors")
    cli(library / "catalog.db", "scan", outside, "--json")
    stored = stored_paths(library / "catalog.db")
    assert sorted(p for p in stored if p.startswith("./")) == sorted(
        f"./zoo/{zoo[n].path.name}" for n in (*LORAS, "sd1-single")
    )
    assert str(outside / "loha.safetensors") in stored  # elsewhere: absolute
    assert stored_paths(library / "catalog.db", "scan_root") == sorted([str(outside), "./zoo"])


def test_a_catalog_moved_with_its_files_finds_them(library, tmp_path):
    before = {r["name"]: r for r in cli(library / "catalog.db", "list", "--json")["artifacts"]}
    moved = tmp_path / "elsewhere" / "clone"
    moved.parent.mkdir()
    library.rename(moved)
    catalog = moved / "catalog.db"
    after = {r["name"]: r for r in cli(catalog, "list", "--json")["artifacts"]}
    assert set(after) == set(before)
    for name, row in after.items():
        assert row["path"] == str(moved / Path(before[name]["path"]).relative_to(library))
        assert Path(row["path"]).exists() and row["status"] == "ok"
    assert cli(catalog, "show", "sd1-kohya-lora", "--json")["path"] == str(moved / "zoo" / "sd1-kohya-lora.safetensors")
    rescan = cli(catalog, "scan", moved / "zoo", "--json")  # same files, same rows: nothing to read again
    assert (rescan["unchanged"], rescan["added"], rescan["moved"], rescan["missing"]) == (len(after), 0, 0, 0)
    assert cli(catalog, "check", "sd1-kohya-lora", "--base", "tiny-sd1", "--json")["verdict"] == "compatible"


def test_a_file_gone_since_the_last_scan_reads_as_missing_and_nothing_is_written(library):
    catalog = library / "catalog.db"
    (library / "zoo" / "sd1-kohya-locon.safetensors").unlink()
    assert cli(catalog, "show", "sd1-kohya-locon", "--json")["status"] == "missing"
    assert [r["name"] for r in cli(catalog, "list", "--status", "missing", "--json")["artifacts"]] == [
        "sd1-kohya-locon"
    ]
    ok = {r["name"] for r in cli(catalog, "list", "--status", "ok", "--json")["artifacts"]}
    assert "sd1-kohya-locon" not in ok and "sd1-kohya-lora" in ok
    assert {r["name"]: r["status"] for r in cli(catalog, "list", "--json")["artifacts"]}["sd1-kohya-locon"] == "missing"
    with sqlite3.connect(catalog) as conn:  # read, not recorded: the next scan records it
        assert conn.execute("SELECT status FROM artifact WHERE name = 'sd1-kohya-locon'").fetchone() == ("ok",)


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


async def test_reading_a_catalog_in_rollback_mode_leaves_it_and_its_folder_as_they_were(library):
    """The example catalog is kept in rollback (DELETE) mode: list, show, check, dupes and the TUI
    open it without turning it into WAL mode or leaving -wal/-shm files in the clone."""
    catalog = library / "catalog.db"
    with sqlite3.connect(catalog) as conn:  # as `make example-catalog` leaves it
        conn.execute("PRAGMA journal_mode=DELETE")
    before = _files(library)
    assert list(before) == ["catalog.db"]
    cli(catalog, "list", "--json")
    cli(catalog, "show", "sd1-kohya-lora", "--json")
    cli(catalog, "dupes", "--json")
    cli(catalog, "check", "sdxl-kohya-lora", "--base", "tiny-sd1", code=4)
    tui = make_app(catalog)
    async with tui.run_test(size=(120, 40)) as pilot:
        await pilot.press("slash", *"sd1-kohya-lora", "enter")  # browse, and open an artifact
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    tui.catalog.close()
    assert _files(library) == before


def test_the_example_catalog_stores_paths_relative_to_itself_in_rollback_mode():
    """`make example-catalog` builds ./zoo beside it: every clone that builds it finds the files."""
    stored = stored_paths(EXAMPLE) + stored_paths(EXAMPLE, "scan_root")
    assert stored and all(p == "./zoo" or p.startswith("./zoo/") for p in stored), stored[:3]
    with sqlite3.connect(f"{EXAMPLE.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
