"""The catalog's safety: no output ever replaces a catalog, its side files or backups, or a file
that is not regular; a damaged, empty, foreign, read-only or full catalog is named in one line;
every provenance of a pulled file is kept. Real files throughout: real SQLite catalogs damaged by
real byte edits, real FIFOs and device nodes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.safetensors_io.atomic import check_target
from loradex.registry.db import default_catalog_path

from ops_cli import cli, one_error_line  # noqa: E402  (tests/ is on sys.path under pytest)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM artifact").fetchone()[0]


@pytest.fixture
def sqlite_catalog(files, tmp_path) -> Path:
    """A SQLite catalog file holding the scanned copies of the zoo files."""
    db = tmp_path / "c.db"
    result = cli("scan", files["lora"].parent, catalog=str(db))
    assert result.exit_code == 0, result.output
    return db


# ---------------------------------------------------------------------------------------
# 1. No output replaces the catalog, its side files, its backups, or a file that is not regular


def test_an_output_naming_the_catalog_is_refused_and_the_catalog_kept(sqlite_catalog, files):
    before, count = digest(sqlite_catalog), rows(sqlite_catalog)
    result = cli("mix", f"{files['lora']}:0.5", "-o", sqlite_catalog, catalog=str(sqlite_catalog))
    one_error_line(result, str(sqlite_catalog), "SQLite database", "refusing")
    assert digest(sqlite_catalog) == before and rows(sqlite_catalog) == count


def test_an_output_naming_the_default_catalog_is_refused(files):
    assert cli("scan", files["lora"].parent).exit_code == 0  # no --catalog: the default one
    default = default_catalog_path()
    before = digest(default)
    one_error_line(cli("resize", files["lora"], "--rank", "2", "-o", default), "SQLite database")
    assert digest(default) == before


@pytest.mark.parametrize("side", ["-wal", "-shm"])
def test_an_output_naming_a_side_file_of_the_catalog_is_refused(sqlite_catalog, files, side):
    target, count = Path(f"{sqlite_catalog}{side}"), rows(sqlite_catalog)
    result = cli("mix", f"{files['lora']}:0.5", "-o", target)
    one_error_line(result, str(target), f"{side[1:]} file of the SQLite database", "refusing")
    assert not target.exists() and rows(sqlite_catalog) == count


def test_a_recipe_whose_output_is_the_catalog_backup_is_refused(sqlite_catalog, files, tmp_path):
    backup = Path(f"{sqlite_catalog}.backup-0004")
    with sqlite3.connect(sqlite_catalog) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)  # as registry.db does before a migration
    before = digest(backup)
    recipe = tmp_path / "mix.toml"
    recipe.write_text(f'op = "mix"\noutput = "{backup.name}"\n[[inputs]]\nref = "{files["lora"]}"\nweight = 0.5\n')
    one_error_line(cli("mix", recipe, catalog=str(sqlite_catalog)), str(backup), "SQLite database")
    assert digest(backup) == before


def test_an_output_naming_a_fifo_is_refused_and_the_fifo_kept(files, tmp_path):
    fifo = tmp_path / "out.safetensors"
    os.mkfifo(fifo)
    one_error_line(cli("mix", f"{files['lora']}:0.5", "-o", fifo), str(fifo), "a FIFO", "refusing")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_an_output_naming_a_device_node_is_refused_and_the_node_kept(files, tmp_path):
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a real null device, in tmp
    except PermissionError:
        pytest.skip("making a device node needs root (CAP_MKNOD)")
    before = os.lstat(node)
    one_error_line(cli("convert", files["lora"], "--to", "diffusers", "-o", node), str(node), "character device")
    after = os.lstat(node)
    assert (after.st_ino, after.st_mode, after.st_rdev) == (before.st_ino, before.st_mode, before.st_rdev)


def test_dev_null_is_refused_as_an_output_without_being_touched():
    # The check alone: should it ever let /dev/null through, no write follows here.
    before = os.lstat("/dev/null")
    with pytest.raises(UnsupportedError, match="character device"):
        check_target(Path("/dev/null"), [])
    after = os.lstat("/dev/null")
    assert (after.st_ino, after.st_mode, after.st_rdev) == (before.st_ino, before.st_mode, before.st_rdev)


# ---------------------------------------------------------------------------------------
# 4. An empty or foreign file is refused, never initialised as a new catalog


def foreign_files(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.db"
    empty.touch()
    text = tmp_path / "notes.db"
    text.write_text("my notes, not a database\n")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    return {"empty": empty, "text": text, "other": other}


@pytest.mark.parametrize("kind, words", [("empty", "is empty (0 bytes)"), ("text", "is not a SQLite database"),
                                         ("other", "without loradex's tables")])
@pytest.mark.parametrize("command", [["list"], ["scan"], ["tag", "x", "+y"]])
def test_an_empty_or_foreign_catalog_file_is_refused_and_left_as_it_was(files, tmp_path, kind, words, command):
    path = foreign_files(tmp_path)[kind]
    before = path.read_bytes()
    args = [*command, files["lora"].parent] if command == ["scan"] else command
    one_error_line(cli(*args, catalog=str(path)), str(path), words)
    assert path.read_bytes() == before and not Path(f"{path}-wal").exists()


def test_an_empty_catalog_names_its_backup_copy(tmp_path):
    path = tmp_path / "c.db"
    path.touch()
    backup = tmp_path / "c.db.backup-0004"
    with sqlite3.connect(backup) as conn:
        conn.execute("CREATE TABLE artifact (id INTEGER)")
    one_error_line(cli("list", catalog=str(path)), "is empty", f"restore it from its backup copy {backup}")


def test_scan_still_creates_a_catalog_where_there_was_none(files, tmp_path):
    path = tmp_path / "new.db"
    assert cli("scan", files["lora"].parent, catalog=str(path)).exit_code == 0
    assert rows(path) > 0
