"""The app's job runner: a flow (:mod:`.flows`) awaits ``app.jobs.run(job)``, and the job's slow
half (a scan, a bake, a render) runs in a Textual thread worker meanwhile, with a progress dialog.

The thread never touches a widget: it posts :class:`~.messages.JobProgressed` to its dialog
(``post_message`` is thread-safe and, unlike ``call_from_thread``, never blocks on an app that is
shutting down) and hands its outcome back to the awaiting flow through the event loop. A cancelled
worker makes the next progress event raise :class:`JobCancelled`, which every registry and
adapters job treats as "stop, leave outputs as they were"; the dialog stays until the thread has
really stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from textual.worker import Worker, get_current_worker

from loradex.adapters.errors import LoradexError
from loradex.adapters.progress import ProgressEvent

from .messages import JobProgressed

if TYPE_CHECKING:
    from textual.app import App

    from .screens.progress import ProgressDialog

T = TypeVar("T")

#: Seconds between two progress messages (a bake reports every tensor; the screen needs ~20 a second).
PROGRESS_EVERY = 0.05


class JobCancelled(Exception):
    """Raised in the worker by the progress callback once the user cancelled the job."""


@dataclass
class Job(Generic[T]):
    """One action's slow work.

    Attributes:
        title: what the progress dialog says while it runs ("Baking …").
        run: called in a worker thread with a progress callback; returns the result the flow
            awaits (never None: None tells the flow the job did not finish).
        cancelled: the message when the user cancelled (past tense).
        dialog: show a progress dialog (quick edits run without one, and are not cancelled).
    """

    title: str
    run: Callable[[Callable[[ProgressEvent], None]], T]
    cancelled: str = "Cancelled."
    dialog: bool = True


@dataclass(frozen=True)
class _Ended:
    """How a job's thread ended: its result, one line of error, or cancelled."""

    result: Any = None
    error: str | None = None
    cancelled: bool = False


def error_line(exc: BaseException) -> str:
    """An exception as one line for a notification: LoradexError's own message, else its type too."""
    if isinstance(exc, LoradexError):
        return str(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobRunner:
    """Runs the app's jobs one at a time (those with a dialog; quick edits alongside)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.dialog: ProgressDialog | None = None  #: the running job's, while one runs

    async def run(self, job: Job[T]) -> T | None:
        """Run ``job`` in a thread worker and return its result; None when it failed, was
        cancelled or could not start, each already said in a notification."""
        dialog = None
        if job.dialog:
            if self.dialog is not None:
                self.app.notify("Another job is still running; wait for it or cancel it.", severity="warning")
                return None
            from .screens.progress import ProgressDialog

            dialog = self.dialog = ProgressDialog(job.title, on_cancel=lambda: worker.cancel())
            self.app.push_screen(dialog)
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[_Ended] = loop.create_future()
        worker: Worker[None] = self.app.run_worker(
            partial(self._in_thread, job, dialog, partial(_hand_back, loop, ended)),
            thread=True,
            group="job" if dialog else "edit",
            exit_on_error=False,
        )
        try:
            outcome = await ended
        except asyncio.CancelledError:  # the flow is cancelled (the app quits): the thread stops too
            worker.cancel()
            raise
        if dialog is not None:
            self.dialog = None
            dialog.finish()
        if outcome.cancelled:
            self.app.notify(job.cancelled, severity="warning")
            return None
        if outcome.error is not None:
            self.app.notify(outcome.error, title=job.title.rstrip("…").strip(), severity="error")
            return None
        return outcome.result

    @staticmethod
    def _in_thread(job: Job, dialog: ProgressDialog | None, hand_back: Callable[[_Ended], None]) -> None:
        worker = get_current_worker()
        last = 0.0

        def progress(event: ProgressEvent) -> None:
            nonlocal last
            if dialog is None:
                return
            if worker.is_cancelled:
                raise JobCancelled()
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY or (event.total and event.done >= event.total):
                last = now
                dialog.post_message(JobProgressed(event))

        try:
            result = job.run(progress)
        except JobCancelled:
            hand_back(_Ended(cancelled=True))
        except Exception as exc:  # LoradexError and anything else: a notification, never a crash
            hand_back(_Ended(cancelled=True) if worker.is_cancelled else _Ended(error=error_line(exc)))
        else:
            hand_back(_Ended(result=result))


def _hand_back(loop: asyncio.AbstractEventLoop, ended: asyncio.Future[_Ended], outcome: _Ended) -> None:
    """From the thread: settle the future the flow awaits, on the app's loop (gone once the app has quit)."""

    def settle() -> None:
        if not ended.done():
            ended.set_result(outcome)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody awaits any more
        pass
