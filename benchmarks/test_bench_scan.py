"""Benchmark: scanning 1000 small kohya LoRAs, cold (probe + hash + rows) and unchanged.

The cold scan is compared with ``sha256sum`` over the same files (the least any tool that
hashes must do); the rescan of the unchanged tree must read no file at all.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_scan.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from synthetic import write_small_loras  # benchmarks/ is on sys.path under pytest

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


def _sha256_all(paths: list[Path]) -> float:
    """hashlib's sha256 of each file, one read each, one thread: the floor a scan is held to."""
    start = time.perf_counter()
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            hashlib.sha256(f.read()).hexdigest()
    return time.perf_counter() - start


def test_cold_scan_of_2000_and_20000_small_loras_against_hashlib_sha256(tmp_path):
    """Cold scans of 2,000 and 20,000 small LoRAs (probe, every hash, rows, commits), each beside
    hashlib's sha256 of the same files in the same run (taken before and after the scan and
    averaged: the machine is shared). Per-file cost must not grow with the catalog."""
    torch.set_num_threads(1)
    first = write_small_loras(tmp_path / "loras" / "a", 2_000)
    rest = write_small_loras(tmp_path / "loras" / "b", 18_000)
    layer_map("sd1")  # built once per machine and cached; not what we measure
    _sha256_all(first + rest)  # the files into the page cache
    rows = []
    for roots, paths in (([tmp_path / "loras" / "a"], first), ([tmp_path / "loras"], first + rest)):
        engine = open_catalog(tmp_path / f"catalog-{len(paths)}.db")
        try:
            before = _sha256_all(paths)
            start, cpu = time.perf_counter(), time.process_time()
            report = scan(roots, engine=engine)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
            after = _sha256_all(paths)
        finally:
            engine.dispose()
        assert report.added == len(paths) and not report.errors and not report.duplicates
        rows.append((len(paths), took, cpu, (before + after) / 2, os.getloadavg()[0]))
    size = sum(p.stat().st_size for p in first + rest) / len(first + rest)
    print(f"\ncold scan of small kohya LoRAs (sd1, fp16, {size / 1e3:.0f} KB per file), files in page cache:")
    for n, took, cpu, sha, load in rows:
        print(
            f"{n:6,d} files: scan {took:.2f} s ({took / n * 1e3:.2f} ms/file, CPU {cpu / n * 1e3:.2f} ms/file) vs "
            f"hashlib sha256 {sha:.2f} s ({sha / n * 1e3:.2f} ms/file) = {took / sha:.2f}x; "
            f"load average {load:.1f} on {os.cpu_count()} CPUs"
        )
    (n1, t1, *_), (n2, t2, *_) = rows
    print(f"per-file cost at {n2:,d} / at {n1:,d}: {t2 / n2 / (t1 / n1):.2f}")


def test_hash_file_of_a_big_checkpoint_against_sha256sum(tmp_path):
    """Where the hashing bounds a scan (checkpoints): every hash from one read vs sha256sum alone."""
    from safetensors.torch import save_file

    path = tmp_path / "big.safetensors"
    save_file({"w": torch.randn(128, 1024, 1024).half()}, path)
    hash_file(path)  # the file into the page cache
    sha256sum = shutil.which("sha256sum")
    best_sum = float("inf")
    if sha256sum:
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sha256sum, str(path)], check=True, stdout=subprocess.DEVNULL)
            best_sum = min(best_sum, time.perf_counter() - start)
    best, cpu = float("inf"), 0.0
    for _ in range(3):
        start, cpu_start = time.perf_counter(), time.process_time()
        hashes = hash_file(path)
        if (took := time.perf_counter() - start) < best:
            best, cpu = took, time.process_time() - cpu_start
    size = path.stat().st_size
    print(
        f"\nhash_file of a {size / 1e6:.0f} MB safetensors file (sha256, tensor sha256, BLAKE3, CRC-32): "
        f"best of 3 {best:.3f} s ({cpu:.3f} s CPU, {size / best / 1e9:.2f} GB/s)"
        + (f"; sha256sum {best_sum:.3f} s = {best / best_sum:.2f}x" if sha256sum else "")
        + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    assert hashes.autov3 and hashes.blake3 and hashes.crc32
