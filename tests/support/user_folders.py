"""The user's own folders are never touched by a test: a pytest plugin (loaded first by conftest.py).

On import, before any fixture or test module runs, it points every per-user location loradex
and its libraries use (``HOME``, the XDG data/cache/config/state folders, ``HF_HOME``) at one
temporary folder for the whole session and drops ``$LORADEX_CATALOG`` and Hub tokens, so a
module- or session-scoped fixture cannot reach the real ones either. Child processes inherit it.

It also guards the promise: it records what the real folders held (names, sizes, mtimes) when
the session starts and fails the session, naming what changed, if any of them differs at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Environment variables that name per-user locations, and the sub-folder each gets.
REDIRECTED = {
    "HOME": "home",
    "XDG_DATA_HOME": "data",
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
    "XDG_STATE_HOME": "state",
    "HF_HOME": "hf-home",
}
#: Variables that would lead a test to the user's catalog or Hub account.
DROPPED = (
    "LORADEX_CATALOG",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_TOKEN_PATH",
)

Snapshot = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class UserFolders:
    """The real per-user folders loradex and the Hub client would use under ``env``."""

    data: Path
    cache: Path
    config: Path
    hf_home: Path

    @classmethod
    def of(cls, env: dict[str, str]) -> UserFolders:
        home = Path(env.get("HOME") or Path.home())
        xdg = {
            name: Path(env[name]) if env.get(name) else home / default
            for name, default in [
                ("XDG_DATA_HOME", ".local/share"),
                ("XDG_CACHE_HOME", ".cache"),
                ("XDG_CONFIG_HOME", ".config"),
            ]
        }
        hf_home = Path(env["HF_HOME"]) if env.get("HF_HOME") else xdg["XDG_CACHE_HOME"] / "huggingface"
        return cls(
            data=xdg["XDG_DATA_HOME"] / "loradex",
            cache=xdg["XDG_CACHE_HOME"] / "loradex",
            config=xdg["XDG_CONFIG_HOME"] / "loradex",
            hf_home=hf_home,
        )

    @property
    def catalog(self) -> Path:
        return self.data / "catalog.db"

    def snapshot(self) -> Snapshot:
        """Every file and folder under the folders, with its size and mtime (nothing is read)."""
        seen: Snapshot = {}
        for root in (self.data, self.cache, self.config, self.hf_home):
            if not root.exists():
                continue
            for folder, dirs, files in os.walk(root):
                for name in [*dirs, *files]:
                    path = Path(folder, name)
                    stat = path.lstat()
                    seen[str(path)] = (stat.st_size, stat.st_mtime_ns if name in files else 0)
            seen[str(root)] = (0, 0)
        return seen


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots, one line per path."""
    added = [f"created {p}" for p in after.keys() - before.keys()]
    removed = [f"removed {p}" for p in before.keys() - after.keys()]
    changed = [f"changed {p}" for p in before.keys() & after.keys() if before[p] != after[p]]
    return sorted(added + removed + changed)


def isolate() -> tuple[UserFolders, Path]:
    """Redirect the per-user locations of this process (and its children) to a new temporary folder."""
    real = UserFolders.of(dict(os.environ))
    sandbox = Path(tempfile.mkdtemp(prefix="loradex-tests-home-"))
    for name, sub in REDIRECTED.items():
        (sandbox / sub).mkdir()
        os.environ[name] = str(sandbox / sub)
    for name in DROPPED:
        os.environ.pop(name, None)
    return real, sandbox


REAL, SANDBOX = isolate()
_BEFORE = REAL.snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    touched = changes(_BEFORE, REAL.snapshot())
    shutil.rmtree(SANDBOX, ignore_errors=True)
    if touched:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"the test session touched the user's own folders ({len(touched)} paths):", *touched[:20]]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
