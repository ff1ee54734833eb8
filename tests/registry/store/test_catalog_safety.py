"""The catalog's safety: no output ever replaces a catalog, its side files or backups, or a file
that is not regular; a damaged, empty, foreign, read-only or full catalog is named in one line;
every provenance of a pulled file is kept. Real files throughout: real SQLite catalogs damaged by
real byte edits, real FIFOs and device nodes."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.io.atomic import check_target
from loradex.registry.store.db import default_catalog_path
from tests.support.ops_cli import cli, one_error_line  # noqa: E402


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
        src.backup(dst)  # as registry.store.db does before a migration
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


@pytest.mark.parametrize(
    "kind, words",
    [("empty", "is empty (0 bytes)"), ("text", "is not a SQLite database"), ("other", "without loradex's tables")],
)
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


# ---------------------------------------------------------------------------------------
# 8. A damaged, full or read-only catalog is one line that says what to do; reading a
#    read-only one works


def damage_inner_pages(db: Path, seed: int = 7) -> None:
    """Random bytes over every page but the first and the last, in place: what a bad disk does."""
    import random

    page = 4096
    pages = db.stat().st_size // page
    assert pages > 4
    rng = random.Random(seed)
    with open(db, "r+b") as f:
        for number in range(1, pages - 1):
            f.seek(number * page)
            f.write(rng.randbytes(page))


@pytest.mark.parametrize("command", [["list"], ["show", "1"], ["tag", "1", "+x"]])
def test_a_damaged_catalog_is_one_line_naming_its_backup_and_recover(sqlite_catalog, command):
    backup = Path(f"{sqlite_catalog}.backup-0005")
    with sqlite3.connect(sqlite_catalog) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)  # the copy registry.store.db makes before a migration
    damage_inner_pages(sqlite_catalog)
    one_error_line(
        cli(*command, catalog=str(sqlite_catalog)),
        str(sqlite_catalog),
        "is damaged",
        f"backup copy {backup}",
        f"sqlite3 {sqlite_catalog} .recover",
    )


def test_a_damaged_catalog_without_a_backup_says_there_is_none(sqlite_catalog):
    damage_inner_pages(sqlite_catalog)
    one_error_line(
        cli("list", catalog=str(sqlite_catalog)), "is damaged", "there is no automatic backup copy", ".recover"
    )


# A full disk and a read-only mount, for real: a tmpfs or a read-only bind mount in a private
# mount namespace (unshare: as root, or as anyone where user namespaces are allowed), so that
# nothing outside the test sees them. The CLI runs in a child inside it.
_CLI = "import sys; from loradex.tui.entry import main; sys.argv = ['loradex', *sys.argv[1:]]; main()"


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /mnt || mount -t tmpfs tmpfs /tmp",
        ],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(
    not _namespaces_work(),
    reason="no private mount namespace here "
    "(unshare --user --mount is not allowed), so no real full disk or read-only mount",
)


def in_namespace(setup: str, *commands: list[str] | str) -> list[tuple[int, str, str]]:
    """Run ``setup`` (shell, mounting) then each command in one private mount namespace: a list
    is a loradex command, a string a shell one; (exit code, stdout, stderr) of each."""
    runs = "\n".join(
        f"{c if isinstance(c, str) else shlex.join([sys.executable, '-c', _CLI, *map(str, c)])} "
        f">$OUT/{i}.out 2>$OUT/{i}.err; echo $? >$OUT/{i}.rc"
        for i, c in enumerate(commands)
    )
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [
                "unshare",
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-ec",
                f"OUT={shlex.quote(out)}\n{setup}\nset +e\n{runs}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        folder = Path(out)
        return [
            (
                int((folder / f"{i}.rc").read_text()),
                (folder / f"{i}.out").read_text(),
                (folder / f"{i}.err").read_text(),
            )
            for i in range(len(commands))
        ]


def one_line(run: tuple[int, str, str], *words: str) -> str:
    code, _, err = run
    (line,) = err.strip().splitlines()
    assert code == 1 and line.startswith("error: ") and all(w in line for w in words), (code, err)
    return line


@needs_mounts
def test_a_catalog_on_a_full_disk_is_one_line_and_keeps_what_was_committed(sqlite_catalog, files, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    db = disk / "c.db"
    count = rows(sqlite_catalog)
    size = sqlite_catalog.stat().st_size // 1024 + 256
    # The catalog, then a filler that leaves 160 KiB: enough to open it, too little for a scan.
    setup = (
        f"mount -t tmpfs -o size={size}k tmpfs {disk}\ncp {sqlite_catalog} {db}\n"
        f"dd if=/dev/zero of={disk}/fill bs=4k count={(size - sqlite_catalog.stat().st_size // 1024 - 160) // 4}"
        " 2>/dev/null"
    )
    extra = tmp_path / "more"
    extra.mkdir()
    for i in range(40):
        (extra / f"copy{i}.safetensors").write_bytes(files["lora"].read_bytes()[:-8] + i.to_bytes(8, "little"))
    scan, listed, _, tag, checked = in_namespace(
        setup,
        ["--catalog", db, "scan", extra],
        ["--catalog", db, "list", "--json"],
        f"dd if=/dev/zero of={disk}/fill2 bs=4k",
        ["--catalog", db, "tag", "1", "+kept"],
        f"{shlex.quote(sys.executable)} -c \"import sqlite3; print(sqlite3.connect('{db}').execute("
        "'PRAGMA integrity_check').fetchone()[0])\"",
    )
    for run in (scan, tag):
        one_line(run, str(db), "disk holding the catalog is full", "rolled back", "committed before stays")
    assert listed[0] == 0, listed[2]
    assert len(json.loads(listed[1])["artifacts"]) == count  # the catalog reads, every row there
    assert checked[1].strip() == "ok"


@needs_mounts
def test_a_catalog_on_a_read_only_mount_reads_and_refuses_changes_in_one_line(sqlite_catalog, tmp_path):
    folder = sqlite_catalog.parent
    assert not Path(f"{sqlite_catalog}-shm").exists()  # WAL mode, closed: reading needs a -shm it cannot make
    setup = f"mount --bind {folder} {folder}\nmount -o remount,bind,ro {folder}"
    listed, shown, tag, scan = in_namespace(
        setup,
        ["--catalog", sqlite_catalog, "list", "--json"],
        ["--catalog", sqlite_catalog, "show", "1"],
        ["--catalog", sqlite_catalog, "tag", "1", "+x"],
        ["--catalog", sqlite_catalog, "scan", folder],
    )
    assert listed[0] == 0, listed[2]
    assert len(json.loads(listed[1])["artifacts"]) == rows(sqlite_catalog)
    assert shown[0] == 0, shown[2]
    for run in (tag, scan):
        one_line(run, str(sqlite_catalog), "read-only", "reading works")


@needs_mounts
def test_an_output_the_full_catalog_cannot_record_is_kept_and_named_in_one_line(sqlite_catalog, files, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    db, out = disk / "c.db", tmp_path / "mixed.safetensors"
    # Room to open the catalog (its -shm, 32 KiB), not to record the output.
    setup = (
        f"mount -t tmpfs -o size={sqlite_catalog.stat().st_size // 1024 + 256}k tmpfs {disk}\n"
        f"cp {sqlite_catalog} {db}\ndd if=/dev/zero of={disk}/fill bs=4k count=48 2>/dev/null"
    )
    (mixed,) = in_namespace(setup, ["--catalog", db, "mix", f"{files['lora']}:0.5", "-o", out])
    line = one_line(mixed, str(out), "written, but not recorded in the catalog")
    assert "Background on this error" not in line and "disk" in line and out.is_file()
