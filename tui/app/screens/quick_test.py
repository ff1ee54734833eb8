"""The quick-test form: base, prompt, seeds, scales, steps, size, weight, output folder, and a
ControlNet's control image (with canny edges, for a plain photo)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from loradex.adapters.generate.grid_options import parse_numbers, parse_size
from loradex.registry.queries.checkpoints import Checkpoint

from ..messages import QuickTestRequest

FIELDS = ("prompt", "seeds", "scales", "steps", "size", "weight", "control", "out")
DEFAULTS = {"prompt": "", "seeds": "1,2", "scales": "0,0.5,1", "steps": "20", "size": "", "weight": "1"}


def parse_form(values: dict[str, str], base: str | None) -> QuickTestRequest:
    """The form's texts as a request; ValueError says which field is wrong."""
    if not base:
        raise ValueError("choose a base checkpoint")
    try:
        steps = int(values["steps"])
    except ValueError:
        raise ValueError(f"steps: {values['steps']!r} is not a whole number") from None
    if steps < 1:
        raise ValueError("steps: at least 1")
    try:
        weight = float(values["weight"] or "1")
    except ValueError:
        raise ValueError(f"weight: {values['weight']!r} is not a number") from None
    if not values["out"].strip():
        raise ValueError("give an output folder")
    control = values.get("control", "").strip()
    canny = bool(values.get("canny"))
    if canny and not control:
        raise ValueError("canny: give a control image to run it on")
    return QuickTestRequest(
        base=base,
        prompt=values["prompt"].strip() or None,
        seeds=parse_numbers(values["seeds"], int, "seeds"),
        scales=parse_numbers(values["scales"], float, "scales"),
        steps=steps,
        size=parse_size(values["size"], "size"),
        out=Path(os.path.expanduser(values["out"].strip())),
        weight=weight,
        control_image=Path(os.path.expanduser(control)) if control else None,
        canny=canny,
    )


class QuickTestDialog(ModalScreen[QuickTestRequest | None]):
    """Render a seed × scale grid of one adapter on a catalogued checkpoint (enter or Run starts it)."""

    CSS_PATH = "quick_test.tcss"
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("ctrl+r", "run", "run")]

    def __init__(self, name: str, checkpoints: list[Checkpoint], *, base: str | None, values: dict[str, Any]) -> None:
        super().__init__()
        self.artifact_name, self.checkpoints, self.base, self.values = name, checkpoints, base, values
        self.given: dict[str, str] = {}  #: the form's texts when Run was pressed

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Quick-test {self.artifact_name}", id="title")
            with VerticalScroll(id="fields"):
                yield Label("base checkpoint")
                paths = [path for _, path, _ in self.checkpoints]
                yield Select(
                    [(f"{name}  [{base}]  {path}", path) for name, path, base in self.checkpoints],
                    prompt="choose a checkpoint",
                    id="base",
                    value=self.base if self.base in paths else Select.NULL,
                )
                hints = {
                    "prompt": "prompt (blank: the adapter's trigger words)",
                    "seeds": "seeds (rows)",
                    "scales": "scales (columns; 0 is the base alone)",
                    "steps": "steps",
                    "size": "size WIDTHxHEIGHT (blank: the base's own)",
                    "weight": "weight",
                    "control": "control image (ControlNet; cropped to the size as A1111 does)",
                    "out": "output folder",
                }
                for key in FIELDS:
                    yield Label(hints[key])
                    yield Input(str(self.values.get(key, DEFAULTS.get(key, ""))), id=key)
                    if key == "control":
                        yield Checkbox(
                            "canny edges of the control image first (a plain photo)",
                            bool(self.values.get("canny")),
                            id="canny",
                        )
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Run", id="run", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#prompt", Input).focus()

    def form(self) -> dict[str, str]:
        canny = "yes" if self.query_one("#canny", Checkbox).value else ""
        return {**{key: self.query_one(f"#{key}", Input).value for key in FIELDS}, "canny": canny}

    def action_run(self) -> None:
        value = self.query_one("#base", Select).value
        try:
            request = parse_form(self.form(), None if value is Select.NULL else str(value))
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.given = self.form()
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_run()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_run() if event.button.id == "run" else self.action_cancel()
