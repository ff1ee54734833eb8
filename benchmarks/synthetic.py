"""Synthetic inputs shared by the benchmarks: full-size kohya LoRAs streamed to disk."""

from __future__ import annotations

from pathlib import Path

import torch

from loradex.adapters.io.writer import SafetensorsWriter
from loradex.adapters.model.layermap import Layer

_BASE_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}


def write_kohya_lora(path: Path, layers: list[Layer], *, rank: int, alpha: float, seed: int, base: str) -> None:
    """A kohya LoRA in fp16 over ``layers`` (up/down ~ N(0, 0.01²)), one tensor in memory at a time."""
    layout = []
    for layer in layers:
        conv = (1, 1) if len(layer.shape) == 4 else ()
        layout += [
            (f"{layer.kohya}.alpha", "F16", ()),
            (f"{layer.kohya}.lora_down.weight", "F16", (rank, *layer.shape[1:])),
            (f"{layer.kohya}.lora_up.weight", "F16", (layer.shape[0], rank, *conv)),
        ]
    layout.sort(key=lambda e: e[0])
    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(alpha),
        "ss_base_model_version": _BASE_VERSION[base],
    }
    gen = torch.Generator().manual_seed(seed)
    with SafetensorsWriter(path, layout, meta) as writer:
        for name, _, shape in layout:
            if name.endswith(".alpha"):
                writer.write(name, torch.tensor(alpha, dtype=torch.float16))
            else:
                writer.write(name, (torch.randn(shape, generator=gen) * 0.01).half())
        writer.commit()
