"""What publish and pull print."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.words import printable
from loradex.adapters.words import size as size_text

from .base import BaseSink

if TYPE_CHECKING:
    from loradex.registry.hub.publish import PublishResult
    from loradex.registry.hub.pull import PullResult


class HubOutput(BaseSink):
    def publication(self, result: PublishResult) -> None:
        if self.as_json:
            self.emit_json(result)
            return
        if result.dry_run:
            card = printable(result.card)
            print(card, end="" if card.endswith("\n") else "\n")
            print("files:")
            for f in result.files:
                print(f"  {printable(f['path_in_repo'], one_line=True)}  {size_text(f['size'])}")
            self.note(f"dry run: nothing was sent to {result.repo}")
            return
        if result.changed:
            self.out.print(
                f"published {result.artifact_name} to {result.url} (commit {result.commit})",
                markup=False,
                highlight=False,
            )
        else:
            self.out.print(
                f"no changes: {result.url} already holds these files (commit {result.commit})",
                markup=False,
                highlight=False,
            )

    def pulled(self, result: PullResult) -> None:
        if self.as_json:
            self.emit_json(result)
            return
        for f in result.files:
            what = {"new": "recorded", "known": "already recorded", "provenance": "already catalogued; source set"}[
                f.status
            ]
            self.out.print(f"{f.path_in_repo}: {what} as id {f.artifact_id} ({f.path})", markup=False, highlight=False)
        self.out.print(f"source: {result.source}", markup=False, highlight=False)
