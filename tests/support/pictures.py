"""Comparing rendered pictures: their pixels as signed integers, so differences do not wrap, and the
tolerance a render and its reproduction by a peer may differ by."""

from __future__ import annotations

import numpy as np

#: Max per-pixel difference (uint8 levels) two renders of the same image may show: both sides
#: compute in fp32, but PEFT's x·A·B and a patched (W + BA)·x round differently.
TOLERANCE = 2
#: An adapter under test must move some pixel by more than this, or a comparison proves nothing.
EFFECT = 5 * TOLERANCE


def pixels(picture) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.int16)


def max_diff(a, b) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())
