"""The app's long-running work, each job in a Textual thread worker.

A :class:`Job` is two halves: ``run`` executes in the worker thread (it may take seconds to
minutes: a scan, a bake, a render) and gets a progress callback; ``done`` runs back on the UI
thread with the result. The worker never touches a widget: it reports through messages
(``post_message`` is thread-safe and, unlike ``call_from_thread``, never blocks on an app that is
shutting down). A cancelled worker makes the next progress event raise :class:`JobCancelled`, which
every registry and adapters job treats as "stop, leave outputs as they were".

The thread-side functions below (``rescan``, ``operation``, ``quick_test``, …) only call
``loradex.registry`` and ``loradex.adapters``; torch is imported inside them, in the worker.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from textual import work
from textual.message import Message
from textual.worker import Worker, get_current_worker

from loradex.adapters.errors import LoradexError
from loradex.adapters.progress import ProgressEvent

#: Seconds between two progress messages (a bake reports every tensor; the screen needs ~20 a second).
PROGRESS_EVERY = 0.05


class JobCancelled(Exception):
    """Raised in the worker by the progress callback once the user cancelled the job."""


@dataclass
class Job:
    """One action's work.

    Attributes:
        title: what the progress dialog says while it runs ("Baking …").
        run: called in the worker thread with a progress callback; its return value goes to ``done``.
        done: called on the UI thread with that value (notify, refill the table).
        cancelled: the message when the user cancelled (past tense).
        dialog: show a progress dialog (quick edits run without one).
    """

    title: str
    run: Callable[[Callable[[ProgressEvent], None]], Any]
    done: Callable[[Any], None]
    cancelled: str = "Cancelled."
    dialog: bool = True
    worker: Worker | None = field(default=None, repr=False)


class JobProgressed(Message):
    def __init__(self, job: Job, event: ProgressEvent) -> None:
        super().__init__()
        self.job, self.event = job, event


class JobEnded(Message):
    """The worker finished: ``result`` (success), ``error`` (one line) or ``cancelled``."""

    def __init__(self, job: Job, *, result: Any = None, error: str | None = None, cancelled: bool = False) -> None:
        super().__init__()
        self.job, self.result, self.error, self.cancelled = job, result, error, cancelled


def error_line(exc: BaseException) -> str:
    """An exception as one line for a notification: LoradexError's own message, else its type too."""
    if isinstance(exc, LoradexError):
        return str(exc)
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobRunner:
    """Mixed into the app: ``run_job`` starts a job; its progress and end arrive as messages."""

    @work(thread=True, exclusive=True, group="job", exit_on_error=False)
    def _job_worker(self, job: Job) -> None:
        worker = get_current_worker()
        job.worker = worker
        last = [0.0]

        def progress(event: ProgressEvent) -> None:
            if worker.is_cancelled:
                raise JobCancelled()
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY or (event.total and event.done >= event.total):
                last[0] = now
                self.post_message(JobProgressed(job, event))  # type: ignore[attr-defined]

        try:
            result = job.run(progress)
        except JobCancelled:
            self.post_message(JobEnded(job, cancelled=True))  # type: ignore[attr-defined]
        except Exception as exc:  # LoradexError and anything else: a notification, never a crash
            if worker.is_cancelled:
                self.post_message(JobEnded(job, cancelled=True))  # type: ignore[attr-defined]
            else:
                self.post_message(JobEnded(job, error=error_line(exc)))  # type: ignore[attr-defined]
        else:
            self.post_message(JobEnded(job, result=result))  # type: ignore[attr-defined]

    @work(thread=True, group="edit", exit_on_error=False)
    def _quick_worker(self, job: Job) -> None:
        try:
            result = job.run(lambda event: None)
        except Exception as exc:
            self.post_message(JobEnded(job, error=error_line(exc)))  # type: ignore[attr-defined]
        else:
            self.post_message(JobEnded(job, result=result))  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------
# The jobs (worker side)


@dataclass
class Rescanned:
    roots: list[str]
    absent: list[str]
    report: dict[str, Any]


def rescan(engine: Engine, progress: Callable[[ProgressEvent], None]) -> Rescanned:
    """Scan again every scan root the catalog records (those present; an unplugged one is skipped,
    so its files are not marked missing)."""
    from loradex.registry.services.scan import scan
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import ScanRoot

    with open_session(engine) as session:
        roots = [r.path for r in session.exec(select(ScanRoot).order_by(ScanRoot.path))]
    if not roots:
        raise LoradexError("the catalog records no scan roots yet; scan a folder first (loradex scan DIR)")
    present = [r for r in roots if os.path.exists(r)]
    absent = [r for r in roots if r not in present]
    if not present:
        raise LoradexError(f"none of the {len(roots)} scan roots is present (first: {roots[0]})")
    report = scan([Path(r) for r in present], engine=engine, progress=progress)
    return Rescanned(present, absent, report.to_dict())


def operation(
    engine: Engine,
    op: str,
    inputs: Sequence[tuple[str, float]],
    output: Path,
    progress: Callable[[ProgressEvent], None],
    *,
    base: str | None = None,
    method: str = "concat",
    rank: int | None = None,
) -> Any:
    """Mix ``inputs`` into ``output`` (op ``mix``: ``method`` concat, exact, or svd to ``rank``) or
    bake them into ``base`` (op ``bake``); the output is recorded in the catalog with its recipe.
    Returns the ``OpResult``."""
    from loradex.adapters.ops.recipe_sources import given
    from loradex.registry.services.runner import run_recipe

    params: dict[str, Any] = {"method": method, "rank": rank} if op == "mix" else {"allow_partial": False}
    recipe = given(
        op,
        [(ref, float(weight)) for ref, weight in inputs],
        base=base,
        output=Path(os.path.abspath(Path(output).expanduser())),
        **params,
    )
    return run_recipe(recipe, engine=engine, progress=progress)


@dataclass
class QuickTestRequest:
    """What the quick-test form asks for."""

    base: str
    prompt: str | None
    seeds: list[int]
    scales: list[float]
    steps: int
    size: tuple[int, int] | None
    out: Path
    weight: float = 1.0
    #: A ControlNet's control image, and whether canny runs on it first.
    control_image: Path | None = None
    canny: bool = False


@dataclass
class Tested:
    sheet: Path | None
    images: int
    recorded: int
    interrupted: bool
    loaded: bool  #: the base was loaded for this run (False: the warm one was used)
    cells: list[tuple[int, float, str]] = field(default_factory=list)  #: (seed, scale, PNG) of each image


class WarmBench:
    """The quick-test Workbench kept between runs: the same base is never loaded twice."""

    def __init__(self) -> None:
        self.base: str | None = None
        self.bench: Any = None

    def get(self, base: str) -> tuple[Any, bool]:
        key = os.path.abspath(base)
        if self.bench is not None and self.base == key:
            return self.bench, False
        from loradex.adapters.libraries import quiet

        quiet()
        from loradex.adapters.generate import Workbench

        self.bench, self.base = None, None  # the old pipeline goes before the new one is loaded
        bench = Workbench(key)
        self.bench, self.base = bench, key
        return bench, True


def quick_test(
    engine: Engine, warm: WarmBench, adapter: str, request: QuickTestRequest, progress: Callable[[ProgressEvent], None]
) -> Tested:
    """Render the seed × scale grid of ``adapter`` on the request's base (the warm Workbench), and
    record the images as the adapter's previews. Cancelling stops after the current step and keeps
    (and records) the finished images."""
    from loradex.adapters.generate.preflight import preflight

    worker = get_current_worker()
    preflight(
        request.base,
        [(adapter, request.weight)],
        size=request.size,
        out=request.out,
        prompt=request.prompt,
        control_image=request.control_image,
    )
    progress(ProgressEvent("load", 0, 0, request.base))
    bench, loaded = warm.get(request.base)
    progress(ProgressEvent("generate", 0, 0))

    def steps(event: ProgressEvent) -> None:  # a cancel stops the render through should_stop, not here
        try:
            progress(event)
        except JobCancelled:
            pass

    grid = bench.render(
        [(adapter, request.weight)],
        prompt=request.prompt,
        seeds=request.seeds,
        scales=request.scales,
        steps=request.steps,
        size=request.size,
        out=request.out,
        control_image=request.control_image,
        control_canny=request.canny,
        progress=steps,
        should_stop=lambda: worker.is_cancelled,
    )
    from loradex.registry.services.previews import record_previews

    recorded = record_previews(engine, grid.images, base_family=bench.base.family) if grid.images else 0
    return Tested(
        grid.sheet,
        len(grid.images),
        recorded,
        grid.interrupted,
        loaded,
        [(r.seed, r.scale, str(r.path)) for r in grid.images if r.path],
    )


@dataclass
class Edits:
    tags: list[str]
    notes: str
    weight: float | None


def save_edits(engine: Engine, artifact_id: int, edits: Edits) -> list[str]:
    """Set the artifact's tags (exactly ``edits.tags``), note and preferred weight. Returns its tags."""
    from loradex.registry.queries import lookup, orm
    from loradex.registry.services import edits as edits_module
    from loradex.registry.store.db import session as open_session

    with open_session(engine) as session:
        artifact = orm.resolve(session, str(artifact_id))
        present = set(lookup.tags_of(session, artifact))
        wanted = {lookup.tag_name(t) for t in edits.tags if t.strip()}
        tags = edits_module.set_tags(session, artifact, add=sorted(wanted - present), remove=sorted(present - wanted))
        edits_module.set_note(session, artifact, edits.notes)
        edits_module.set_preferred_weight(session, artifact, edits.weight)
    return tags


def forget(engine: Engine, artifact_id: int) -> tuple[str, str, bool]:
    """Remove the artifact's catalog row; the file stays. Returns (name, path, is_dir)."""
    from loradex.registry.queries import orm
    from loradex.registry.services import edits as edits_module
    from loradex.registry.store.db import session as open_session

    with open_session(engine) as session:
        artifact = orm.resolve(session, str(artifact_id))
        name, path, is_dir = artifact.name, artifact.path, artifact.is_dir
        edits_module.forget(session, artifact)
    return name, path, is_dir


def delete_file(path: str) -> str:
    """Delete a forgotten artifact's file (or folder) from disk."""
    target = Path(path)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    else:
        raise LoradexError("no such file (already gone)", path=target)
    return path
