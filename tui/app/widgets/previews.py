"""Preview images of an artifact, each with its prompt, seed, scale and the adapters applied at their
weights, and Civitai's example images with how they were made (seed, steps, CFG, sampler, prompt
and negative prompt); a missing file says so.

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
from loradex.registry.queries.views import applied, settings

SHOWN = 6
THUMBNAIL = (96, 96)  # pixels: more than the cells can show, so the renderer's scaling decides


def caption(preview, shown_path: str) -> Text:
    how = ", ".join(settings(preview))
    text = Text(how or printable(Path(shown_path).name, one_line=True), style="bold")
    if preview.source == "civitai":
        text.append(f"\n{printable(preview.sampler, one_line=True)}" if preview.sampler else "", style="bold")
        text.append("\nfrom Civitai", style="italic")
    elif weights := applied(preview):  # which adapters made it, at which weights: not only this one
        text.append(f"\n{printable(weights)}", style="")
    if preview.prompt:
        text.append(f"\n{printable(preview.prompt)}", style="")
    if preview.source == "civitai" and preview.negative_prompt:
        text.append(f"\nnegative: {printable(preview.negative_prompt)}", style="dim")
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
    PreviewCard .caption.example { max-height: 9; }
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
        example = " example" if self.preview.source == "civitai" else ""  # its prompt is what it is shown for
        yield Static(caption(self.preview, self.shown_path), classes="caption" + example)


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
        examples = sum(p.source == "civitai" for p in self.previews)
        self.border_title = f"previews ({len(self.previews)}" + (f", {examples} from Civitai)" if examples else ")")

    def compose(self) -> ComposeResult:
        if not self.previews:
            yield Static("no previews: loradex try ADAPTER records some", classes="none")
            return
        with HorizontalScroll():
            for preview in self.previews[:SHOWN]:
                yield PreviewCard(preview, self.shown(preview.path))
