"""The mix tray: LoRAs gathered with a weight each, then mixed into one file or baked into a checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from loradex.adapters.ops.options import parse_block_weights
from loradex.adapters.words import count
from loradex.registry.queries.checkpoints import Checkpoint

from ..messages import MixRequest, TrayItem
from .edit import parse_weight

METHODS = [("concat: exact (rank = the sum of the ranks)", "concat"), ("svd: best approximation at a rank", "svd")]


def _slug(items: list[TrayItem]) -> str:
    return "+".join(i.name for i in items)[:80] or "mix"


def default_output(items: list[TrayItem], base: str | None, outputs: Path) -> str:
    """In the catalog's ``outputs`` folder, never beside an input (a folder of downloads, a shared
    models folder): ``mix-A+B.safetensors``, or the base's name first for a bake (a folder for a
    diffusers folder base)."""
    if base:
        where = Path(base)
        stem = where.name if where.is_dir() else where.stem
        return str(outputs / (f"{stem}-{_slug(items)}" + ("" if where.is_dir() else ".safetensors")))
    return str(outputs / f"mix-{_slug(items)}.safetensors")


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
    """The tray's items (delete / x removes the highlighted one, c clears), the mix method (and rank
    for svd) and block weights (as ``--block-weights`` takes them), an output path (in ``outputs`` by
    default), and a checkpoint to bake into; Mix writes a LoRA, Bake a checkpoint."""

    CSS_PATH = "mix_tray.tcss"
    BINDINGS = [
        Binding("escape", "close", "close"),
        Binding("delete,x", "remove", "remove", key_display="del"),
        Binding("c", "clear", "clear"),
    ]

    def __init__(self, items: list[TrayItem], checkpoints: list[Checkpoint], outputs: Path) -> None:
        super().__init__()
        self.items = items  # the app's tray itself: removals here are removals there
        self.checkpoints = checkpoints
        self.outputs = outputs
        self._edited = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Mix tray", id="title")
            yield OptionList(id="items")
            yield Label("bake into (blank: mix the LoRAs into one LoRA)")
            yield Select(
                [(f"{name}  [{base}]  {path}", path) for name, path, base in self.checkpoints],
                prompt="no checkpoint: mix",
                allow_blank=True,
                id="base",
            )
            with Horizontal(id="how"):
                yield Select(METHODS, value="concat", allow_blank=False, id="method")
                yield Input(placeholder="rank (svd)", id="rank", disabled=True)
            yield Input(
                placeholder="block weights (mix): IN=1,MID=0.5,TE=0 · a preset such as OUTALL · a vector of 17 numbers",
                id="block-weights",
            )
            yield Label("output path")
            yield Input(self.default_output(), id="output")
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

    def default_output(self) -> str:
        return default_output(self.items, self.base() if self.is_mounted else None, self.outputs)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "method":
            self.query_one("#rank", Input).disabled = event.value != "svd"
        elif not self._edited:
            self.query_one("#output", Input).value = self.default_output()
            self._edited = False

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "output" and event.value != self.default_output():
            self._edited = True

    def action_remove(self) -> None:
        index = self.query_one("#items", OptionList).highlighted
        if index is not None and 0 <= index < len(self.items):
            self.items.pop(index)
            self.show_items()
            if not self._edited:
                self.query_one("#output", Input).value = self.default_output()
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
        block_weights = None
        if text := self.query_one("#block-weights", Input).value.strip():
            if op == "bake":
                error.update("block weights apply to a mix; clear them to bake")
                return None
            try:
                block_weights = parse_block_weights(text)
            except ValueError as exc:
                error.update(f"block weights: {exc}")
                return None
        method, rank = str(self.query_one("#method", Select).value), None
        if op == "mix" and method == "svd":
            text = self.query_one("#rank", Input).value.strip()
            if not text.isdigit() or int(text) < 1:
                error.update(
                    f"the svd method needs a rank, a whole number from 1 (not {text!r})"
                    if text
                    else "the svd method needs a rank"
                )
                return None
            rank = int(text)
        return MixRequest(
            op,
            Path(os.path.expanduser(output)),
            base if op == "bake" else None,
            method=method if op == "mix" else "concat",
            rank=rank,
            block_weights=block_weights,
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "close":
            self.dismiss(None)
            return
        request = self.request(event.button.id or "")
        if request is not None:
            self.dismiss(request)
