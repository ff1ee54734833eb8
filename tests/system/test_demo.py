"""The demo a newcomer runs first: it fits one screen, every command it suggests runs as printed,
and its LoRAs visibly change an image."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The program as `make demo` runs it: a script of the virtualenv, which is not on PATH.
LORADEX = Path(sys.executable).parent / "loradex"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict[str, str]]:
    root = tmp_path_factory.mktemp("demo")
    env = os.environ | {"PATH": os.defpath, "HF_HUB_OFFLINE": "1"}  # LORADEX_THREADS from conftest
    run = subprocess.run(
        [str(LORADEX), "--catalog", str(root / "demo.db"), "demo", "--dir", str(root / "zoo")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    return root, run, env


@pytest.fixture(scope="module")
def hints(demo) -> dict[str, subprocess.CompletedProcess]:
    """Each suggested command, run as printed (in a fresh folder, as a user would)."""
    root, run, env = demo
    lines = run.stderr.splitlines()
    work = root / "work"
    work.mkdir()
    return {
        line.strip(): subprocess.run(shlex.split(line), cwd=work, env=env, capture_output=True, text=True, timeout=600)
        for line in lines[lines.index("next, try:") + 1 :]
    }


def test_the_demo_fits_one_screen_without_library_chatter(demo):
    root, run, _ = demo
    lines = (run.stdout + run.stderr).splitlines()
    assert len(lines) <= 40, run.stdout + run.stderr
    assert run.stderr.startswith(f"building the demo zoo in {root / 'zoo'}")
    assert "warn" not in (run.stdout + run.stderr).lower()


def test_the_demo_suggests_a_browse_a_check_a_bake_a_quick_test_and_an_eval(hints):
    assert [shlex.split(hint)[3] for hint in hints] == ["list", "show", "check", "bake", "try", "eval"]
    assert all(shlex.split(hint)[:3] == [str(LORADEX), "--catalog", shlex.split(hint)[2]] for hint in hints)


def test_every_command_the_demo_suggests_runs_as_printed(hints):
    failed = {hint: run.stderr for hint, run in hints.items() if run.returncode != 0}
    assert failed == {}


def test_the_demo_lora_visibly_changes_the_image(demo, hints):
    grid = demo[0] / "work" / "grid"
    base, full = (
        np.asarray(Image.open(grid / name), dtype=float) for name in ("000-seed1-scale0.png", "002-seed1-scale1.png")
    )
    assert np.abs(base - full).mean() > 10  # levels of 255


def test_the_demo_eval_scores_each_scale(demo, hints):
    scores = (demo[0] / "work" / "eval" / "scores.csv").read_text().splitlines()
    assert len(scores) > 2


def test_the_demo_check_says_the_pony_lora_fits_the_illustrious_checkpoint_and_was_trained_on_another_line(hints):
    (check,) = [run for hint, run in hints.items() if shlex.split(hint)[3] == "check"]
    assert "(compatible); trained on another line: pony vs illustrious" in check.stdout
