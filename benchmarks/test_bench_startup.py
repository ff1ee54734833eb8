"""Benchmark: wall time of the CLI commands a user types most, each in a fresh process, against
``python -c pass`` (the interpreter's own start-up) and ``hf --help`` (huggingface_hub's CLI),
in one run. Target: ≤ 0.5 s each on the 2-core development machine.

The catalog is a copy of ``catalog.db.example`` (the demo zoo's catalog); the probed file is a
synthetic full-size SD1 kohya LoRA (rank 16, 264 layers). The layer-map cache is warmed first,
as it is after any earlier loradex run. Each command runs ``REPEAT`` times (7;
``LORADEX_BENCH_REPEAT``), interleaved; the figures are the median and the best run.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_startup.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synthetic import write_kohya_lora  # benchmarks/ is on sys.path under pytest

from loradex.adapters.model.layermap import layer_map

pytestmark = pytest.mark.benchmark

REPEAT = int(os.environ.get("LORADEX_BENCH_REPEAT", "7"))
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, (argv, proc.stderr[-2000:])
    return wall


def test_cli_start_up(tmp_path):
    lora = tmp_path / "sd1_r16.safetensors"
    layers = [
        layer
        for layer in layer_map("sd1").layers.values()
        if ".attentions." in layer.name or ".self_attn." in layer.name or ".mlp." in layer.name
    ]
    write_kohya_lora(lora, layers, rank=16, alpha=8.0, seed=0, base="sd1")
    catalog = tmp_path / "catalog.db"
    shutil.copy2(ROOT / "catalog.db.example", catalog)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LORADEX_CATALOG": str(catalog)}
    loradex = str(BIN / "loradex")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hf --help": [str(BIN / "hf"), "--help"],
        "loradex --help": [loradex, "--help"],
        "loradex probe LORA": [loradex, "probe", str(lora)],
        "loradex list": [loradex, "list"],
        "loradex show sd1-kohya-lora": [loradex, "show", "sd1-kohya-lora"],
    }
    for argv in commands.values():  # warm the page cache and the layer-map cache
        _timed(argv, env)
    runs: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(REPEAT):
        for name, argv in commands.items():
            runs[name].append(_timed(argv, env))
    print(f"\nstart-up, {REPEAT} runs each (median / best):")
    for name, walls in runs.items():
        print(f"  {name:32s} {statistics.median(walls):6.3f} s / {min(walls):6.3f} s")
