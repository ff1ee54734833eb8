"""What the file commands print: probe, inspect (convert prints as an operation)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.markup import escape

from loradex.adapters.words import count, printable

from .base import BaseSink

if TYPE_CHECKING:  # the reports' modules need torch; the sink only reads their attributes
    from rich.table import Table

    from loradex.adapters.model.artifact import ArtifactInfo
    from loradex.adapters.ops.inspection import Inspection


class FilesOutput(BaseSink):
    def probe_table(self, infos: Iterable[ArtifactInfo], failures: list[str]) -> None:
        infos = list(infos)
        if self.as_json:
            self.emit_json({"artifacts": infos, "errors": failures})
            return
        if infos:  # only failures: their lines alone, no empty table above them
            self.out.print(self._probe_table(infos))
        for line in failures:
            # Plain print: Rich would wrap a long path over several lines.
            print(f"error: {printable(line, one_line=True)}", file=sys.stderr)

    @staticmethod
    def _probe_table(infos: list[ArtifactInfo]) -> Table:
        from rich.table import Table

        table = Table("name", "kind", "format", "base", "layers", "ranks", "dtype", "notes")
        for column in table.columns[:4]:
            column.no_wrap = True
        for i in infos:
            evidence = i.base_evidence[0].split(" (")[0] if i.base_evidence else ""
            notes = "; ".join(
                filter(
                    None,
                    [
                        f"[yellow]{escape(i.base_conflict)}[/]" if i.base_conflict else escape(evidence),
                        f"[red]{len(i.unmatched)} unmatched[/]" if i.unmatched else "",
                        escape(i.reason or ""),
                        escape("triggers: " + ", ".join(i.trigger_words[:3])) if i.trigger_words else "",
                    ],
                )
            )
            table.add_row(
                escape(i.path.name),
                i.kind,
                i.format,
                i.base,
                str(len(i.layers) or len(i.inventory) or ""),
                ",".join(map(str, i.ranks)),
                i.dtype or "",
                notes,
            )
        return table

    def inspection(self, report: Inspection, *, show_layers: bool) -> None:
        if self.as_json:
            self.emit_json(report)
            return
        info = report.info
        self.out.print(
            f"{escape(str(info.path))}: {info.kind} ({info.format}) for {info.base}, "
            f"{count(len(report.layers), 'layers')}, {info.parameters:,} parameters, ranks {report.rank_histogram}"
        )
        from loradex.adapters.model.architectures import BASES  # the architectures' tables: inspect's alone

        known = info.base in BASES
        if not known:
            self.note("base unknown: per-layer statistics only, without block labels (--layers lists them)")
        if report.nonfinite:
            self.out.print(
                f"[red]NaN/Inf in {count(len(report.nonfinite), 'layers')}: "
                f"{escape(', '.join(report.nonfinite[:5]))}[/]"
            )
        from rich.table import Table

        if known:
            blocks = Table("block", "layers", "‖ΔW‖", "ranks")
            for b in report.blocks:
                blocks.add_row(b.block, str(b.layers), f"{b.norm:.4g}", ",".join(map(str, b.ranks)))
            self.out.print(blocks)
        if show_layers:
            table = Table("stem (in file)", "canonical layer", "algo", "rank", "alpha", "‖ΔW‖", "eff. rank")
            for s in report.layers:
                table.add_row(
                    escape(s.stem),
                    escape(s.canonical) if s.canonical else "[red]unmatched[/]",
                    s.algorithm,
                    str(s.rank or ""),
                    f"{s.alpha:g}" if s.alpha is not None else "",
                    f"{s.norm:.4g}" if s.norm is not None else "-",
                    f"{s.effective_rank:.2f}" if s.effective_rank is not None else "-",
                )
            self.out.print(table)
