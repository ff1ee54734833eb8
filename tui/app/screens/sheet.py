"""A quick-test's contact sheet as a grid of its images, with the seeds and scales as text.

The images are drawn with half cells (every terminal, and tests), at a resolution where the
labels painted into the sheet's PNG cannot be read: the labels here are Textual text around the
images, one row per seed and one column per scale, as on the sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


@dataclass(frozen=True)
class SheetImage:
    """One image of the grid: its row (seed), its column (scale) and its file."""

    seed: int
    scale: float
    path: str


class SheetScreen(ModalScreen[None]):
    CSS_PATH = "sheet.tcss"
    BINDINGS = [Binding("escape", "dismiss", "close"), Binding("q", "dismiss", "close", show=False)]

    def __init__(self, sheet: Path, caption: str = "", images: Sequence[SheetImage] = ()) -> None:
        super().__init__()
        self.sheet, self.caption, self.images = Path(sheet), caption, list(images)

    def compose(self) -> ComposeResult:
        from textual_image.widget import HalfcellImage

        seeds = list(dict.fromkeys(i.seed for i in self.images))
        scales = list(dict.fromkeys(i.scale for i in self.images))
        at = {(i.seed, i.scale): i.path for i in self.images}
        with Vertical(id="dialog"):
            yield Label(self.caption or str(self.sheet), id="caption")
            with VerticalScroll(id="grid"):
                with Horizontal(classes="sheet-row"):
                    yield Label("", classes="seed")
                    for scale in scales:
                        yield Label(f"scale: {scale:g}", classes="scale")
                for seed in seeds:
                    with Horizontal(classes="sheet-row"):
                        yield Label(f"seed: {seed}", classes="seed")
                        for scale in scales:
                            path = at.get((seed, scale))
                            yield (
                                HalfcellImage(path, classes="cell")
                                if path and Path(path).is_file()
                                else Static("not rendered", classes="cell missing")
                            )
            yield Label(f"{self.sheet}   (escape closes)", id="path")
