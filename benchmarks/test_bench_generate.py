"""Benchmark: switching the LoRA mix of a warm :class:`Workbench` against loading the base cold.

The workbench promises that changing the LoRAs or their weights never reloads the base; this
measures what a switch costs instead: ``bench.loras.apply(mix)`` between two mixes whose files
are already loaded (no denoising), by both routes:

* **diffusers**: two kohya LoRAs as diffusers adapters (``set_adapters``);
* **patch**: the same two files by weight patching (restore the base tensors, add ΔW in fp32).

against a cold load of the same base (a new ``Workbench``; the page cache and the imports are
warm, so the cold figure is a lower bound and the ratio errs against the switch). The first
load of each file (``bench.loras.load``: ``load_lora_weights`` or reading the factors) is
printed too: it is paid once per file, not per switch. Target: a switch ≤ 10% of a cold load.
The patch route on the full-size base gets a looser bound (25%): it must rewrite every adapted
weight from its saved original (264 layers, 352 M fp32 values, ~1.4 GB read and written per
switch), which is memory bandwidth like the load itself; measured ~11% on a 2-core machine.

Two bases: the zoo's tiny SD1, and a full-size SD1.5 pipeline (UNet, CLIP-L text encoder and
VAE from the real configs of ``architectures.FULL_SIZE`` and the SD1.5 VAE config, random
N(0, 0.02) fp16 weights, saved as a diffusers folder) with two rank-16 kohya LoRAs over every
UNet transformer layer and every text-encoder self_attn/mlp layer, made with the zoo's own
``kohya_fixture``. Figures are medians of ``REPEAT`` runs (5; ``LORADEX_BENCH_REPEAT``), all
runs printed (a shared 2-core machine is noisy).

Run: ``.venv/bin/python -m pytest -m benchmark -s benchmarks/test_bench_generate.py``
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import torch

from loradex.adapters.io.writer import save_tensors
from loradex.adapters.model.architectures import architecture
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.zoo import build_zoo
from loradex.adapters.zoo.adapter_tensors import kohya_fixture, kohya_metadata, text_attention_mlp, unet_attention
from loradex.adapters.zoo.models import SCHEDULER
from loradex.adapters.zoo.tokenizer import clip_tokenizer

pytestmark = pytest.mark.benchmark

REPEAT = int(os.environ.get("LORADEX_BENCH_REPEAT", "5"))
RANK = 16
#: The two mixes switched between: weights differ, one negative, as a user's A/B comparison.
MIX_A, MIX_B = (0.8, 0.0), (-0.5, 1.0)
#: SD1.5's own VAE (AutoencoderKL of stable-diffusion-v1-5/vae/config.json).
SD15_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
)


def _random(model: torch.nn.Module, gen: torch.Generator) -> torch.nn.Module:
    """``model`` (built on the meta device) in fp16 with N(0, 0.02) weights: no slow default init."""
    model = model.to_empty(device="cpu").half()
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.normal_(0.0, 0.02, generator=gen)
    return model.eval()


def full_size_sd15(folder: Path) -> Path:
    """A full-size SD1.5 diffusers folder with random fp16 weights (~2 GB)."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline

    arch, gen = architecture("sd1"), torch.Generator().manual_seed(0)
    unet = _random(arch.meta_denoiser(), gen)
    text_encoder = _random(arch.meta_text_encoder("text_encoder"), gen)
    with torch.device("meta"):
        vae = AutoencoderKL(**SD15_VAE)
    vae = _random(vae, gen)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(folder / "tok"),
        unet=unet,
        scheduler=EulerDiscreteScheduler(**SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder / "sd15", safe_serialization=True)
    return folder / "sd15"


def full_size_loras(folder: Path) -> list[Path]:
    """Two rank-16 kohya LoRAs over SD1.5's UNet transformer and text-encoder layers."""
    layers = [layer for layer in layer_map("sd1").layers.values() if unet_attention(layer) or text_attention_mlp(layer)]
    paths = []
    for seed in (1, 2):
        path = folder / f"sd15-lora{seed}.safetensors"
        tensors = kohya_fixture(layers, "lora", RANK, float(RANK), torch.Generator().manual_seed(seed), torch.float16)
        save_tensors(path, tensors, kohya_metadata(path.stem, "sd1", RANK, float(RANK)))
        paths.append(path)
    return paths


def _median(label: str, runs: list[float]) -> float:
    print(
        f"  {label}: median {statistics.median(runs) * 1e3:.1f} ms (runs "
        + ", ".join(f"{r * 1e3:.1f}" for r in runs)
        + ")"
    )
    return statistics.median(runs)


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(title: str, base: Path, loras: list[Path], repeat: int) -> dict[str, float]:
    """Cold load of ``base`` and switches between the two mixes of ``loras``, by both routes."""
    from loradex.adapters.generate import Workbench

    print(f"\n{title}")
    Workbench(base)  # warm the imports and the page cache; not measured
    cold = _median("cold load (new Workbench)", [_time(lambda: Workbench(base)) for _ in range(repeat)])
    figures = {"cold": cold}
    for route, patch_only in (("diffusers", False), ("patch", True)):
        bench = Workbench(base, patch_only=patch_only)
        first = [_time(partial(bench.loras.load, p)) for p in loras]
        files = [bench.loras.loaded[p] for p in loras]
        assert {f.route for f in files} == {route}
        a = list(zip(files, MIX_A, strict=True))
        b = list(zip(files, MIX_B, strict=True))
        bench.loras.apply(b)  # the patch route reads a file's factors on its first apply
        bench.loras.apply(a)
        runs = []
        for _ in range(repeat):
            runs += [_time(partial(bench.loras.apply, b)), _time(partial(bench.loras.apply, a))]
        print(f"  first load of each LoRA file ({route}): " + ", ".join(f"{t * 1e3:.0f} ms" for t in first))
        figures[route] = _median(f"switch A<->B ({route})", runs)
        bench.loras.apply([])
        del bench
    for route in ("diffusers", "patch"):
        print(f"  switch/cold ({route}): {figures[route] / cold:.1%}")
    return figures


def test_switch_on_the_tiny_sd1_base_costs_under_a_tenth_of_a_cold_load(tmp_path):
    zoo = build_zoo(tmp_path)
    figures = measure(
        "tiny SD1", zoo["sd1-diffusers"].path, [zoo["sd1-kohya-lora"].path, zoo["sd1-kohya-locon"].path], REPEAT
    )
    assert max(figures["diffusers"], figures["patch"]) <= 0.10 * figures["cold"]


def test_switch_on_a_full_size_sd15_costs_under_a_tenth_of_a_cold_load(tmp_path):
    start = time.perf_counter()
    base = full_size_sd15(tmp_path)
    loras = full_size_loras(tmp_path)
    print(f"\nbuilt the full-size SD1.5 folder and two rank-{RANK} LoRAs in {time.perf_counter() - start:.1f} s")
    figures = measure("full-size SD1.5 (random weights, fp32 on CPU)", base, loras, max(2, REPEAT // 2))
    assert figures["diffusers"] <= 0.10 * figures["cold"]
    assert figures["patch"] <= 0.25 * figures["cold"]
