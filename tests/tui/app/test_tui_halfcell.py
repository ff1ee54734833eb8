"""The half-cell picture: two pixels per cell, the upper one's colour on the lower one's."""

from __future__ import annotations

from PIL import Image
from rich.console import Console

from loradex.tui.app.widgets.halfcell import HalfCells

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def cells(image: Image.Image, width: int, height: int) -> list[list[tuple[str, tuple, tuple]]]:
    """The rows of cells drawn: each its character, its foreground and its background colour."""
    rows: list[list[tuple[str, tuple, tuple]]] = [[]]
    for segment in Console().render(HalfCells(image, width, height)):
        if segment.text == "\n":
            rows.append([])
        else:
            style = segment.style
            rows[-1].append((segment.text, style.color.triplet, style.bgcolor.triplet))
    return [row for row in rows if row]


def test_each_cell_shows_the_upper_pixel_on_the_lower_one():
    image = Image.new("RGB", (2, 2))
    image.putdata([RED, GREEN, BLUE, WHITE])
    assert cells(image, 2, 1) == [[("▀", RED, BLUE), ("▀", GREEN, WHITE)]]


def test_the_picture_is_scaled_to_the_cells_given():
    drawn = cells(Image.new("RGB", (96, 64), GREEN), 20, 10)
    assert len(drawn) == 10 and all(len(row) == 20 for row in drawn)
    assert {cell for row in drawn for cell in row} == {("▀", GREEN, GREEN)}
