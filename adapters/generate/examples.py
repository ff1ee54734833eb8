"""How an image was made, as far as it says — what ``loradex try --like IMAGE`` renders again on
the user's own base: prompt, negative prompt, seed, steps, CFG, sampler, size.

A PNG tells it in its ``loradex`` record (:mod:`.records`: exact, the scheduler included) or in
A1111's ``parameters`` infotext (A1111, Forge, ComfyUI's savers, Civitai's downloads); Civitai's
example images tell it in their JSON, which the catalog keeps as a preview's columns. No torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.io import bounded_json

from .prompts import split_lora_tags
from .records import CHUNK
from .samplers import FLOW_SAMPLERS, SAMPLERS

__all__ = ["Example", "parse_infotext", "parse_size", "read_example", "sampler_named"]

#: A1111's ``key: value`` pairs of the settings line (a value may be quoted, with commas inside).
_PARAM = re.compile(r'\s*([\w ./+-]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"(\d+)x(\d+)")


@dataclass(frozen=True)
class Example:
    """What an image says of how it was made; None where it does not say.

    Attributes:
        prompt: the prompt without its ``<lora:…>`` tags (the adapters are the user's choice).
        negative_prompt: the negative prompt.
        seed, steps, cfg: as rendered (``cfg``: the guidance scale).
        sampler: the sampler as written there (``DPM++ 2M Karras``); :func:`sampler_named` maps it.
        size: (width, height).
    """

    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None
    size: tuple[int, int] | None = None

    def over(self, other: Example) -> Example:
        """This example, with ``other``'s fields where this one says nothing."""
        return replace(other, **{k: v for k, v in vars(self).items() if v is not None})


def _without_tags(prompt: str) -> str:
    try:
        text, _ = split_lora_tags(prompt)
    except UnsupportedError:  # another extra network's tag: left for the prompt reader to refuse
        return prompt.strip()
    return text.strip()


def _number(value: str, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        return None


def parse_size(text: str) -> tuple[int, int] | None:
    """``512x768`` (A1111's ``Size``, Civitai's ``meta.Size``) as (width, height); None for anything else."""
    size = _SIZE.fullmatch(text.strip())
    return (int(size[1]), int(size[2])) if size else None


def parse_infotext(text: str) -> Example:
    """An A1111 ``parameters`` text: the prompt lines, ``Negative prompt: …`` lines, and the
    settings line (``Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1,
    Size: 512x768, …``; older versions wrote ``Sampler: DPM++ 2M Karras``)."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines and lines[-1].lstrip().startswith("Steps:"):
        settings = {k.strip(): v.strip().strip('"') for k, v in _PARAM.findall(lines.pop())}
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line.removeprefix("Negative prompt:").strip()
        (negative if in_negative else prompt).append(line)
    sampler = settings.get("Sampler")
    schedule = settings.get("Schedule type")
    if sampler and schedule and schedule.lower() not in ("automatic", "uniform"):
        sampler = f"{sampler} {schedule}"
    cfg = settings.get("Distilled CFG Scale") or settings.get("CFG scale", "")  # Forge's FLUX.1: the distilled one
    return Example(
        prompt=_without_tags("\n".join(prompt)) or None,
        negative_prompt="\n".join(negative).strip() or None,
        seed=_number(settings.get("Seed", ""), int),
        steps=_number(settings.get("Steps", ""), int),
        cfg=_number(cfg, float),
        sampler=sampler or None,
        size=parse_size(settings.get("Size", "")),
    )


def _from_record(record: dict[str, Any]) -> Example:
    """A ``loradex`` record's example: its sampler found by the scheduler it recorded."""
    scheduler = record.get("scheduler")
    sampler = next(
        (s.label for s in (*SAMPLERS.values(), *FLOW_SAMPLERS.values()) if s.__json__() == scheduler),
        record.get("sampler") if isinstance(record.get("sampler"), str) else None,
    )
    width, height = record.get("width"), record.get("height")
    prompt, negative = record.get("prompt"), record.get("negative_prompt")
    return Example(
        prompt=_without_tags(prompt) if isinstance(prompt, str) else None,
        negative_prompt=negative if isinstance(negative, str) and negative else None,
        seed=record["seed"] if isinstance(record.get("seed"), int) else None,
        steps=record["steps"] if isinstance(record.get("steps"), int) else None,
        cfg=float(record["guidance_scale"]) if isinstance(record.get("guidance_scale"), (int, float)) else None,
        sampler=sampler,
        size=(width, height) if isinstance(width, int) and isinstance(height, int) else None,
    )


def read_example(path: str | Path) -> Example:
    """What an image file says of how it was made: its ``loradex`` record, else its ``parameters``
    infotext; an image that says neither (a JPEG from Civitai, a screenshot) says nothing.

    Raises:
        UnsupportedError: not an image, or unreadable.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            text = dict(getattr(image, "text", {}) or {})
            info = image.info
    except (OSError, ValueError) as exc:
        raise UnsupportedError(f"not a readable image: {exc}", path=path) from None
    if CHUNK in text:
        record = bounded_json.loads(text[CHUNK])
        if isinstance(record, dict):
            return _from_record(record)
    parameters = text.get("parameters") or info.get("parameters")
    return parse_infotext(parameters) if isinstance(parameters, str) else Example()


def sampler_named(label: str) -> str | None:
    """The ``--sampler`` name of a sampler as A1111, Forge or Civitai write it (``DPM++ 2M Karras``,
    ``Euler a``, Forge's ``Euler Simple``), or None for one loradex does not have."""
    key = " ".join(label.lower().split())
    if key in SAMPLERS or key in FLOW_SAMPLERS:
        return key
    return next((s.name for s in FLOW_SAMPLERS.values() if s.label.lower() == key), None)
