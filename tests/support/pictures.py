"""Comparing rendered pictures: their pixels as signed integers, so differences do not wrap."""

from __future__ import annotations

import numpy as np


def pixels(picture) -> np.ndarray:
    return np.asarray(picture.convert("RGB"), dtype=np.int16)
