"""Benchmark: probing a 200 MB synthetic SDXL kohya LoRA reads the header and alphas only.

Run: ``make bench`` or ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_probe.py``.
"""

from __future__ import annotations

import statistics
import time

import pytest
from synthetic import write_kohya_lora  # benchmarks/ is on sys.path under pytest

from loradex.adapters import probe
from loradex.adapters.model import probe as probing
from loradex.adapters.model.layermap import layer_map

pytestmark = pytest.mark.benchmark


def test_probe_of_a_200mb_lora_reads_only_header_and_alphas(tmp_path):
    path = tmp_path / "big_sdxl_lora.safetensors"
    write_kohya_lora(path, list(layer_map("sdxl").layers.values()), rank=26, alpha=13.0, seed=0, base="sdxl")
    size = path.stat().st_size
    probe(path)  # warm the layer-map cache (built once per machine, then read from disk)
    # probe keeps the layouts it decided (by tensor names and shapes): the first file of a layout
    # decides it, a file sharing it (a library's usual case) reads its header and alphas only.
    times: dict[str, list[float]] = {"first of its layout": [], "layout known": []}
    info = None
    for _ in range(5):
        for case, found in times.items():
            if case == "first of its layout":
                probing._LAYOUTS.clear()
            start = time.perf_counter()
            info = probe(path)
            found.append(time.perf_counter() - start)
    assert info is not None
    alphas = sum(1 for layer in info.layers if "alpha" in layer.keys)
    print(
        f"\nprobe: file {size / 1e6:.0f} MB, {len(info.layers)} layers; "
        + "; ".join(
            f"{case}: median {statistics.median(t) * 1e3:.0f} ms (min {min(t) * 1e3:.0f} ms)"
            for case, t in times.items()
        )
        + f"; bytes read {info.bytes_read:,} ({info.bytes_read / size:.4%} of the file; "
        f"header + {alphas} alpha scalars)"
    )
    assert size > 190e6
    assert info.base == "sdxl" and not info.unmatched
    header = info.bytes_read - alphas * 2
    assert header < 1e6
