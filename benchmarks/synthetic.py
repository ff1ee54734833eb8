"""Synthetic inputs shared by the benchmarks: full-size kohya LoRAs streamed to disk, small ones by
the thousand."""

from __future__ import annotations

import math
import re
import struct
from pathlib import Path

import torch

from loradex.adapters.io.header_encoding import encode_header, plan_layout
from loradex.adapters.io.writer import SafetensorsWriter
from loradex.adapters.model.layermap import Layer, layer_map

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


# Three realistic target sets (UNet self-attention, cross-attention, text-encoder attention),
# rank 1-2 in fp16: 150-400 KB per file, like small character/style LoRAs.
_SMALL_TARGETS = (
    r"attn1\.(to_q|to_k|to_v|to_out\.0)$",
    r"attn2\.(to_q|to_k|to_v|to_out\.0)$",
    r"self_attn\.(q|k|v|out)_proj$",
)


def write_small_loras(folder: Path, n: int, *, per_folder: int = 100, first: int = 0) -> list[Path]:
    """``n`` distinct small kohya LoRAs (sd1, fp16, rank 1-2 over one of three target sets) in
    folders of ``per_folder``, written as raw bytes: 20,000 files in seconds, not minutes. Files
    are numbered from ``first``: calls with ranges that do not overlap write no two alike.

    Each file's weights are a different slice of one pool of N(0, 0.01²) values, so no two files
    share bytes or weights (a scan must not take them for copies); the alphas are real scalars.
    """
    layers = list(layer_map("sd1").layers.values())
    groups = [[layer for layer in layers if re.search(t, layer.name)] for t in _SMALL_TARGETS]
    pool = (torch.randn(1 << 23, generator=torch.Generator().manual_seed(0)) * 0.01).half().numpy().tobytes()
    # One header layout per (target set, rank): the files differ in metadata and data only.
    plans = {}
    for g, group in enumerate(groups):
        for rank in (1, 2):
            layout = []
            for layer in group:
                out, inp = layer.shape[:2]
                layout += [
                    (f"{layer.kohya}.alpha", "F16", ()),
                    (f"{layer.kohya}.lora_down.weight", "F16", (rank, inp)),
                    (f"{layer.kohya}.lora_up.weight", "F16", (out, rank)),
                ]
            layout.sort(key=lambda e: e[0])
            plans[g, rank] = layout
    alphas = {rank: struct.pack("<e", float(rank)) for rank in (1, 2)}
    paths = []
    for i in range(first, first + n):
        rank, layout = 1 + (i % 4 == 0), plans[i % 3, 1 + (i % 4 == 0)]
        planned = plan_layout(layout)
        meta = {
            "ss_network_module": "networks.lora",
            "ss_network_dim": str(rank),
            "ss_network_alpha": str(rank),
            "ss_base_model_version": "sd_v1",
            "ss_output_name": f"lora_{i:05d}",
            "ss_tag_frequency": '{"10_cat": {"cat": 12, "orange fur": 3}}',
        }
        parts = [encode_header(planned, meta)]
        at = (i * 7919 * 2) % (len(pool) // 2)  # even: whole fp16 values
        for name, _, shape in layout:
            if name.endswith(".alpha"):
                parts.append(alphas[rank])
            else:
                size = 2 * math.prod(shape)
                parts.append(pool[at : at + size])
                at += size
        path = folder / f"set{i // per_folder:03d}" / f"lora_{i:05d}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(parts))
        paths.append(path)
    return paths
