"""The mix tray: LoRAs gathered with a weight each, then mixed into one file or baked into a checkpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from loradex.adapters.words import count

from .edit import parse_weight


@dataclass
class TrayItem:
    artifact_id: int
    name: str
    path: str
    weight: float


@dataclass
class MixRequest:
    """What the tray asks for: ``mix`` into ``output``, or ``bake`` into ``base`` (a checkpoint path)."""

    op: str
    output: Path
    base: str | None = None


def _slug(items: list[TrayItem]) -> str:
    return "+".join(i.name for i in items)[:80] or "mix"


def default_output(items: list[TrayItem], base: str | None) -> str:
    """Beside the first LoRA (a mix) or the base (a bake: a folder for a diffusers folder base)."""
    if base:
        where = Path(base)
        stem = where.name if where.is_dir() else where.stem
        name = f"{stem}-{_slug(items)}" + ("" if where.is_dir() else ".safetensors")
        return str(where.parent / name)
    folder = Path(items[0].path).parent if items else Path.cwd()
    return str(folder / f"mix-{_slug(items)}.safetensors")


class WeightDialog(ModalScreen[float | None]):
    """Ask the weight an artifact goes into the tray with (enter keeps it, escape drops it)."""

    CSS_PATH = "mix_tray.tcss"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, name: str, weight: float) -> None:
        super().__init__()
        self.artifact_name, self.weight = name, weight

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Add {self.artifact_name} to the mix tray at weight", id="title")
            yield Input(f"{self.weight:g}", id="weight")
            yield Static("", id="error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            weight = parse_weight(event.value)
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.dismiss(1.0 if weight is None else weight)

    def action_cancel(self) -> None:
        self.dismiss(None)


class MixTrayScreen(ModalScreen[MixRequest | None]):
    """The tray's items (delete / x removes the highlighted one, c clears), an output path, and a
    checkpoint to bake into; Mix writes a LoRA, Bake a checkpoint."""

    CSS_PATH = "mix_tray.tcss"
    BINDINGS = [Binding("escape", "close", "close"), Binding("delete,x", "remove", "remove", key_display="del"),
                Binding("c", "clear", "clear")]

    def __init__(self, items: list[TrayItem], checkpoints: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.items = items  # the app's tray itself: removals here are removals there
        self.checkpoints = checkpoints
        self._edited = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Mix tray", id="title")
            yield OptionList(id="items")
            yield Label("bake into (blank: mix the LoRAs into one LoRA)")
            yield Select([(f"{name}  [{base}]  {path}", path) for name, path, base in self.checkpoints],
                         prompt="no checkpoint: mix", allow_blank=True, id="base")
            yield Label("output path")
            yield Input(default_output(self.items, None), id="output")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Mix", id="mix", variant="primary")
                yield Button("Bake", id="bake", variant="warning")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self.show_items()
        self.query_one("#items", OptionList).focus()

    def show_items(self) -> None:
        items = self.query_one("#items", OptionList)
        items.clear_options()
        for item in self.items:
            items.add_option(Option(f"{item.weight:>6g}  {item.name}   {item.path}", id=str(item.artifact_id)))
        if self.items:
            items.highlighted = 0
        self.query_one("#title", Label).update(f"Mix tray: {count(len(self.items), 'items')}")

    def base(self) -> str | None:
        value = self.query_one("#base", Select).value
        return None if value is Select.NULL or not value else str(value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if not self._edited:
            output = self.query_one("#output", Input)
            output.value = default_output(self.items, self.base())
            self._edited = False

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "output" and event.value != default_output(self.items, self.base()):
            self._edited = True

    def action_remove(self) -> None:
        index = self.query_one("#items", OptionList).highlighted
        if index is not None and 0 <= index < len(self.items):
            self.items.pop(index)
            self.show_items()
            if not self._edited:
                self.query_one("#output", Input).value = default_output(self.items, self.base())
                self._edited = False

    def action_clear(self) -> None:
        self.items.clear()
        self.show_items()

    def action_close(self) -> None:
        self.dismiss(None)

    def request(self, op: str) -> MixRequest | None:
        error = self.query_one("#error", Static)
        output = self.query_one("#output", Input).value.strip()
        if not self.items:
            error.update("the tray is empty")
            return None
        if not output:
            error.update("give an output path")
            return None
        base = self.base()
        if op == "bake" and base is None:
            error.update("choose the checkpoint to bake into")
            return None
        return MixRequest(op, Path(os.path.expanduser(output)), base if op == "bake" else None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "close":
            self.dismiss(None)
            return
        request = self.request(event.button.id or "")
        if request is not None:
            self.dismiss(request)
