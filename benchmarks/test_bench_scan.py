"""Benchmark: scanning 1000 small kohya LoRAs, cold (probe + hash + rows) and unchanged.

The cold scan is compared with ``sha256sum`` over the same files (the least any tool that
hashes must do); the rescan of the unchanged tree must read no file at all.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_scan.py``; the cold scan of 2,000 and
20,000 files alone: ``-k 20000`` (``LORADEX_BENCH_SCAN_SIZES=2000`` for 2,000 only;
``LORADEX_BENCH_BEFORE=DIR`` to scan with other code too, alternated).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from children import timed_command  # benchmarks/ is on sys.path under pytest
from synthetic import write_small_loras

from loradex.adapters import probe
from loradex.adapters.io.hashing import hash_file
from loradex.adapters.model.layermap import layer_map
from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog

pytestmark = pytest.mark.benchmark

N_FILES = 1000


def test_scan_of_1000_loras_cold_and_unchanged(tmp_path):
    root = tmp_path / "loras"
    paths = write_small_loras(root, N_FILES)
    total = sum(p.stat().st_size for p in paths)
    layer_map("sd1")  # the layer map is built once per machine and cached; not what we measure

    sha256sum = shutil.which("sha256sum")
    start = time.perf_counter()
    if sha256sum:
        subprocess.run([sha256sum, *map(str, paths)], check=True, stdout=subprocess.DEVNULL)
    sum_time = time.perf_counter() - start

    engine = open_catalog(tmp_path / "catalog.db")
    try:
        start = time.perf_counter()
        cold = scan([root], engine=engine)
        cold_time = time.perf_counter() - start
        start = time.perf_counter()
        again = scan([root], engine=engine)
        rescan_time = time.perf_counter() - start
    finally:
        engine.dispose()
    # Where the cold scan's time goes: each step alone, one thread.
    start = time.perf_counter()
    for path in paths:
        probe(path)
    probe_time = time.perf_counter() - start
    start = time.perf_counter()
    for path in paths:
        hash_file(path)
    hash_time = time.perf_counter() - start

    print(
        f"\nscan benchmark: {N_FILES} kohya LoRAs (fp16, sd1), {total / 1e6:.1f} MB in all "
        f"({total / N_FILES / 1e3:.0f} KB per file), files in page cache"
    )
    if sha256sum:
        print(f"sha256sum over the same files:      {sum_time:.3f} s")
    print(
        f"cold scan (probe + hash + rows):     {cold_time:.3f} s"
        + (f"  = {cold_time / sum_time:.1f}x sha256sum" if sha256sum else "")
    )
    print(
        f"rescan, unchanged tree (no reads):   {rescan_time:.3f} s (target <= 1 s)"
        + (f"  = {rescan_time / sum_time:.2f}x sha256sum" if sha256sum else "")
        + f"  = {rescan_time / cold_time:.3f}x cold scan"
    )
    print(
        f"breakdown, one thread each: probe {probe_time:.3f} s, hash_file {hash_time:.3f} s "
        f"(the rest of the cold scan is rows and commits); load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    assert cold.added == N_FILES and not cold.errors
    assert again.unchanged == N_FILES and again.added == again.updated == 0


#: A cold scan in a fresh interpreter (argv: roots joined by os.pathsep, the catalog's path): its
#: wall and CPU (every thread), beside hashlib's sha256 of the same files, one read each, one
#: thread (the floor a scan is held to), taken before and after the scan and averaged.
_COLD_SCAN = textwrap.dedent("""
    import hashlib, json, os, sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    import loradex.registry.services.scan as scanning
    from loradex.adapters.model.layermap import layer_map
    from loradex.registry.store.db import open_catalog

    roots = [Path(p) for p in sys.argv[1].split(os.pathsep)]
    paths = sorted(p for root in roots for p in root.rglob("*.safetensors"))

    def sha256_all():
        start = time.perf_counter()
        for path in paths:
            with open(path, "rb", buffering=0) as f:
                hashlib.sha256(f.read()).hexdigest()
        return time.perf_counter() - start

    layer_map("sd1")  # built once per machine and cached; not what we measure
    engine = open_catalog(Path(sys.argv[2]))
    before = sha256_all()
    start, cpu = time.perf_counter(), time.process_time()
    report = scanning.scan(roots, engine=engine)
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    after = sha256_all()
    engine.dispose()
    assert report.added == len(paths) and not report.errors and not report.duplicates
    print("RESULT " + json.dumps({"n": len(paths), "took": took, "cpu": cpu, "sha": (before + after) / 2,
                                  "load": os.getloadavg()[0], "code": scanning.__file__}))
""")

#: The sizes to scan (``LORADEX_BENCH_SCAN_SIZES``, e.g. ``2000``: 20,000 takes many minutes on a busy machine).
SCAN_SIZES = [int(n) for n in os.environ.get("LORADEX_BENCH_SCAN_SIZES", "2000,20000").split(",")]


def test_cold_scan_of_2000_and_20000_small_loras_against_hashlib_sha256(tmp_path):
    """Cold scans of 2,000 and 20,000 small LoRAs (probe, every hash, rows, commits), each in a
    fresh interpreter beside hashlib's sha256 of the same files in the same run (taken before and
    after the scan and averaged: the machine is shared). Per-file cost must not grow with the
    catalog. With ``LORADEX_BENCH_BEFORE=DIR`` (``DIR/loradex/{adapters,registry,tui}``: other
    code) each size is scanned by that code too, alternated with this one."""
    sizes = sorted(SCAN_SIZES)
    folders = []
    for k, n in enumerate(sizes):
        folders.append(tmp_path / "loras" / f"part{k}")
        write_small_loras(folders[-1], n - (sizes[k - 1] if k else 0), first=sizes[k - 1] if k else 0)
    codes = {"after": {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}}
    if before := os.environ.get("LORADEX_BENCH_BEFORE"):
        codes["before"] = codes["after"] | {"PYTHONPATH": before}
    rows = []
    for k, n in enumerate(sizes):
        roots = os.pathsep.join(map(str, folders[: k + 1]))
        for code, env in reversed(codes.items()) if k % 2 else codes.items():  # alternated
            db = tmp_path / f"catalog-{code}-{n}.db"
            _, _, out = timed_command([sys.executable, "-c", _COLD_SCAN, roots, str(db)], env)
            result = json.loads(next(ln for ln in reversed(out.splitlines()) if ln.startswith("RESULT "))[7:])
            assert (code == "before") == result["code"].startswith(before or "//"), result["code"]
            rows.append((code, result))
    size = sum(p.stat().st_size for p in (tmp_path / "loras").rglob("*.safetensors")) / sizes[-1]
    print(f"\ncold scan of small kohya LoRAs (sd1, fp16, {size / 1e3:.0f} KB per file), files in page cache:")
    for code, r in rows:
        n, took, cpu, sha = r["n"], r["took"], r["cpu"], r["sha"]
        print(
            f"{code:6s} {n:6,d} files: scan {took:.2f} s ({took / n * 1e3:.2f} ms/file, "
            f"CPU {cpu / n * 1e3:.2f} ms/file) "
            f"vs hashlib sha256 {sha:.2f} s ({sha / n * 1e3:.3f} ms/file) = {took / sha:.2f}x; "
            f"load average {r['load']:.1f} on {os.cpu_count()} CPUs"
        )
    for code in codes:
        mine = [r for c, r in rows if c == code]
        if len(mine) > 1:
            first, last = mine[0], mine[-1]
            ratio = last["took"] / last["n"] / (first["took"] / first["n"])
            print(f"{code}: per-file cost at {last['n']:,d} / at {first['n']:,d}: {ratio:.2f}")
