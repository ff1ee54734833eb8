"""The contact sheet of a seed × scale grid: one row per seed, one column per scale, labelled
the way A1111's X/Y plot labels its cells ("seed: 7", "scale: 0.5"), with a title line."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

#: Cells are drawn at least this wide (tiny test bases render 16-pixel images) and at most this.
_MIN_CELL, _MAX_CELL = 128, 384


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def contact_sheet(
    cells: Sequence[Sequence[Any | None]],
    seeds: Sequence[int],
    scales: Sequence[float],
    title: str,
    *,
    control: tuple[str, Any] | None = None,
) -> Any:
    """A PIL image of ``cells[row][column]`` (None: not rendered, drawn as an empty frame).

    ``control``: (label, image) of a ControlNet's control image (edges after canny), drawn in a
    first column of its own, in the first row, so a sheet shows what steered it.
    """
    from PIL import Image, ImageDraw

    sample = next((c for row in cells for c in row if c is not None), None)
    w, h = sample.size if sample is not None else (_MIN_CELL, _MIN_CELL)
    zoom = max(1.0, _MIN_CELL / max(w, h))
    zoom = min(zoom, _MAX_CELL / max(w, h)) if max(w, h) * zoom > _MAX_CELL else zoom
    cw, ch = round(w * zoom), round(h * zoom)
    font = _font(max(12, min(24, cw // 10)))
    label_w = max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(f"seed: {s}", font=font) for s in seeds) + 16
    pad, line = 8, font.size + 6
    left = label_w + (cw + pad if control is not None else 0)  # where the scale columns start
    width = int(left + len(scales) * (cw + pad) + pad)
    title_lines = textwrap.wrap(title, width=max(20, int(width / (font.size * 0.55)))) or [""]
    top = pad + line * len(title_lines) + line
    sheet = Image.new("RGB", (width, top + len(seeds) * (ch + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for i, text in enumerate(title_lines):
        draw.text((pad, pad + i * line), text, fill="black", font=font)
    resample = Image.Resampling.NEAREST if zoom >= 2 else Image.Resampling.LANCZOS
    if control is not None:
        label, picture = control
        draw.text((label_w + cw / 2, top - line / 2), label, fill="black", font=font, anchor="mm")
        sheet.paste(picture.convert("RGB").resize((cw, ch), resample), (int(label_w), top))
    for j, scale in enumerate(scales):
        x = left + j * (cw + pad)
        draw.text((x + cw / 2, top - line / 2), f"scale: {scale:g}", fill="black", font=font, anchor="mm")
    for i, seed in enumerate(seeds):
        y = top + i * (ch + pad)
        draw.text((label_w - 8, y + ch / 2), f"seed: {seed}", fill="black", font=font, anchor="rm")
        for j in range(len(scales)):
            x = int(left + j * (cw + pad))
            cell = cells[i][j] if i < len(cells) and j < len(cells[i]) else None
            if cell is None:
                draw.rectangle([x, y, x + cw - 1, y + ch - 1], outline="gray")
            else:
                sheet.paste(cell.convert("RGB").resize((cw, ch), resample), (x, y))
    return sheet
