"""Setting up and testing say what matters and nothing else: a wheel that builds without
warnings and holds every module and data file, and one line for the server tests left out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]
SOURCES = {"adapters": "loradex/adapters", "registry": "loradex/registry", "tui": "loradex/tui"}
DATA_SUFFIXES = {".py", ".tcss", ".mako", ".json", ".txt", ".tsv"}


def test_the_wheel_builds_without_warnings_and_holds_every_source_file(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    for folder in SOURCES:
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert "warning" not in (build.stdout + build.stderr).lower(), build.stdout + build.stderr
    (wheel,) = tmp_path.glob("loradex-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
        for folder, target in SOURCES.items()
        for path in (ROOT / folder).rglob("*")
        if path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts
    }
    assert expected - packed == set()


def test_a_run_without_a_postgresql_server_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LORADEX_TEST_PG_URL"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rA",
            "tests/registry/store/test_db.py::test_a_server_url_is_named_without_its_password",
            "tests/registry/store/test_migrations.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "postgresql" in line.lower()]
    assert len(lines) == 1, run.stdout
    assert "SQLite only" in lines[0] and "LORADEX_TEST_PG_URL" in lines[0]
    assert "SKIPPED" not in run.stdout
