"""Driving the Textual app in tests: its notifications, waiting for a condition (workers are
threads), choosing a row, adding it to the mix tray, and what a widget shows as plain text."""

from __future__ import annotations

import asyncio
import functools
import io
import time

from rich.console import Console
from textual.widgets import Input

from loradex.tui.app.screens.mix_tray import WeightDialog
from loradex.tui.app.widgets.artifact_table import ArtifactTable


def sync(test):
    """Run an async pilot test under plain pytest (no asyncio plugin here); fixtures pass through."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return run


def notes(app) -> list[str]:
    """Every notification ``app`` posted (conftest's ``notifications_kept``), in order."""
    return [message for message, _ in vars(app).get("posted", [])]


def errors(app) -> list[str]:
    return [message for message, severity in vars(app).get("posted", []) if severity == "error"]


async def until(pilot, check, timeout: float = 30.0) -> None:
    """Let the app run until ``check()`` is true (workers are threads: the test waits for them)."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out; notifications: {notes(pilot.app)}")
        await pilot.pause(0.05)


def select(app, name: str) -> None:
    table = app.screen.query_one(ArtifactTable)
    table.cursor = next(i for i, row in enumerate(table.rows) if row.name == name)


async def add_to_tray(pilot, name: str, weight: str | None = None) -> None:
    select(pilot.app, name)
    await pilot.press("a")
    # Until its input has the focus (the dialog's on_mount gives it): an enter pressed before
    # reaches no widget, and the dialog stays open.
    await until(pilot, lambda: isinstance(pilot.app.screen, WeightDialog) and isinstance(pilot.app.focused, Input))
    if weight is not None:
        pilot.app.screen.query_one(Input).value = weight
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(pilot.app.screen, WeightDialog))


def plain(widget) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()
