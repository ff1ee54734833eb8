"""The peer of a quick-test render: plain diffusers, given nothing but the PNG's ``loradex`` record."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from PIL import Image

from loradex.adapters.generate import read_record

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def png(grid, index: int = 0) -> Image.Image:
    """The image as written to disk (what a peer sees), not the in-memory picture."""
    with Image.open(grid.images[index].path) as im:
        return im.convert("RGB")


def diffusers_render(path: Path) -> Image.Image:
    """Plain diffusers rendering the image at ``path`` from its ``loradex`` record alone: the record's
    pipeline class and scheduler, each adapter by ``load_lora_weights`` at its weight, and the
    negative prompt where the record has one (a FLUX.1 record has none)."""
    import diffusers

    rec = read_record(path)
    pipe = getattr(diffusers, rec["pipeline"]).from_pretrained(rec["base"]["path"], torch_dtype=_DTYPES[rec["dtype"]])
    pipe.set_progress_bar_config(disable=True)
    scheduler = rec["scheduler"]
    pipe.scheduler = getattr(diffusers, scheduler["class"]).from_config(pipe.scheduler.config, **scheduler["overrides"])
    names = []
    for i, adapter in enumerate(rec["adapters"]):
        assert hashlib.sha256(Path(adapter["path"]).read_bytes()).hexdigest() == adapter["sha256"]
        names.append(f"peer{i}")
        pipe.load_lora_weights(adapter["path"], adapter_name=names[-1])
    if names:
        pipe.set_adapters(names, adapter_weights=[a["weight"] for a in rec["adapters"]])
    negative = {"negative_prompt": rec["negative_prompt"]} if "negative_prompt" in rec else {}
    with torch.inference_mode():
        return pipe(
            prompt=rec["prompt"],
            **negative,
            num_inference_steps=rec["steps"],
            guidance_scale=rec["guidance_scale"],
            width=rec["width"],
            height=rec["height"],
            generator=torch.Generator(rec["generator_device"]).manual_seed(rec["seed"]),
        ).images[0]
