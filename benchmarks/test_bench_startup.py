"""Benchmark: wall time of the CLI commands a user types most, each in a fresh process, against
``python -c pass`` (the interpreter's own start-up) and ``hf --help`` (huggingface_hub's CLI),
in one run. Targets (issue 22): ``list``, ``show``, ``check``, ``tag`` ≤ 0.25 s, ``--help`` < 0.2 s.

The catalog is a copy of ``catalog.db.example`` (the demo zoo's catalog); the probed file is a
synthetic full-size SD1 kohya LoRA (rank 16, 264 layers). The layer-map cache is warmed first,
as it is after any earlier loradex run, and the bytecode of loradex's modules is cached (as after
any earlier run; the benchmark lifts ``PYTHONDONTWRITEBYTECODE``). Each command runs ``REPEAT`` times
(7; ``LORADEX_BENCH_REPEAT``), interleaved; the figures are the median and the best run. With
``LORADEX_BENCH_BEFORE=DIR`` (a folder holding a ``loradex`` package of other code, put first on
``PYTHONPATH``: ``DIR/loradex/{adapters,registry,tui}``, and its ``DIR/catalog.db.example`` where the
schema has moved on since) every loradex command also runs on that code, interleaved: before and
after in one run.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_startup.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from pathlib import Path

import pytest
from children import timed_command  # benchmarks/ is on sys.path under pytest
from synthetic import write_kohya_lora

from loradex.adapters.model.layermap import layer_map

pytestmark = pytest.mark.benchmark

REPEAT = int(os.environ.get("LORADEX_BENCH_REPEAT", "7"))
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


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
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    loradex = str(BIN / "loradex")
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "hf --help": ([str(BIN / "hf"), "--help"], env),
    }
    before = os.environ.get("LORADEX_BENCH_BEFORE")
    before_env = {}
    if before and (Path(before) / "catalog.db.example").is_file():  # its own catalog: an older schema
        shutil.copy2(Path(before) / "catalog.db.example", tmp_path / "catalog-before.db")
        before_env = {"LORADEX_CATALOG": str(tmp_path / "catalog-before.db")}
    for name, argv in {
        "loradex --help": [loradex, "--help"],
        "loradex probe LORA": [loradex, "probe", str(lora)],
        "loradex list": [loradex, "list"],
        "loradex show sd1-kohya-lora": [loradex, "show", "sd1-kohya-lora"],
        "loradex check ADAPTER --base CKPT": [loradex, "check", "sd1-kohya-lora", "--base", "tiny-sd1-diffusers"],
        # After --: Click reads "-bench" as the short options -b -e -n -c -h, and -h printed the help
        # instead of tagging (what this line measured until session 30).
        "loradex tag REF +bench -- -bench": [loradex, "tag", "sd1-kohya-lora", "+bench", "--", "-bench"],
    }.items():
        commands[name] = (argv, env)
        if before:
            commands[f"{name} (before)"] = (argv, env | {"PYTHONPATH": before} | before_env)
    for argv, run_env in commands.values():  # warm the page cache, the layer-map cache, the bytecode
        timed_command(argv, run_env)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(REPEAT):
        for name, (argv, run_env) in commands.items():
            runs[name].append(timed_command(argv, run_env)[:2])
    floor = statistics.median(cpu for _, cpu in runs["python -c pass"])
    print(f"\nstart-up, {REPEAT} runs each: wall median / best; CPU median (over python -c pass's)")
    for name, times in runs.items():
        walls, cpus = [w for w, _ in times], [c for _, c in times]
        cpu = statistics.median(cpus)
        print(
            f"  {name:42s} {statistics.median(walls):6.3f} s / {min(walls):6.3f} s; "
            f"CPU {cpu:6.3f} s ({cpu / floor:5.1f}x)"
        )
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
