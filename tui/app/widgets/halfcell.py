"""A picture drawn in coloured half cells: each cell an upper half block (``▀``) in the colour of one
pixel on the colour of the pixel below it, so a cell shows two pixels. It works in every terminal,
in tmux and in SVG screenshots, and renders the same everywhere (snapshots are stable).

It asks nothing of the terminal. textual-image, which drew these before, asks the terminal for its
cell size and graphics protocols when its widget module is imported — which cannot be done once
Textual owns the terminal, so the app imported it, numpy and PIL with it, before starting: about
0.1 s of every first paint, for pictures that only the detail screen shows and that never needed
the answers. PIL is imported here when a picture is first drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.color import Color
from rich.color_triplet import ColorTriplet
from rich.console import Console, ConsoleOptions
from rich.console import RenderResult as RichRenderResult
from rich.segment import Segment
from rich.style import Style
from textual.app import RenderResult
from textual.widget import Widget

if TYPE_CHECKING:
    from PIL.Image import Image


class HalfCells:
    """The Rich renderable: ``image`` (RGB) scaled to ``width`` × ``height`` cells."""

    def __init__(self, image: Image, width: int, height: int) -> None:
        self.image, self.width, self.height = image, width, height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RichRenderResult:
        pixels = list(self.image.resize((self.width, 2 * self.height)).getdata())
        for top in range(0, len(pixels), 2 * self.width):
            upper, lower = pixels[top : top + self.width], pixels[top + self.width : top + 2 * self.width]
            for up, down in zip(upper, lower, strict=True):
                yield Segment("▀", Style(color=_colour(up), bgcolor=_colour(down)))
            yield Segment("\n")


def _colour(pixel: tuple[int, int, int]) -> Color:
    return Color.from_triplet(ColorTriplet(*pixel))


class HalfcellImage(Widget):
    """The picture ``image`` (a PIL image, or the path of an image file) scaled to the widget's
    size, which its CSS sets (width and height in cells)."""

    def __init__(self, image: Image | str | Path, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._source = image
        self._rgb: Image | None = None

    def render(self) -> RenderResult:
        width, height = self.content_size
        if not width or not height:
            return ""
        if self._rgb is None:
            self._rgb = _rgb(self._source)
        return HalfCells(self._rgb, width, height)


def _rgb(image: Image | str | Path) -> Image:
    if isinstance(image, (str, Path)):
        from PIL import Image as PILImage

        with PILImage.open(image) as opened:
            return opened.convert("RGB")
    return image.convert("RGB")
