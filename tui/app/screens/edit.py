"""Edit an artifact's own data: tags, note, preferred weight."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from loradex.adapters.ops.options import finite_number

from ..messages import EditRequest


def parse_weight(text: str) -> float | None:
    """A weight as typed: blank is "unset"; anything else must be a finite number."""
    text = text.strip()
    return finite_number(text, "weight") if text else None


class EditDialog(ModalScreen[EditRequest | None]):
    """Tags (comma-separated), a note and a preferred weight; ctrl+s or Save keeps them, escape drops them."""

    CSS_PATH = "edit.tcss"
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("ctrl+s", "save", "save")]

    def __init__(self, name: str, tags: list[str], notes: str, weight: float | None) -> None:
        super().__init__()
        self.artifact_name, self.tags, self.notes, self.weight = name, tags, notes, weight

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Edit {self.artifact_name}", id="title")
            yield Label("tags (comma-separated)")
            yield Input(", ".join(self.tags), id="tags")
            yield Label("preferred weight (blank: unset)")
            yield Input("" if self.weight is None else f"{self.weight:g}", id="weight")
            yield Label("note")
            yield TextArea(self.notes, id="notes")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#tags", Input).focus()

    def edits(self) -> EditRequest:
        tags = [t.strip() for t in self.query_one("#tags", Input).value.split(",") if t.strip()]
        weight = parse_weight(self.query_one("#weight", Input).value)
        return EditRequest(tags, self.query_one("#notes", TextArea).text, weight)

    def action_save(self) -> None:
        try:
            edits = self.edits()
        except ValueError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.dismiss(edits)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_save() if event.button.id == "save" else self.action_cancel()
