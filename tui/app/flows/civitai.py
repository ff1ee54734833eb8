"""The flow that looks the current artifact up on Civitai (``loradex civitai sync`` for one file,
asked again even if asked before): in a thread worker behind a progress dialog, escape cancels
it and what was already committed stays."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details

from ..jobs import Job

if TYPE_CHECKING:
    from loradex.registry.civitai.sync import SyncReport

    from ..application import LoradexApp


@work(group="flow", exit_on_error=False)
async def look_up(app: LoradexApp, artifact: ArtifactRow, details: Details) -> None:
    """Ask Civitai about the current artifact by its hashes and record the answer (its example
    images too); say the outcome in one notification and show the catalog as it is now."""
    catalog, name = app.catalog, artifact.name

    def ask(progress) -> SyncReport:
        from loradex.registry.civitai.client import CivitaiClient
        from loradex.registry.civitai.sync import SyncOptions, sync

        with CivitaiClient() as client:
            return sync(
                catalog.engine, [str(artifact.id)], client=client, options=SyncOptions(refresh=True), progress=progress
            )

    report = await app.jobs.run(
        Job(
            f"Looking {name} up on Civitai…",
            ask,
            cancelled=f"Cancelled looking {name} up on Civitai (what was already recorded stays).",
        )
    )
    if report is None:
        return
    if not report.items:
        app.notify(f"{name} has no hash to look up by; rescan it first.", severity="warning")
        return
    item = report.items[0]
    found = f"{item.model} / {item.version}" + (f" ({item.base_model})" if item.base_model else "")
    if item.state == "matched":
        images = f", {item.images} example images" if item.images else ""
        app.notify(f"{name} is {found} on Civitai{images}.")
    elif item.state == "deleted":
        app.notify(f"{name} was {found}: deleted upstream since; what was known is kept.", severity="warning")
    else:
        app.notify(f"{name} is not on Civitai.")
    app.reload(keep=artifact.id)
