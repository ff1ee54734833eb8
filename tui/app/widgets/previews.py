"""Preview images of an artifact, each with its prompt, seed, scale and the adapters applied at their
weights; a missing file says so.

Drawn with textual-image's half-cell renderer (two pixels per cell in colour): it works in every
terminal, in tmux and in SVG screenshots, and renders the same everywhere, so snapshots are stable.
textual-image asks the terminal for its cell size when imported, which it cannot do once Textual
owns the terminal: the app imports this module before it starts.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import HorizontalScroll, Vertical
from textual.widgets import Static
from textual_image.widget import HalfcellImage

from loradex.adapters.words import printable
from loradex.registry.queries.views import applied

SHOWN = 6
THUMBNAIL = (96, 96)  # pixels: more than the cells can show, so the renderer's scaling decides


def caption(preview, shown_path: str) -> Text:
    how = ", ".join(
        f"{name} {value:g}" for name, value in (("scale", preview.scale), ("seed", preview.seed)) if value is not None
    )
    text = Text(how or printable(Path(shown_path).name, one_line=True), style="bold")
    if weights := applied(preview):  # which adapters made it, at which weights: not only this one
        text.append(f"\n{printable(weights)}", style="")
    if preview.prompt:
        text.append(f"\n{printable(preview.prompt)}", style="")
    return text


def thumbnail(path: str) -> PILImage.Image | str:
    """The image, small, in RGB; or why it cannot be shown."""
    if not Path(path).is_file():
        return "file missing"
    try:
        with PILImage.open(path) as image:
            image.thumbnail(THUMBNAIL)
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        return f"unreadable: {exc}"


class PreviewCard(Vertical):
    DEFAULT_CSS = """
    PreviewCard { width: 22; height: auto; margin: 0 1 0 0; }
    PreviewCard HalfcellImage { width: 20; height: 10; }
    PreviewCard .missing { width: 20; height: 10; content-align: center middle; color: $error;
                           border: dashed $error; }
    PreviewCard .caption { width: 20; height: auto; max-height: 3; color: $text-muted; }
    """

    def __init__(self, preview, shown_path: str) -> None:
        super().__init__()
        self.preview = preview
        self.shown_path = shown_path

    def compose(self) -> ComposeResult:
        image = thumbnail(self.preview.path)
        if isinstance(image, str):
            yield Static(Text(printable(f"{image}\n{self.shown_path}")), classes="missing")
        else:
            yield HalfcellImage(image)
        yield Static(caption(self.preview, self.shown_path), classes="caption")


class Previews(Vertical):
    DEFAULT_CSS = """
    Previews { height: auto; border: round $primary-background; padding: 0 1; }
    Previews HorizontalScroll { height: auto; }
    Previews .none { color: $text-muted; }
    """

    def __init__(self, previews, shown_path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.previews = list(previews)
        self.shown = shown_path
        self.border_title = f"previews ({len(self.previews)})"

    def compose(self) -> ComposeResult:
        if not self.previews:
            yield Static("no previews: loradex try ADAPTER records some", classes="none")
            return
        with HorizontalScroll():
            for preview in self.previews[:SHOWN]:
                yield PreviewCard(preview, self.shown(preview.path))
