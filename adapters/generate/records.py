"""What an image was made from, and the PNG that carries it.

Every PNG holds two text chunks: ``parameters``, A1111's infotext (what A1111, Civitai and
most viewers read), and ``loradex``, a JSON record with everything plain diffusers needs to
render the same image: pipeline class, scheduler class and its ``from_config`` overrides,
seed and generator device, and each adapter's absolute path, sha256 and effective weight.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.io import bounded_json
from loradex.adapters.io.atomic import atomic_path
from loradex.adapters.jsonable import jsonable

#: The PNG text chunk of the JSON record.
CHUNK = "loradex"


@dataclass
class FileRef:
    """An input file of an image: absolute path, sha256 and, for adapters, the weight used."""

    path: str
    sha256: str
    kind: str = ""
    weight: float | None = None
    #: The short hash A1111 prints (LoRA: first 12 hex of the tensor-bytes hash).
    short_hash: str = ""
    token: str | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name.removesuffix(".safetensors") if self.path else ""


@dataclass
class ImageRecord:
    """One rendered image: the parameters that reproduce it, and where it was written."""

    prompt: str
    #: None where the pipeline takes none (FLUX.1): the record then has no ``negative_prompt``.
    negative_prompt: str | None
    seed: int
    steps: int
    #: As the pipeline names it: classifier-free guidance, or FLUX.1 [dev]'s distilled guidance.
    guidance_scale: float
    width: int
    height: int
    scheduler: dict[str, Any]
    sampler: str
    generator_device: str
    scale: float
    dtype: str
    pipeline: str
    base: FileRef
    adapters: list[FileRef] = field(default_factory=list)
    embeddings: list[FileRef] = field(default_factory=list)
    #: A1111's Clip skip (1: the last layer; diffusers' ``clip_skip`` is one less).
    clip_skip: int | None = None
    #: ``"a1111"`` when the prompt's brackets weight words (A1111's emphasis, :mod:`.prompts`).
    emphasis: str | None = None
    controlnet: dict[str, Any] | None = None
    init_image: dict[str, Any] | None = None
    path: str | None = None

    def __json__(self) -> dict[str, Any]:
        """The PNG's record: files as path and hash, options that were not used (None) left out."""
        data = asdict(self)
        data["base"] = {"path": self.base.path, "sha256": self.base.sha256}
        data["adapters"] = [
            {"path": a.path, "sha256": a.sha256, "kind": a.kind, "weight": a.weight} for a in self.adapters
        ]
        data["embeddings"] = [{"path": e.path, "sha256": e.sha256, "token": e.token} for e in self.embeddings]
        for optional in ("negative_prompt", "clip_skip", "emphasis", "controlnet", "init_image", "path"):
            if data[optional] is None:
                del data[optional]
        return data

    def infotext(self, a1111_sampler: tuple[str, str | None]) -> str:
        """A1111's ``parameters`` text: prompt (with ``<lora:name:weight>`` tags, as A1111 writes
        them), negative prompt, then the settings line."""
        loras = [a for a in self.adapters if a.kind in ("lora", "lycoris")]
        tags = "".join(f" <lora:{a.name}:{a.weight:g}>" for a in loras if a.weight)
        sampler, schedule = a1111_sampler
        fields = [f"Steps: {self.steps}", f"Sampler: {sampler}"]
        if schedule:
            fields.append(f"Schedule type: {schedule}")
        if self.pipeline == "FluxPipeline":  # as Forge writes a FLUX.1 [dev] image: no CFG, distilled guidance
            fields += ["CFG scale: 1", f"Distilled CFG Scale: {self.guidance_scale:g}"]
        else:
            fields.append(f"CFG scale: {self.guidance_scale:g}")
        fields += [
            f"Seed: {self.seed}",
            f"Size: {self.width}x{self.height}",
            f"Model hash: {self.base.sha256[:10]}",
            f"Model: {Path(self.base.path).stem}",
        ]
        if self.clip_skip:
            fields.append(f"Clip skip: {self.clip_skip}")
        if self.init_image:
            fields.append(f"Denoising strength: {self.init_image['strength']:g}")
        if self.controlnet:
            fields.append(f'ControlNet 0: "{control_infotext(self.controlnet)}"')
        active = [a for a in loras if a.weight]
        if active:
            fields.append('Lora hashes: "' + ", ".join(f"{a.name}: {a.short_hash}" for a in active) + '"')
        if self.embeddings:
            fields.append('TI hashes: "' + ", ".join(f"{e.token}: {e.short_hash}" for e in self.embeddings) + '"')
        lines = [self.prompt + tags]
        if self.negative_prompt:
            lines.append(f"Negative prompt: {self.negative_prompt}")
        lines.append(", ".join(fields))
        return "\n".join(lines)


def control_infotext(controlnet: dict[str, Any]) -> str:
    """A1111's ControlNet extension's unit text: ``Module: canny, Model: name [hash], Weight: 1, …``."""
    fields = [
        f"Module: {controlnet.get('preprocessor') or 'none'}",
        f"Model: {Path(controlnet['path']).stem} [{controlnet['sha256'][:8]}]",
        f"Weight: {controlnet['conditioning_scale']:g}",
        f"Resize Mode: {controlnet['resize_mode']}",
    ]
    if controlnet.get("preprocessor") == "canny":
        fields += [f"Threshold A: {controlnet['thresholds'][0]}", f"Threshold B: {controlnet['thresholds'][1]}"]
    return ", ".join(fields + ["Guidance Start: 0", "Guidance End: 1"])


def write_png(image: Any, target: Path, *, text: dict[str, str]) -> None:
    """Write ``image`` as a PNG with ``text`` chunks, atomically: a PNG appears whole or not at all."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value) if not value.isascii() else info.add_text(key, value)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            image.save(f, format="PNG", pnginfo=info)


def save_image(image: Any, record: ImageRecord, target: Path, a1111_sampler: tuple[str, str | None]) -> None:
    """``image`` at ``target`` with both chunks; ``record.path`` set to the absolute path."""
    record.path = os.path.abspath(target)
    write_png(
        image,
        target,
        text={"parameters": record.infotext(a1111_sampler), CHUNK: json.dumps(jsonable(record), sort_keys=True)},
    )


def read_record(path: str | Path) -> dict[str, Any]:
    """The ``loradex`` JSON record of a PNG this module wrote."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        text = getattr(im, "text", {}) or {}
    if CHUNK not in text:
        raise UnsupportedError("this PNG carries no loradex record", path=path)
    return bounded_json.loads(text[CHUNK])
