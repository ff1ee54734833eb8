"""A tiny random-weight CLIP (text and vision towers), saved as a local folder.

The CLIP-score tests and the demo need a model that ``load_clip`` and torchmetrics load offline;
the real ones are hundreds of megabytes. The text tower reuses the zoo's tiny tokenizer and
text config, the vision tower sees 32×32 images in 8×8 patches.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from .models import _clip
from .tokenizer import clip_tokenizer

IMAGE_SIZE = 32
PROJECTION_DIM = 16
_VISION = dict(
    image_size=IMAGE_SIZE,
    patch_size=8,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    projection_dim=PROJECTION_DIM,
)


def tiny_clip_folder(folder: Path, seed: int = 0) -> Path:
    """Save a random-weight ``CLIPModel`` and its ``CLIPProcessor`` into ``folder``.

    The weights are the same for a seed (drawn inside ``fork_rng``, so the caller's RNG state is
    left alone). ``CLIPModel.from_pretrained(folder)`` and ``CLIPProcessor.from_pretrained(folder)``
    load it without the Hub.

    Returns:
        ``folder``.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    config = CLIPConfig(
        text_config=_clip(32, 4, "quick_gelu", PROJECTION_DIM), vision_config=_VISION, projection_dim=PROJECTION_DIM
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = clip_tokenizer(Path(tmp))
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder
