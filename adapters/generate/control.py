"""ControlNet models and control images: a diffusers folder or a single file, and canny edges.

Canny comes from OpenCV (the preprocessor A1111's and ComfyUI's canny nodes use), so a plain
photo can steer a canny ControlNet without a separate tool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loradex.adapters.errors import ArtifactNotFoundError, UnsupportedError
from loradex.adapters.model.probe import probe

from .base import Placement, check_family


def load_controlnet(path: Path, family: str, where: Placement, *, config: str | Path | None = None) -> Any:
    """The ControlNet at ``path`` (diffusers folder or single file) on ``where``.

    ``config``: for a single file, a diffusers ControlNet folder (``config.json``) of the same
    architecture; without it diffusers infers the architecture and reads its config from the
    local Hugging Face cache.
    """
    from diffusers import ControlNetModel

    info = probe(path)
    if info.kind != "controlnet":
        raise UnsupportedError(f"not a ControlNet (it is {info.kind})", path=path)
    check_family(info.base, family, path)
    try:
        if Path(path).is_dir():
            model = ControlNetModel.from_pretrained(path, torch_dtype=where.torch_dtype, local_files_only=True)
        else:
            kwargs = {"config": str(Path(config).resolve())} if config is not None else {}
            model = ControlNetModel.from_single_file(
                path, torch_dtype=where.torch_dtype, local_files_only=True, **kwargs
            )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsupportedError(
            f"diffusers could not load this ControlNet ({text}); for a single file, give "
            "--control-config DIR, a diffusers ControlNet folder of the same architecture",
            path=path,
        ) from exc
    return model.to(where.device)


def open_image(path: str | Path) -> Any:
    """An RGB image from ``path``, or one line saying why not."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ArtifactNotFoundError("no such image", path=path)
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise UnsupportedError(f"not an image PIL can read ({exc.__class__.__name__})", path=path) from exc


#: The canny thresholds (A1111's ControlNet defaults, its "Threshold A" and "Threshold B").
CANNY_LOW, CANNY_HIGH = 100, 200


def crop_and_resize(image: Any, width: int, height: int) -> Any:
    """``image`` cut to the aspect ratio of ``width``×``height`` about its centre, then resized to
    it: A1111 ControlNet's default resize mode, "Crop and Resize" (nothing is stretched)."""
    w, h = image.size
    scale = max(width / w, height / h)  # the side that fits exactly; the other is cropped
    crop_w, crop_h = round(width / scale), round(height / scale)
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    return image.crop((left, top, left + crop_w, top + crop_h)).resize((width, height))


def canny(image: Any, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> Any:
    """Canny edges of ``image`` as a white-on-black RGB image (the canny ControlNets' input)."""
    import cv2
    import numpy as np
    from PIL import Image

    edges = cv2.Canny(np.asarray(image.convert("RGB")), low, high)
    return Image.fromarray(np.stack([edges] * 3, axis=-1))
