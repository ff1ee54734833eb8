"""CLIP scores of a LoRA-scale sweep, checked against torchmetrics' CLIPScore on a tiny random CLIP."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.functional.multimodal import clip_score as torchmetrics_clip_score
from torchmetrics.multimodal import CLIPScore

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.generate.clipscore import (
    ClipScorer,
    ScaleScore,
    clip_score,
    load_clip,
    plot_scores,
    score_by_scale,
    write_csv,
)
from loradex.adapters.zoo import tiny_clip_folder

PROMPTS = [
    "a photo of a cat",
    "a red dog",
    "anime girl",
    "a painting of a city at night",
    "blue forest",
    "a toy",
    "portrait of a woman",
    "green landscape",
]


@pytest.fixture(scope="module")
def scorer(tmp_path_factory: pytest.TempPathFactory) -> ClipScorer:
    return load_clip(tiny_clip_folder(tmp_path_factory.mktemp("clip") / "tiny-clip"))


def _images(count: int, seed: int = 0) -> list[Image.Image]:
    """Noise images, not square and not 32×32, so the processor resizes and crops them."""
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)) for _ in range(count)]


def _chw(image: Image.Image) -> torch.Tensor:
    """An image as torchmetrics takes it: a uint8 [C, H, W] tensor."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)


class _Projected(torch.nn.Module):
    """The CLIP model as torchmetrics 1.9 expects it: ``get_image_features``/``get_text_features``
    returning the projected embedding as a tensor. Under transformers 5 they return a model
    output (the embedding is its ``pooler_output``), which torchmetrics cannot normalise."""

    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip, self.config = clip, clip.config

    def get_image_features(self, *args, **kwargs) -> torch.Tensor:
        return self.clip.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs) -> torch.Tensor:
        return self.clip.get_text_features(*args, **kwargs).pooler_output


def _local_model(scorer: ClipScorer):
    """torchmetrics takes a local model only as a callable returning (model, processor)."""
    return lambda: (_Projected(scorer.model), scorer.processor)


def test_text_cosines_are_cosines_of_the_projected_embeddings(scorer):
    images = _images(len(PROMPTS))
    with torch.no_grad():
        pixels = scorer.processor(images=images, return_tensors="pt")["pixel_values"]
        image = scorer.model.get_image_features(pixel_values=pixels).pooler_output
        text = scorer.model.get_text_features(
            **scorer.processor(text=PROMPTS, return_tensors="pt", padding=True)
        ).pooler_output
    want = torch.nn.functional.cosine_similarity(image, text).tolist()
    assert scorer.text_cosines(images, PROMPTS) == pytest.approx(want, abs=1e-5)


def test_each_image_scores_as_torchmetrics_clip_score_clamped_at_zero(scorer):
    """One pair per call, torchmetrics' clamp of the mean is the per-image clamp; with both
    signs among the cosines, this checks the value of positive ones and the clamp of the rest."""
    images = _images(len(PROMPTS))
    cosines = scorer.text_cosines(images, PROMPTS)
    assert min(cosines) < 0 < max(cosines), "the tiny CLIP should give cosines of both signs"
    for image, prompt, cosine in zip(images, PROMPTS, cosines, strict=True):
        want = torchmetrics_clip_score(_chw(image), prompt, model_name_or_path=_local_model(scorer)).item()
        assert clip_score([cosine]) == pytest.approx(want, abs=1e-3)


def test_mean_clip_score_equals_torchmetrics_metric_over_a_batch(scorer):
    """On pairs whose cosines are all positive, where the per-image clamp (the definition) and
    torchmetrics' clamp of the mean agree."""
    images = _images(len(PROMPTS))
    pairs = [(i, p) for i, p, c in zip(images, PROMPTS, scorer.text_cosines(images, PROMPTS), strict=True) if c > 0]
    assert len(pairs) >= 2
    metric = CLIPScore(model_name_or_path=_local_model(scorer))
    metric.update([_chw(i) for i, _ in pairs], [p for _, p in pairs])
    ours = clip_score(scorer.text_cosines([i for i, _ in pairs], [p for _, p in pairs]))
    assert ours == pytest.approx(metric.compute().item(), abs=1e-3)


def test_an_image_is_its_own_perfect_reference(scorer):
    image = _images(1)[0]
    assert scorer.image_cosines([image], [image]) == pytest.approx([1.0], abs=1e-5)


def test_sweep_rows_are_per_scale_sorted_by_scale(scorer):
    images, references = _images(6), _images(2, seed=1)
    items = [
        (scale, image, PROMPTS[k]) for k, (scale, image) in enumerate(zip([1.0, 0.0, 0.5] * 2, images, strict=True))
    ]
    rows = score_by_scale(scorer, items, references)
    assert [(r.scale, r.images) for r in rows] == [(0.0, 2), (0.5, 2), (1.0, 2)]
    at_half = [k for k, (scale, *_) in enumerate(items) if scale == 0.5]
    cosines = scorer.text_cosines([images[k] for k in at_half], [PROMPTS[k] for k in at_half])
    to_refs = scorer.image_cosines([images[k] for k in at_half], references)
    assert rows[1].clip_score == pytest.approx(clip_score(cosines), abs=1e-4)
    assert rows[1].mean_cosine == pytest.approx(sum(cosines) / 2, abs=1e-6)
    assert rows[1].reference_cosine == pytest.approx(sum(to_refs) / 2, abs=1e-6)


def test_csv_has_a_header_and_a_row_per_scale(tmp_path):
    rows = [ScaleScore(0.0, 4, 21.5, 0.215, None), ScaleScore(1.0, 4, 18.25, 0.1825, 0.75)]
    path = write_csv(rows, tmp_path / "scores.csv")
    with path.open(newline="") as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == ["scale", "images", "clip_score", "mean_cosine", "reference_cosine"]
    assert [(float(r["scale"]), int(r["images"]), float(r["clip_score"]), r["reference_cosine"]) for r in got] == [
        (0.0, 4, 21.5, ""),
        (1.0, 4, 18.25, "0.75"),
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]  # no temp file left beside it


def test_plot_is_a_png_line_chart(tmp_path):
    rows = [ScaleScore(s, 4, 20 + 5 * s, 0.2, 0.5 - 0.1 * s) for s in (0.0, 0.5, 1.0)]
    path = plot_scores(rows, tmp_path / "scores.png", title="sks dog: CLIP score by scale")
    with Image.open(path) as chart:
        assert chart.format == "PNG" and 200 <= chart.width <= 2000 and 200 <= chart.height <= 2000
        colors = {color for _, color in chart.convert("RGB").getcolors(1 << 20)}
    assert {(31, 119, 180), (255, 127, 14)} <= colors  # both series are drawn
    assert [p.name for p in tmp_path.iterdir()] == ["scores.png"]


def test_missing_model_folder_is_a_one_line_error_naming_it(tmp_path):
    missing = tmp_path / "no-such-clip"
    with pytest.raises(ArtifactNotFoundError) as caught:
        load_clip(missing)
    message = str(caught.value)
    assert "\n" not in message and str(missing) in message and "save_pretrained" in message
