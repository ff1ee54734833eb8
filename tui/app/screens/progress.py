"""The progress dialog of a running job: a bar, what it is doing, and escape / Cancel to stop it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static

from loradex.adapters.progress import ProgressEvent

from ..messages import JobProgressed


class ProgressDialog(ModalScreen[None]):
    """Shown while a job runs (its thread posts :class:`JobProgressed` here); the job runner
    dismisses it when the job ends (done, failed or cancelled)."""

    CSS_PATH = "progress.tcss"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, on_cancel) -> None:
        super().__init__()
        self.title_text = title
        self.on_cancel = on_cancel
        self.cancelling = False
        self._finished = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title")
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Static("starting…", id="status")
            yield Button("Cancel", id="cancel", variant="error")

    def show(self, event: ProgressEvent) -> None:
        if self.cancelling:
            return
        bar = self.query_one(ProgressBar)
        if event.total:
            bar.update(total=event.total, progress=event.done)
        else:
            bar.update(total=None)
        item = event.item or ""
        if len(item) > 60:
            item = "…" + item[-59:]
        self.query_one("#status", Static).update(" ".join(p for p in (event.phase, event.amount(), item) if p))

    def on_job_progressed(self, message: JobProgressed) -> None:
        self.show(message.event)

    def action_cancel(self) -> None:
        if self.cancelling:
            return
        self.cancelling = True
        self.query_one("#status", Static).update("cancelling after the current step…")
        self.query_one(Button).disabled = True
        self.on_cancel()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def finish(self) -> None:
        """Close (now, or as soon as this dialog is on top again)."""
        if self.is_active:
            self.dismiss()
        else:
            self._finished = True

    def on_screen_resume(self) -> None:
        if self._finished:
            self.dismiss()
