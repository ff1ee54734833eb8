"""The test session never reads or writes the user's own folders (catalog, caches, Hub cache).

tests/support/user_folders.py redirects them before anything runs and fails the session if the real
ones changed; these tests show both halves in a child pytest whose "user" has a home of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loradex.registry.store.db import default_catalog_path
from tests.support import user_folders

REPOSITORY = Path(__file__).parents[2]


def run_pytest(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess:
    """Run one test file in a child pytest, with the guard plugin, as a user whose home is tmp_path/home."""
    home = tmp_path / "home"
    (home / ".local" / "share" / "loradex").mkdir(parents=True)
    (home / ".local" / "share" / "loradex" / "catalog.db").write_bytes(b"the user's catalog")
    (tmp_path / "test_planted.py").write_text(test_source)
    env = {k: v for k, v in os.environ.items() if k not in user_folders.REDIRECTED}
    env |= {"HOME": str(home), "PYTHONPATH": str(REPOSITORY)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.support.user_folders",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_planted.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_default_catalog_is_the_tests_own(tmp_path):
    assert default_catalog_path().is_relative_to(tmp_path)
    assert not default_catalog_path().is_relative_to(user_folders.REAL.data)


def test_the_hub_cache_and_token_are_the_sessions_own():
    from huggingface_hub import constants, get_token

    assert Path(constants.HF_HUB_CACHE).is_relative_to(user_folders.SANDBOX)
    assert get_token() is None


def test_a_session_that_writes_the_users_catalog_fails(tmp_path):
    run = run_pytest(
        tmp_path,
        "from tests.support import user_folders\n"
        "def test_writes():\n    user_folders.REAL.catalog.write_bytes(b'overwritten')\n",
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "touched the user's own folders" in run.stdout
    assert f"changed {tmp_path / 'home' / '.local' / 'share' / 'loradex' / 'catalog.db'}" in run.stdout


def test_a_session_using_the_default_catalog_leaves_the_users_alone(tmp_path):
    run = run_pytest(
        tmp_path,
        "from loradex.registry.store.db import default_catalog_path, open_catalog\n"
        "def test_creates_the_default_catalog():\n"
        "    open_catalog(str(default_catalog_path())).dispose()\n"
        "    assert default_catalog_path().exists()\n",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "home" / ".local" / "share" / "loradex" / "catalog.db").read_bytes() == b"the user's catalog"
    assert sorted(p.name for p in (tmp_path / "home").rglob("*")) == [".local", "catalog.db", "loradex", "share"]
