"""A quick-test's contact sheet, drawn with half cells (works in every terminal, and in tests)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class SheetScreen(ModalScreen[None]):
    CSS_PATH = "sheet.tcss"
    BINDINGS = [Binding("escape", "dismiss", "close"), Binding("q", "dismiss", "close", show=False)]

    def __init__(self, sheet: Path, caption: str = "") -> None:
        super().__init__()
        self.sheet, self.caption = Path(sheet), caption

    def compose(self) -> ComposeResult:
        from textual_image.widget import HalfcellImage

        with Vertical(id="dialog"):
            yield Label(self.caption or str(self.sheet), id="caption")
            yield HalfcellImage(self.sheet, id="image")
            yield Label(f"{self.sheet}   (escape closes)", id="path")
