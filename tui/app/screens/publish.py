"""Publishing to the Hub: the repo and license first, then the dry run's card to read, then confirm."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, Static

from loradex.adapters.words import count
from loradex.adapters.words import size as size_text
from loradex.registry.hub.cards import split_front_matter

from ..messages import PublishRequest


class PublishForm(ModalScreen[PublishRequest | None]):
    """Ask the repo (owner/name) and an optional license; enter goes on to the dry run."""

    CSS_PATH = "publish.tcss"
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, name: str, repo: str = "", license: str = "") -> None:
        super().__init__()
        self.artifact_name, self.repo, self.license = name, repo, license

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Publish {self.artifact_name} to the Hugging Face Hub", id="title")
            yield Label("repo (owner/name)")
            yield Input(self.repo, placeholder="you/" + self.artifact_name, id="repo")
            yield Label("license (blank: none in the card)")
            yield Input(self.license, placeholder="openrail++, mit, …", id="license")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Show the card", id="next", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#repo", Input).focus()

    def action_next(self) -> None:
        repo = self.query_one("#repo", Input).value.strip()
        if repo.count("/") != 1 or not all(repo.split("/")):
            self.query_one("#error", Static).update("the repo is owner/name")
            return
        self.dismiss(PublishRequest(repo, self.query_one("#license", Input).value.strip() or None))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_next() if event.button.id == "next" else self.action_cancel()


class PublishPreview(ModalScreen[bool]):
    """The card and files a publication would send (from a dry run); Publish sends them."""

    CSS_PATH = "publish.tcss"
    BINDINGS = [Binding("escape", "answer(False)", "cancel")]

    def __init__(self, repo: str, card: str, files: list[dict]) -> None:
        super().__init__()
        self.repo, self.card, self.files = repo, card, files

    def compose(self) -> ComposeResult:
        with Vertical(id="preview"):
            yield Label(f"Publish to {self.repo}: {count(len(self.files), 'files')}", id="title")
            front, body = split_front_matter(self.card)
            with VerticalScroll(id="card"):
                if front is not None:  # YAML as YAML: Markdown would read it as a rule and one paragraph
                    yield Static(
                        Syntax(f"---\n{front}\n---", "yaml", theme="ansi_dark", background_color="default"),
                        id="front-matter",
                    )
                yield Markdown(body, id="markdown")
            yield Static(
                "\n".join(f"{f['path_in_repo']}  ({size_text(int(f['size']))})" for f in self.files), id="files"
            )
            with Horizontal(id="buttons"):
                yield Button("Publish", id="publish", variant="error")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#card", VerticalScroll).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "publish")
