"""The app's actions on artifacts: rescan, quick-test, the mix tray, edit, publish, forget.

Each action asks what it needs in a dialog (``screens/``), then runs its work as a
:class:`~.jobs.Job` in a worker (``jobs.py``), and says what it did in a notification, in the
past tense. An error is a notification too (severity error); the app keeps running.

They act on "the current artifact": the table's highlighted row on the main screen, the shown
artifact on a detail screen (any screen with an ``artifact_id``).
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
from textual.screen import ModalScreen, Screen

from loradex.adapters.words import count

from . import jobs
from .jobs import Job, JobEnded, JobProgressed
from .screens.mix_tray import MixRequest, TrayItem

if TYPE_CHECKING:
    from textual.app import App

    from .catalog_view import CatalogView

    # The type checker sees the app the mixin's methods run on; at run time the base is object.
    _App = App[None]
else:
    _App = object

#: Kinds the quick-test renders and the tray mixes.
TESTABLE = ("lora", "lycoris", "textual_inversion", "controlnet")
MIXABLE = ("lora", "lycoris")


class Actions(jobs.JobRunner, _App):
    """Mixed into :class:`~.application.LoradexApp` (which sets ``catalog``)."""

    catalog: CatalogView

    def init_actions(self) -> None:
        self.tray: list[TrayItem] = []
        self.warm = jobs.WarmBench()
        self.quick_test_values: dict[str, Any] = {}
        self.quick_test_base: str | None = None
        self.quick_test_root = Path(platformdirs.user_data_dir("loradex")) / "quick-tests"
        #: The Hub the publish action talks to (None: HF_ENDPOINT / the Hub), and its token
        #: (None: huggingface_hub's own resolution); set by tests.
        self.hub_endpoint: str | None = None
        self.hub_token: str | None = None
        self._publish_last: dict[str, str] = {}
        self._job: Job | None = None
        self._job_dialog: Any = None

    # -- running jobs -----------------------------------------------------------------

    def run_job(self, job: Job) -> None:
        """Start ``job`` in a worker (with its progress dialog unless ``job.dialog`` is False)."""
        if job.dialog:
            if self._job is not None:
                self.notify("Another job is still running; wait for it or cancel it.", severity="warning")
                return
            from .screens.progress import ProgressDialog

            self._job = job
            self._job_dialog = ProgressDialog(job.title, on_cancel=partial(self._cancel, job))
            self.push_screen(self._job_dialog)
            job.worker = self._job_worker(job)
        else:
            job.worker = self._quick_worker(job)

    def _cancel(self, job: Job) -> None:
        if job.worker is not None:
            job.worker.cancel()

    def on_job_progressed(self, message: JobProgressed) -> None:
        if message.job is self._job and self._job_dialog is not None:
            self._job_dialog.show(message.event)

    def on_job_ended(self, message: JobEnded) -> None:
        job = message.job
        if job is self._job:
            self._job = None
            if self._job_dialog is not None:
                self._job_dialog.finish()
                self._job_dialog = None
        if message.cancelled:
            self.notify(job.cancelled, severity="warning")
        elif message.error is not None:
            self.notify(message.error, title=job.title.rstrip("…").strip(), severity="error")
        else:
            try:
                job.done(message.result)
            except Exception as exc:
                self.notify(jobs.error_line(exc), severity="error")

    # -- the current artifact ---------------------------------------------------------

    def _base_screen(self) -> Screen:
        """The topmost screen that is not a dialog (the main or a detail screen)."""
        for screen in reversed(self.screen_stack):
            if not isinstance(screen, ModalScreen):
                return screen
        return self.screen

    def _main(self) -> Any:
        from .screens.main import MainScreen

        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def current_artifact_id(self) -> int | None:
        screen = self._base_screen()
        ident = getattr(screen, "artifact_id", None)
        if ident is not None:
            return int(ident)
        from .widgets.artifact_table import ArtifactTable

        tables = screen.query(ArtifactTable)
        row = tables.first().current if tables else None
        return row.id if row is not None else None

    def _current(self) -> tuple[Any, Any] | None:
        """The current artifact and its details, or None (with a warning) when there is none."""
        ident = self.current_artifact_id()
        if ident is None:
            self.notify("No artifact is selected.", severity="warning")
            return None
        try:
            return self.catalog.details(ident)
        except Exception as exc:
            self.notify(jobs.error_line(exc), severity="error")
            return None

    def reload(self, keep: int | None = None) -> None:
        """Show the catalog as it is now: the main screen's facets and rows (``keep`` selected) and
        the detail screen on top, if any."""
        main = self._main()
        if main is not None:
            main.reload(keep=keep)
        screen = self._base_screen()
        if screen is not main and hasattr(screen, "show"):
            try:
                screen.show()
            except Exception:  # the artifact it shows is gone: go back to the table
                self.pop_screen()

    # -- rescan -----------------------------------------------------------------------

    def action_rescan(self) -> None:
        """Scan the catalog's scan roots again."""
        engine = self.catalog.engine

        def done(result: jobs.Rescanned) -> None:
            r = result.report
            parts = [f"{r.get('added', 0)} added", f"{r.get('updated', 0)} updated", f"{r.get('missing', 0)} missing"]
            if r.get("errors"):
                parts.append(f"{len(r['errors'])} unreadable")
            absent = f"; skipped {count(len(result.absent), 'absent roots')}" if result.absent else ""
            self.notify(f"Rescanned {count(len(result.roots), 'roots')}: {', '.join(parts)}{absent}.")
            self.reload()

        self.run_job(
            Job(
                "Rescanning the scan roots…",
                partial(jobs.rescan, engine),
                done,
                cancelled="Cancelled the rescan; the files indexed so far are in the catalog.",
            )
        )

    # -- quick-test -------------------------------------------------------------------

    def action_quick_test(self) -> None:
        """Render a grid of the current adapter on a catalogued checkpoint and show its contact sheet."""
        found = self._current()
        if found is None:
            return
        artifact, _ = found
        if artifact.kind not in TESTABLE:
            self.notify(
                f"Quick-test renders LoRA, LyCORIS, textual-inversion and ControlNet artifacts; "
                f"{artifact.name} is {artifact.kind}.",
                severity="error",
            )
            return
        checkpoints = self.catalog.checkpoints()
        if not checkpoints:
            self.notify("The catalog holds no checkpoint to test on; scan one first.", severity="error")
            return
        family = artifact.base_override or artifact.base
        base = self.quick_test_base if self.quick_test_base in [p for _, p, _ in checkpoints] else None
        if base is None:  # a checkpoint of the adapter's family, a diffusers folder first (no configs needed)
            fitting = [c for c in checkpoints if c[2] == family] or checkpoints
            base = sorted(fitting, key=lambda c: not os.path.isdir(c[1]))[0][1]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        values = {**self.quick_test_values, "out": str(self.quick_test_root / f"{artifact.name}-{stamp}")}
        from .screens.quick_test import QuickTestDialog

        dialog = QuickTestDialog(artifact.name, checkpoints, base=base, values=values)

        def start(request: jobs.QuickTestRequest | None) -> None:
            if request is None:
                return
            self.quick_test_base = request.base
            self.quick_test_values = {k: v for k, v in dialog.given.items() if k != "out"}
            self._start_quick_test(artifact.id, artifact.name, artifact.path, request)

        self.push_screen(dialog, start)

    def _start_quick_test(self, ident: int, name: str, path: str, request: jobs.QuickTestRequest) -> None:
        engine, warm = self.catalog.engine, self.warm

        def done(result: jobs.Tested) -> None:
            how = "stopped after" if result.interrupted else "rendered"
            self.notify(
                f"Tested {name}: {how} {count(result.images, 'images')}, "
                f"recorded {count(result.recorded, 'previews')}"
                f"{'' if result.loaded else ' (the base was already loaded)'}.",
                severity="warning" if result.interrupted else "information",
            )
            self.reload(keep=ident)
            if result.sheet is not None:
                from .screens.sheet import SheetImage, SheetScreen

                self.push_screen(
                    SheetScreen(
                        result.sheet,
                        f"{name} on {Path(request.base).name}: {request.prompt or ''}",
                        [SheetImage(*cell) for cell in result.cells],
                    )
                )

        self.run_job(
            Job(
                f"Quick-testing {name}…",
                partial(jobs.quick_test, engine, warm, path, request),
                done,
                cancelled=f"Cancelled the quick-test of {name}.",
            )
        )

    # -- the mix tray -----------------------------------------------------------------

    def action_tray_add(self) -> None:
        """Add the current LoRA to the mix tray, at a weight asked for (its preferred weight, else 1)."""
        found = self._current()
        if found is None:
            return
        artifact, _ = found
        if artifact.kind not in MIXABLE:
            self.notify(
                f"The mix tray takes LoRA and LyCORIS artifacts; {artifact.name} is {artifact.kind}.", severity="error"
            )
            return
        from .screens.mix_tray import WeightDialog

        def add(weight: float | None) -> None:
            if weight is None:
                return
            known = next((i for i in self.tray if i.artifact_id == artifact.id), None)
            if known is not None:
                known.weight = weight
                self.notify(f"Set {artifact.name}'s weight in the tray to {weight:g}.")
                return
            self.tray.append(TrayItem(artifact.id, artifact.name, artifact.path, weight))
            self.notify(
                f"Added {artifact.name} to the mix tray at {weight:g} ({count(len(self.tray), 'items')}; m opens it)."
            )

        weight = artifact.preferred_weight if artifact.preferred_weight is not None else 1.0
        self.push_screen(WeightDialog(artifact.name, weight), add)

    def action_mix_tray(self) -> None:
        """Open the mix tray: remove items, then mix them into a LoRA or bake them into a checkpoint."""
        if not self.tray:
            self.notify("The mix tray is empty: add LoRAs with a.", severity="warning")
            return
        from .screens.mix_tray import MixTrayScreen

        self.push_screen(MixTrayScreen(self.tray, self.catalog.checkpoints(), self.catalog.outputs), self._start_mix)

    def _start_mix(self, request: MixRequest | None) -> None:
        if request is None:
            return
        engine = self.catalog.engine
        if request.output.parent == self.catalog.outputs:  # the default folder is made; a typed one must exist
            self.catalog.outputs.mkdir(parents=True, exist_ok=True)
        inputs = [(item.path, item.weight) for item in self.tray]
        names = ", ".join(f"{item.name}:{item.weight:g}" for item in self.tray)

        def done(result: Any) -> None:
            verb = "Baked" if request.op == "bake" else "Mixed"
            into = f" into {Path(request.base).name}" if request.base else ""
            self.notify(
                f"{verb} {names}{into} → {result.output}"
                f"{f' (catalogued as {result.artifact_name})' if result.artifact_name else ''}."
            )
            self.reload(keep=result.artifact_id)

        title = f"Baking into {Path(request.base).name}…" if request.op == "bake" else "Mixing…"
        self.run_job(
            Job(
                title,
                partial(
                    jobs.operation,
                    engine,
                    request.op,
                    inputs,
                    request.output,
                    base=request.base,
                    method=request.method,
                    rank=request.rank,
                ),
                done,
                cancelled=f"Cancelled the {request.op}; nothing was written ({request.output} is as it was).",
            )
        )

    # -- tags, note, weight -----------------------------------------------------------

    def action_edit(self) -> None:
        """Edit the current artifact's tags, note and preferred weight."""
        found = self._current()
        if found is None:
            return
        artifact, details = found
        from .screens.edit import EditDialog

        def save(edits: jobs.Edits | None) -> None:
            if edits is None:
                return

            def done(tags: list[str]) -> None:
                weight = "unset" if edits.weight is None else f"{edits.weight:g}"
                self.notify(
                    f"Tagged {artifact.name}: {', '.join(tags) or 'no tags'}; weight {weight}; "
                    f"note {'saved' if edits.notes.strip() else 'cleared'}."
                )
                self.reload(keep=artifact.id)

            self.run_job(
                Job(
                    f"Saving {artifact.name}…",
                    lambda progress: jobs.save_edits(self.catalog.engine, artifact.id, edits),
                    done,
                    dialog=False,
                )
            )

        self.push_screen(
            EditDialog(artifact.name, list(details.tags), artifact.notes or "", artifact.preferred_weight), save
        )

    # -- publish ----------------------------------------------------------------------

    def action_publish(self) -> None:
        """Publish the current adapter to the Hub: the dry run's card first, then, confirmed, the commit."""
        found = self._current()
        if found is None:
            return
        artifact, _ = found
        from .screens.publish import PublishForm, PublishPreview

        engine = self.catalog.engine

        def publish(dry_run: bool, repo: str, license: str | None, progress: Any) -> Any:
            from loradex.registry.hub.publish import publish as send

            return send(
                engine,
                str(artifact.id),
                repo,
                license=license,
                dry_run=dry_run,
                endpoint=self.hub_endpoint,
                token=self.hub_token,
            )

        def asked(answer: tuple[str, str | None] | None) -> None:
            if answer is None:
                return
            repo, license = answer
            self._publish_last = {"repo": repo, "license": license or ""}

            def published(result: Any) -> None:
                if result.changed:
                    self.notify(f"Published {artifact.name} to {result.url} (commit {str(result.commit)[:10]}).")
                else:
                    self.notify(f"{artifact.name} was already at {result.url}; nothing was sent.")
                self.reload(keep=artifact.id)

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.run_job(
                        Job(
                            f"Publishing {artifact.name} to {repo}…",
                            partial(publish, False, repo, license),
                            published,
                            cancelled=f"Cancelled publishing {artifact.name} (a commit already sent stays).",
                        )
                    )

            def planned(result: Any) -> None:
                self.push_screen(PublishPreview(repo, result.card, result.files), confirmed)

            self.run_job(
                Job(
                    f"Preparing the card of {artifact.name}…",
                    partial(publish, True, repo, license),
                    planned,
                    cancelled="Cancelled.",
                )
            )

        self.push_screen(
            PublishForm(artifact.name, self._publish_last.get("repo", ""), self._publish_last.get("license", "")), asked
        )

    # -- forget -----------------------------------------------------------------------

    def action_forget(self) -> None:
        """Remove the current artifact from the catalog; then, asked separately, its file from disk."""
        found = self._current()
        if found is None:
            return
        artifact, _ = found
        from .screens.confirm import ConfirmDialog

        engine = self.catalog.engine
        ident = artifact.id

        def deleted(path: str) -> None:
            self.notify(f"Deleted {path} from disk.")

        def delete_too(yes: bool | None) -> None:
            if yes:
                self.run_job(Job("Deleting…", lambda progress: jobs.delete_file(artifact.path), deleted, dialog=False))

        def forgotten(result: tuple[str, str, bool]) -> None:
            name, path, is_dir = result
            self.tray[:] = [i for i in self.tray if i.artifact_id != ident]
            self.notify(f"Forgot {name}; its file is still at {path}.")
            self.reload()
            if os.path.lexists(path):
                what = "folder (and everything in it)" if is_dir else "file"
                self.push_screen(
                    ConfirmDialog(
                        f"Also delete the {what} from disk?\n\n{path}\n\nThis cannot be undone.",
                        yes="Delete from disk",
                        no="Keep it",
                        danger=True,
                    ),
                    delete_too,
                )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_job(
                    Job(
                        f"Forgetting {artifact.name}…",
                        lambda progress: jobs.forget(engine, ident),
                        forgotten,
                        dialog=False,
                    )
                )

        self.push_screen(
            ConfirmDialog(
                f"Forget {artifact.name}?\n\nIts catalog row, tags, note and preview records go; "
                f"the file stays on disk ({artifact.path}). A rescan of its folder adds it back.",
                yes="Forget",
                no="Keep",
            ),
            confirmed,
        )
