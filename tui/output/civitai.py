"""What ``loradex civitai sync`` and ``loradex civitai updates`` print."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.words import count

from .base import BaseSink

if TYPE_CHECKING:
    from loradex.registry.civitai.sync import SyncReport, UpdateItem


class CivitaiOutput(BaseSink):
    def civitai_synced(self, report: SyncReport) -> None:
        matched, missing, deleted = report.count("matched"), report.count("not-found"), report.count("deleted")
        if self.as_json:
            self.emit_json(
                {
                    "host": report.host,
                    "matched": matched,
                    "not_on_civitai": missing,
                    "deleted": deleted,
                    "errors": report.errors,
                    "skipped": report.skipped,
                    "requests": report.requests,
                    "images": report.images,
                    "items": report.items,
                }
            )
            return
        for item in report.items:
            if item.state == "not-found":
                continue
            what = f"{item.model or '?'} / {item.version or '?'}" + (f" ({item.base_model})" if item.base_model else "")
            gone = "  [deleted upstream]" if item.state == "deleted" else ""
            images = f", {count(item.images, 'images')}" if item.images else ""
            self.out.print(f"{item.name}: {what}{images}{gone}", markup=False, highlight=False)
        self.out.print(
            f"{report.host}: {matched} matched, {missing} not on Civitai, {deleted} deleted upstream, "
            f"{report.errors} errors; {count(report.requests, 'requests')}, {count(report.images, 'images')} "
            f"downloaded, {report.skipped} skipped (looked up before; --refresh asks again)",
            markup=False,
            highlight=False,
        )

    def civitai_updates(self, items: list[UpdateItem]) -> None:
        if self.as_json:
            self.emit_json({"updates": items})
            return
        newer = [item for item in items if item.newer or item.model_gone]
        for item in newer:
            if item.model_gone:
                line = f"{item.name}: {item.model or '?'} is gone from Civitai"
            else:
                names = ", ".join(f"{v.get('name')} (id {v.get('id')})" for v in item.newer)
                line = f"{item.name}: {item.model or '?'} has newer versions than {item.version or '?'}: {names}"
            self.out.print(line, markup=False, highlight=False)
        self.out.print(
            f"{count(len(items), 'files')} checked, {sum(bool(i.newer) for i in items)} with newer versions",
            markup=False,
            highlight=False,
        )
