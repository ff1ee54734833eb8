"""Benchmark: ``loradex scan DIR`` over an unchanged tree of 20,000 and 100,000 files, end to end
(a fresh process, start-up included), against ``python -c pass`` (the interpreter's own start-up)
and ``find DIR -printf '%s %T@'`` (a walk that ``stat``-s every file, what a rescan must do at
least), interleaved in one run. Target: ≤ 1 s at 20k, ≤ 3 s at 100k.

The tree is tiny files (a rescan never reads one), 100 to a folder, one in ten with a
``.preview.png`` beside it; the catalog (SQLite) holds a row for each file as a scan would have
left it, written directly (a cold scan of 100,000 files is another benchmark's business), one
scan root, and a pair of duplicates. Each command runs ``REPEAT`` times (3; ``LORADEX_BENCH_REPEAT``);
the figures are the median and the best. With ``LORADEX_BENCH_BEFORE=DIR`` (a folder holding a
``loradex`` package of other code: ``DIR/loradex/{adapters,registry,tui}``) the scan also runs on
that code, interleaved. Then one more run, in a child that times its own parts (CPU): the CLI's
imports, the scan's, the rows loaded for the walk, the walk, the rest of the scan, and what is left
(the JSON report and Typer); the interpreter's start-up is ``python -c pass``.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_rescan.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import pytest
from children import run_child, timed_command  # benchmarks/ is on sys.path under pytest

from loradex.adapters.model.probe_version import PROBE_VERSION
from loradex.registry.services.discovery import artifact_name, discover
from loradex.registry.store.db import open_catalog
from loradex.registry.store.paths import stored

pytestmark = pytest.mark.benchmark

REPEAT = int(os.environ.get("LORADEX_BENCH_REPEAT", "3"))
LORADEX = str(Path(sys.executable).parent / "loradex")
_NOW = "2026-01-01 00:00:00.000000"


# The scan command run in-process, its parts timed by wrapping what unchanged_scan calls.
_SPLIT = """
import contextlib, io, json, sys, time
began = time.process_time()
from loradex.tui.cli import main
cli = time.process_time()
from loradex.registry.services import scan_plan
imported = time.process_time()
spent = dict.fromkeys(("settled_under", "changes"), 0.0)
def timed(name, work):
    def run(*args, **kwargs):
        start = time.process_time()
        try:
            return work(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - start
    return run
for name in spent:
    setattr(scan_plan, name, timed(name, getattr(scan_plan, name)))
scan_plan.unchanged_scan = timed("unchanged_scan", scan_plan.unchanged_scan)
spent["unchanged_scan"] = 0.0
sys.argv = ["loradex", "--catalog", sys.argv[1], "scan", sys.argv[2], "--json"]
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main()
end = time.process_time()
rest = spent.pop("unchanged_scan") - spent["settled_under"] - spent["changes"]
print("RESULT " + json.dumps({"CLI imports": cli - began, "scan imports": imported - cli,
    "rows for the walk": spent["settled_under"], "walk": spent["changes"], "rest of the scan": rest,
    "report, Typer": end - imported - rest - spent["settled_under"] - spent["changes"]}))
"""


def catalogued_tree(folder: Path, n: int) -> tuple[Path, Path]:
    """``n`` tiny weights files under ``folder/loras`` and a catalog that holds them unchanged."""
    root = folder / "loras"
    for i in range(n):
        sub = root / f"set{i // 100:04d}"
        if i % 100 == 0:
            sub.mkdir(parents=True)
        (sub / f"lora_{i:06d}.safetensors").write_bytes(i.to_bytes(8, "little"))
        if i % 10 == 0:
            (sub / f"lora_{i:06d}.preview.png").write_bytes(b"png")
    catalog = folder / "catalog.db"
    open_catalog(catalog).dispose()  # the schema, at the current revision
    where = os.path.abspath(folder)
    rows = [
        (
            stored(str(f.path), where),
            artifact_name(f),
            f.size,
            f.mtime,
            f"{i:064x}" if i else f"{1:064x}",  # rows 0 and 1: one sha256, a duplicate pair
            f"{i:064x}",
            PROBE_VERSION,
            f.sidecars,
        )
        for i, f in enumerate(discover([root]))
    ]
    with sqlite3.connect(catalog) as db:
        db.executemany(
            "INSERT INTO artifact (path, name, kind, format, base, is_dir, size, mtime, sha256, blake3, crc32, "
            "safety, status, layer_count, parameters, unmatched, notes, source, created_at, scanned_at, "
            "search_text, probed_with, sidecar_seen, base_evidence, base_claims, ranks, algorithms, components, "
            "trigger_words, training_metadata, sidecar, sources) "
            "VALUES (?, ?, 'lora', 'kohya', 'sd1', 0, ?, ?, ?, ?, '00000000', 'safetensors', 'ok', 264, 0, 0, '', "
            f"'local', '{_NOW}', '{_NOW}', '', ?, ?, '[]', '{{}}', '[1]', '[\"lora\"]', '[\"unet\"]', '[]', "
            "'{}', '{}', '[]')",
            [
                (path, name, size, mtime, sha, blake, seen, probed)
                for path, name, size, mtime, sha, blake, seen, probed in rows
            ],
        )
        db.execute("INSERT INTO scan_root (path, added_at) VALUES (?, ?)", (stored(str(root), where), _NOW))
    return root, catalog


@pytest.mark.parametrize("n", [20_000, 100_000])
def test_rescan_of_an_unchanged_tree_end_to_end(tmp_path, n):
    start = time.perf_counter()
    root, catalog = catalogued_tree(tmp_path, n)
    built = time.perf_counter() - start
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: the modules' bytecode is cached
    scan = [LORADEX, "--catalog", str(catalog), "scan", str(root), "--json"]
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "find -printf (stat walk)": ([shutil.which("find") or "find", str(root), "-printf", "%s %T@\\n"], env),
        f"loradex scan ({n:,} unchanged)": (scan, env),
    }
    if before := os.environ.get("LORADEX_BENCH_BEFORE"):
        commands["loradex scan (before)"] = (scan, env | {"PYTHONPATH": before})
    for argv, run_env in commands.values():  # warm the page cache, the dentry cache and the bytecode
        timed_command(argv, run_env)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(REPEAT):
        for name, (argv, run_env) in commands.items():
            wall, cpu, out = timed_command(argv, run_env)
            runs[name].append((wall, cpu))
            if name.startswith("loradex"):
                report = json.loads(out)
                assert report["unchanged"] == n and report["added"] == report["updated"] == 0, report
                assert len(report["duplicates"]) == 1
    print(f"\nrescan of {n:,} unchanged files (tree and catalog built in {built:.1f} s), {REPEAT} runs each:")
    took = tuple(statistics.median(t[i] for t in runs[f"loradex scan ({n:,} unchanged)"]) for i in (0, 1))
    for name, times in runs.items():
        wall, cpu = (statistics.median(t[i] for t in times) for i in (0, 1))
        print(
            f"  {name:32s} wall {wall:6.3f} s median / {min(t[0] for t in times):6.3f} s best; CPU {cpu:6.3f} s  "
            f"(scan = {took[0] / wall:5.2f}x wall, {took[1] / cpu:5.2f}x CPU)"
        )
    split, _, _ = run_child(_SPLIT, catalog, root)
    print("  where the scan's CPU goes (one run, in-process): " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()))
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
