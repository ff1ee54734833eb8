"""CLIP scores of generated images, swept over LoRA scale: the scoring half of ``loradex eval``.

A sweep renders the same prompts at several adapter scales; each image is scored against its
prompt (does it still follow the text?) and, optionally, against reference images of the
concept (does it show the subject?), as in the seed paper's §4.3 evaluation. Scores use the
torchmetrics ``CLIPScore`` definition, so numbers compare with published ones; the tests check
them against torchmetrics itself.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw, ImageFont

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.io.atomic import atomic_path

if TYPE_CHECKING:
    from transformers import CLIPModel, CLIPProcessor

__all__ = ["ClipScorer", "ScaleScore", "clip_score", "load_clip", "plot_scores", "score_by_scale", "write_csv"]

#: Images or prompts per forward pass: bounds memory for ViT-L on a long sweep.
_BATCH = 16

_HOW = (
    "pass a folder saved with CLIPModel.save_pretrained and CLIPProcessor.save_pretrained, "
    "or the Hub id of a CLIP model in the local Hugging Face cache"
)


@contextlib.contextmanager
def _hushed() -> Iterator[None]:
    """transformers' warnings (the torchvision fallback of ``CLIPImageProcessor``) and its
    'Loading weights' bar off while a model loads; the caller's settings come back afterwards."""
    from transformers.utils import logging

    verbosity, bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.set_verbosity(verbosity)
        if bar:
            logging.enable_progress_bar()


def load_clip(model: str | Path, *, device: str = "cpu") -> ClipScorer:
    """Load a CLIP model and its processor for scoring, in fp32.

    Args:
        model: A folder saved with ``save_pretrained`` (model and processor), or a Hub id
            (read from the local cache when ``HF_HUB_OFFLINE=1``).
        device: Where the model runs.

    Returns:
        A :class:`ClipScorer`.

    Raises:
        ArtifactNotFoundError: No CLIP model could be loaded from ``model``.
    """
    from transformers import CLIPModel, CLIPProcessor

    folder = Path(model).expanduser()
    source = str(folder) if folder.is_dir() else str(model)
    try:
        with _hushed():
            clip = CLIPModel.from_pretrained(source)
            processor = CLIPProcessor.from_pretrained(source)
    except OSError as exc:
        if folder.is_dir():
            reason = str(exc).strip().splitlines()[0]
            raise ArtifactNotFoundError(
                f"cannot load a CLIP model from this folder ({reason}); {_HOW}", path=folder
            ) from exc
        raise ArtifactNotFoundError(
            f"no CLIP model {str(model)!r} (no such folder, and no such Hub id in the local cache); {_HOW}"
        ) from exc
    # transformers types the decorated PreTrainedModel.to as an unbound wrapper (it asks for self).
    moved = clip.to(device=device, dtype=torch.float32)  # type: ignore[call-arg]
    return ClipScorer(moved.eval(), processor, device)


def _projected(output: Any) -> torch.Tensor:
    """transformers < 5 returns the projected embedding itself; 5 wraps it as ``pooler_output``."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _unit(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(p=2, dim=-1, keepdim=True)


@dataclass
class ClipScorer:
    """A CLIP model and processor; embeddings are the projected ones CLIP scores compare."""

    model: CLIPModel
    processor: CLIPProcessor
    device: str = "cpu"

    @torch.no_grad()
    def image_embeddings(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """Unit-length image embeddings, one row per image."""
        rows = []
        for start in range(0, len(images), _BATCH):
            pixels = self.processor(
                images=[i.convert("RGB") for i in images[start : start + _BATCH]], return_tensors="pt"
            )["pixel_values"]
            rows.append(_projected(self.model.get_image_features(pixel_values=pixels.to(self.device))))
        return _unit(torch.cat(rows).float().cpu())

    @torch.no_grad()
    def text_embeddings(self, prompts: Sequence[str]) -> torch.Tensor:
        """Unit-length text embeddings, one row per prompt (truncated to CLIP's 77 tokens)."""
        rows = []
        for start in range(0, len(prompts), _BATCH):
            tokens = self.processor(
                text=list(prompts[start : start + _BATCH]), return_tensors="pt", padding=True, truncation=True
            )
            rows.append(
                _projected(
                    self.model.get_text_features(
                        input_ids=tokens["input_ids"].to(self.device),
                        attention_mask=tokens["attention_mask"].to(self.device),
                    )
                )
            )
        return _unit(torch.cat(rows).float().cpu())

    def text_cosines(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[float]:
        """Cosine between each image and its own prompt (``images[i]`` with ``prompts[i]``)."""
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images but {len(prompts)} prompts; pair each image with its prompt")
        return (self.image_embeddings(images) * self.text_embeddings(prompts)).sum(-1).tolist()

    def image_cosines(self, images: Sequence[Image.Image], references: Sequence[Image.Image]) -> list[float]:
        """For each image, its mean cosine to every reference image."""
        if not references:
            raise ValueError("no reference images to compare with")
        return _mean_cosines(self.image_embeddings(images), self.image_embeddings(references))


def _mean_cosines(embeddings: torch.Tensor, references: torch.Tensor) -> list[float]:
    return (embeddings @ references.T).mean(-1).tolist()


def clip_score(cosines: Sequence[float]) -> float:
    """The CLIPScore of Hessel et al. as torchmetrics documents it: ``100 · max(cos, 0)`` per
    image, averaged. (torchmetrics' code clamps the average instead; the two agree whenever no
    cosine is negative.)"""
    return sum(100 * max(c, 0.0) for c in cosines) / len(cosines)


@dataclass(frozen=True)
class ScaleScore:
    """The scores of the images rendered at one LoRA scale.

    Attributes:
        scale: The adapter scale.
        images: How many images were scored.
        clip_score: :func:`clip_score` of the image–prompt cosines (0–100).
        mean_cosine: Mean raw image–prompt cosine, unclamped (shows drift below zero).
        reference_cosine: Mean image–reference cosine, or None without references.
    """

    scale: float
    images: int
    clip_score: float
    mean_cosine: float
    reference_cosine: float | None


def score_by_scale(
    scorer: ClipScorer,
    items: Sequence[tuple[float, Image.Image, str]],
    references: Sequence[Image.Image] | None = None,
) -> list[ScaleScore]:
    """Score a sweep: ``items`` are (scale, image, prompt); one row per scale, sorted by scale.

    Every image is embedded once, whether it is compared with its prompt, the references or both.
    """
    if not items:
        return []
    scales, images, prompts = zip(*items, strict=True)
    embeddings = scorer.image_embeddings(images)
    text = (embeddings * scorer.text_embeddings(prompts)).sum(-1).tolist()
    to_refs = _mean_cosines(embeddings, scorer.image_embeddings(references)) if references else None
    rows = []
    for scale in sorted(set(scales)):
        at = [i for i, s in enumerate(scales) if s == scale]
        cosines = [text[i] for i in at]
        rows.append(
            ScaleScore(
                float(scale),
                len(at),
                clip_score(cosines),
                sum(cosines) / len(at),
                None if to_refs is None else sum(to_refs[i] for i in at) / len(at),
            )
        )
    return rows


def write_csv(rows: Sequence[ScaleScore], path: str | Path) -> Path:
    """Write ``rows`` as CSV (one header line, an empty cell for a missing reference cosine),
    atomically: the file appears complete or not at all."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([f.name for f in fields(ScaleScore)])
    writer.writerows(["" if v is None else v for v in astuple(row)] for row in rows)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------
# The chart. Drawn with PIL, which loradex already needs for images: one small line chart does
# not justify matplotlib, a large dependency with a font cache and backends of its own.

_SIZE, _MARGIN = (640, 400), (64, 40, 24, 48)  # (left, top, right, bottom)
_SERIES = (("CLIP score", (31, 119, 180)), ("reference cosine x100", (255, 127, 14)))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], at least two: steps of 1, 2 or 5 × 10^k."""
    raw = (high - low) / count or 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step)
    return [step * k for k in range(first, max(math.ceil(high / step), first + 1) + 1)]


def _label(value: float) -> str:
    return f"{value:g}"


def plot_scores(rows: Sequence[ScaleScore], path: str | Path, *, title: str) -> Path:
    """Draw CLIP score (and reference cosine ×100, where known) against scale as a PNG line
    chart with axes, tick labels and a legend; written atomically.

    Raises:
        ValueError: ``rows`` is empty.
    """
    if not rows:
        raise ValueError("no scores to plot")
    series = [(name, color, [(r.scale, r.clip_score) for r in rows]) for name, color in _SERIES[:1]]
    references = [(r.scale, r.reference_cosine) for r in rows if r.reference_cosine is not None]
    if len(references) == len(rows):
        series.append((*_SERIES[1], [(scale, 100 * cosine) for scale, cosine in references]))
    values = [y for *_, points in series for _, y in points]
    y_ticks = _ticks(min(0.0, *values), max(values))
    scales = sorted({r.scale for r in rows})
    x_low, x_high = (scales[0], scales[-1]) if len(scales) > 1 else (scales[0] - 0.5, scales[0] + 0.5)
    x_ticks = scales[:: math.ceil(len(scales) / 10)]  # every scale, or every n-th of a long sweep

    image = Image.new("RGB", _SIZE, "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=13)  # at 10, spaces vanish
    left, top, right, bottom = _MARGIN[0], _MARGIN[1], _SIZE[0] - _MARGIN[2], _SIZE[1] - _MARGIN[3]

    def at(x: float, y: float) -> tuple[float, float]:
        return (
            left + (x - x_low) / (x_high - x_low) * (right - left),
            bottom - (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * (bottom - top),
        )

    def text(xy: tuple[float, float], words: str, anchor: str) -> None:
        """Place ``words`` by its box: anchor 'c' centres it on xy, 'r' right-aligns, 'l' left."""
        x0, y0, x1, y1 = draw.textbbox((0, 0), words, font=font)
        dx = {"c": (x1 - x0) / 2, "r": x1 - x0, "l": 0}[anchor]
        draw.text((xy[0] - dx - x0, xy[1] - (y1 - y0) / 2 - y0), words, fill="black", font=font)

    for y in y_ticks:
        _, py = at(x_low, y)
        draw.line([(left, py), (right, py)], fill=(230, 230, 230))
        text((left - 6, py), _label(y), "r")
    for x in x_ticks:
        px, _ = at(x, y_ticks[0])
        draw.line([(px, bottom), (px, bottom + 4)], fill="black")
        text((px, bottom + 12), _label(x), "c")
    draw.line([(left, top), (left, bottom), (right, bottom)], fill="black")
    text(((left + right) / 2, _SIZE[1] - 14), "LoRA scale", "c")
    text((_SIZE[0] / 2, top / 2), title, "c")

    for row, (name, color, points) in enumerate(series):
        pixels = [at(x, y) for x, y in points]
        if len(pixels) > 1:
            draw.line(pixels, fill=color, width=2)
        for px, py in pixels:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=color)
        ly = top + 10 + 18 * row
        draw.line([(right - 190, ly), (right - 170, ly)], fill=color, width=2)
        text((right - 164, ly), name, "l")

    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path
