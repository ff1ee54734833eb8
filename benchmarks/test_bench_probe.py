"""Benchmark: probing a 200 MB synthetic SDXL kohya LoRA reads the header and alphas only.

Run: ``make bench`` or ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_probe.py``.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch

from loradex.adapters import probe
from loradex.adapters.layermap import layer_map
from loradex.adapters.safetensors_io import SafetensorsWriter

pytestmark = pytest.mark.benchmark


def _write_big_lora(path, rank: int) -> None:
    """Every SDXL UNet and text-encoder layer at ``rank`` in fp16, streamed tensor by tensor."""
    layout = []
    for layer in layer_map("sdxl").layers.values():
        conv = (1, 1) if len(layer.shape) == 4 else ()
        down = (rank, *layer.shape[1:])
        up = (layer.shape[0], rank, *conv)
        layout += [(f"{layer.kohya}.alpha", "F16", ()), (f"{layer.kohya}.lora_down.weight", "F16", down),
                   (f"{layer.kohya}.lora_up.weight", "F16", up)]
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": str(rank)}
    with SafetensorsWriter(path, layout, meta) as writer:
        for name, _, shape in layout:
            writer.write(name, torch.full(shape, 0.5 if name.endswith("alpha") else 0.01, dtype=torch.float16))
        writer.commit()


def test_probe_of_a_200mb_lora_reads_only_header_and_alphas(tmp_path):
    path = tmp_path / "big_sdxl_lora.safetensors"
    _write_big_lora(path, rank=26)
    size = path.stat().st_size
    probe(path)  # warm the layer-map cache (built once per machine, then read from disk)
    times, info = [], None
    for _ in range(5):
        start = time.perf_counter()
        info = probe(path)
        times.append(time.perf_counter() - start)
    alphas = sum(1 for layer in info.layers if "alpha" in layer.keys)
    print(f"\nprobe: file {size / 1e6:.0f} MB, {len(info.layers)} layers; median {statistics.median(times) * 1e3:.0f} ms"
          f" (min {min(times) * 1e3:.0f} ms); bytes read {info.bytes_read:,} "
          f"({info.bytes_read / size:.4%} of the file; header + {alphas} alpha scalars)")
    assert size > 190e6
    assert info.base == "sdxl" and not info.unmatched
    header = info.bytes_read - alphas * 2
    assert header < 1e6
