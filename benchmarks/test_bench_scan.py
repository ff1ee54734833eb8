"""Benchmark: scanning 1000 small kohya LoRAs, cold (probe + hash + rows) and unchanged.

The cold scan is compared with ``sha256sum`` over the same files (the least any tool that
hashes must do); the rescan of the unchanged tree must read no file at all.

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_scan.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch

from loradex.adapters import probe
from loradex.adapters.io.hashing import hash_file
from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.layermap import layer_map
from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog

pytestmark = pytest.mark.benchmark

N_FILES = 1000
# Three realistic target sets (UNet self-attention, cross-attention, text-encoder attention),
# rank 1-2 in fp16: 150-400 KB per file, like small character/style LoRAs.
_TARGETS = (
    r"attn1\.(to_q|to_k|to_v|to_out\.0)$",
    r"attn2\.(to_q|to_k|to_v|to_out\.0)$",
    r"self_attn\.(q|k|v|out)_proj$",
)


def _write_loras(folder: Path, n: int) -> list[Path]:
    layers = list(layer_map("sd1").layers.values())
    groups = [[layer for layer in layers if re.search(t, layer.name)] for t in _TARGETS]
    gen = torch.Generator().manual_seed(0)
    paths = []
    for i in range(n):
        rank = 1 + (i % 4 == 0)
        tensors = {}
        for layer in groups[i % 3]:
            out, inp = layer.shape[:2]
            tensors[f"{layer.kohya}.lora_down.weight"] = (torch.randn(rank, inp, generator=gen) * 0.01).half()
            tensors[f"{layer.kohya}.lora_up.weight"] = (torch.randn(out, rank, generator=gen) * 0.01).half()
            tensors[f"{layer.kohya}.alpha"] = torch.tensor(float(rank)).half()
        meta = {
            "ss_network_module": "networks.lora",
            "ss_network_dim": str(rank),
            "ss_network_alpha": str(rank),
            "ss_base_model_version": "sd_v1",
            "ss_output_name": f"lora_{i:04d}",
            "ss_tag_frequency": '{"10_cat": {"cat": 12, "orange fur": 3}}',
        }
        path = folder / f"set{i // 100:02d}" / f"lora_{i:04d}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors(path, tensors, meta)
        paths.append(path)
    return paths


def test_scan_of_1000_loras_cold_and_unchanged(tmp_path):
    root = tmp_path / "loras"
    paths = _write_loras(root, N_FILES)
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
