"""The flow that publishes an adapter to the Hugging Face Hub: the card of a dry run first, then,
confirmed, the commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work

from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details

from ..jobs import Job

if TYPE_CHECKING:
    from ..application import LoradexApp


@work(group="flow", exit_on_error=False)
async def publish(app: LoradexApp, artifact: ArtifactRow, details: Details) -> None:
    """Publish the current adapter to the Hub: the dry run's card first, then, confirmed, the commit."""
    from ..screens.publish import PublishForm, PublishPreview

    last = app.publish_last
    asked = await app.push_screen_wait(
        PublishForm(artifact.name, last.repo if last else "", (last.license or "") if last else "")
    )
    if asked is None:
        return
    app.publish_last = asked
    catalog, endpoint, token = app.catalog, app.hub_endpoint, app.hub_token

    def send(dry_run: bool) -> Any:
        from loradex.registry.hub.publish import publish as publish_artifact

        return publish_artifact(
            catalog.engine,
            str(artifact.id),
            asked.repo,
            license=asked.license,
            dry_run=dry_run,
            endpoint=endpoint,
            token=token,
        )

    plan = await app.jobs.run(
        Job(f"Preparing the card of {artifact.name}…", lambda progress: send(True), cancelled="Cancelled.")
    )
    if plan is None or not await app.push_screen_wait(PublishPreview(asked.repo, plan.card, plan.files)):
        return
    result = await app.jobs.run(
        Job(
            f"Publishing {artifact.name} to {asked.repo}…",
            lambda progress: send(False),
            cancelled=f"Cancelled publishing {artifact.name} (a commit already sent stays).",
        )
    )
    if result is None:
        return
    if result.changed:
        app.notify(f"Published {artifact.name} to {result.url} (commit {str(result.commit)[:10]}).")
    else:
        app.notify(f"{artifact.name} was already at {result.url}; nothing was sent.")
    app.reload(keep=artifact.id)
