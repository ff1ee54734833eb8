"""The flows that change the catalog itself: rescan, edit, forget (and delete the file)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from textual import work

from loradex.adapters.words import count
from loradex.registry.queries import orm
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details
from loradex.registry.services.edits import edit as edit_artifact
from loradex.registry.services.forget import Forgotten, delete_file
from loradex.registry.services.forget import forget as forget_artifact
from loradex.registry.store.db import session as open_session

from ..jobs import Job
from ..screens.confirm import ConfirmDialog
from ..screens.edit import EditDialog

if TYPE_CHECKING:
    from ..application import LoradexApp


@work(group="flow", exit_on_error=False)
async def rescan(app: LoradexApp) -> None:
    """Scan the catalog's scan roots again."""
    from loradex.registry.services.rescan import rescan as rescan_roots

    catalog = app.catalog
    result = await app.jobs.run(
        Job(
            "Rescanning the scan roots…",
            lambda progress: rescan_roots(catalog.engine, progress=progress),
            cancelled="Cancelled the rescan; the files indexed so far are in the catalog.",
        )
    )
    if result is None:
        return
    r = result.report
    parts = [f"{r.added} added", f"{r.updated} updated", f"{r.missing} missing"]
    if r.errors:
        parts.append(f"{len(r.errors)} unreadable")
    absent = f"; skipped {count(len(result.absent), 'absent roots')}" if result.absent else ""
    app.notify(f"Rescanned {count(len(result.roots), 'roots')}: {', '.join(parts)}{absent}.")
    app.reload()


@work(group="flow", exit_on_error=False)
async def edit(app: LoradexApp, artifact: ArtifactRow, details: Details) -> None:
    """Edit the artifact's tags, note and preferred weight."""
    asked = await app.push_screen_wait(
        EditDialog(artifact.name, list(details.tags), artifact.notes or "", artifact.preferred_weight)
    )
    if asked is None:
        return
    catalog = app.catalog

    def save(progress: object) -> list[str]:
        with open_session(catalog.engine) as session:
            row = orm.resolve(session, str(artifact.id))
            return edit_artifact(session, row, tags=asked.tags, note=asked.notes, weight=asked.weight)

    tags = await app.jobs.run(Job(f"Saving {artifact.name}…", save, dialog=False))
    if tags is None:
        return
    weight = "unset" if asked.weight is None else f"{asked.weight:g}"
    app.notify(
        f"Tagged {artifact.name}: {', '.join(tags) or 'no tags'}; weight {weight}; "
        f"note {'saved' if asked.notes.strip() else 'cleared'}."
    )
    app.reload(keep=artifact.id)


@work(group="flow", exit_on_error=False)
async def forget(app: LoradexApp, artifact: ArtifactRow, details: Details) -> None:
    """Remove the artifact from the catalog; then, asked separately, its file from disk."""
    sure = await app.push_screen_wait(
        ConfirmDialog(
            f"Forget {artifact.name}?\n\nIts catalog row, tags, note and preview records go; the file stays on disk "
            f"({artifact.path}). A rescan of its folder adds it back.",
            yes="Forget",
            no="Keep",
        )
    )
    if not sure:
        return
    catalog = app.catalog

    def forget_row(progress: object) -> Forgotten:
        with open_session(catalog.engine) as session:
            return forget_artifact(session, orm.resolve(session, str(artifact.id)))

    gone = await app.jobs.run(Job(f"Forgetting {artifact.name}…", forget_row, dialog=False))
    if gone is None:
        return
    app.tray[:] = [item for item in app.tray if item.artifact_id != artifact.id]
    app.notify(f"Forgot {gone.name}; its file is still at {gone.path}.")
    app.reload()
    if not os.path.lexists(gone.path):
        return
    what = "folder (and everything in it)" if gone.is_dir else "file"
    also = await app.push_screen_wait(
        ConfirmDialog(
            f"Also delete the {what} from disk?\n\n{gone.path}\n\nThis cannot be undone.",
            yes="Delete from disk",
            no="Keep it",
            danger=True,
        )
    )
    if not also:
        return
    # The deleted path, or None when the job failed (already notified).
    deleted = await app.jobs.run(Job("Deleting…", lambda progress: delete_file(gone.path), dialog=False))
    if deleted:
        app.notify(f"Deleted {gone.path} from disk.")
