"""What ``loradex sidecars write`` prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loradex.adapters.words import count

from .base import BaseSink

if TYPE_CHECKING:
    from loradex.registry.services.sidecar_writing import Written


class SidecarsOutput(BaseSink):
    def sidecars_written(self, written: list[Written]) -> None:
        done = [w for w in written if w.state == "written"]
        if self.as_json:
            self.emit_json({"written": len(done), "skipped": len(written) - len(done), "items": written})
            return
        for item in written:
            line = f"{item.path}: " + ("written" if item.state == "written" else f"skipped, {item.reason}")
            self.out.print(line, markup=False, highlight=False, soft_wrap=True)
        self.out.print(
            f"{count(len(done), 'sidecars')} written, {len(written) - len(done)} skipped",
            markup=False,
            highlight=False,
        )
