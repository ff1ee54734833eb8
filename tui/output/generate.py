"""What quick-test prints: the images and contact sheet of ``loradex try``, the table of ``loradex eval``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from loradex.adapters.jsonable import jsonable
from loradex.adapters.words import count

from .base import BaseSink

if TYPE_CHECKING:
    from loradex.adapters.generate.evaluate import Evaluation
    from loradex.adapters.generate.grid import Grid


class GenerateOutput(BaseSink):
    def quick_test(self, grid: Grid, previews: int | None) -> None:
        """Summary of a ``try`` grid; ``previews`` is the number of catalog rows added (None: no catalog)."""
        if self.as_json:
            self.emit_json({**jsonable(grid), "previews_recorded": previews})
        else:
            done = len(grid.images)
            self.out.print(
                f"wrote {count(done, 'images')} and the contact sheet {grid.sheet}", markup=False, highlight=False
            )
            if previews is None:
                self.note("not recorded: no catalog in use (--catalog or $LORADEX_CATALOG)")
            else:
                self.out.print(f"recorded {count(previews, 'previews')} in the catalog", markup=False, highlight=False)
        if grid.interrupted:
            print(
                f"interrupted: {len(grid.images)} of {count(grid.job.images, 'images')} finished; they are on disk"
                f"{' and in the catalog' if previews is not None else ''}, with a partial contact sheet",
                file=sys.stderr,
            )

    def evaluation(self, result: Evaluation) -> None:
        """The score table of an ``eval`` run."""
        if self.as_json:
            self.emit_json(result)
        else:
            from rich.table import Table

            table = Table("scale", "images", "CLIP score", "mean cosine", "reference cosine")
            for row in result.rows:
                ref = "" if row.reference_cosine is None else f"{row.reference_cosine:.4f}"
                table.add_row(f"{row.scale:g}", str(row.images), f"{row.clip_score:.2f}", f"{row.mean_cosine:.4f}", ref)
            self.out.print(table)
            self.out.print(f"wrote {result.csv} and {result.plot}", markup=False, highlight=False)
        if result.interrupted:
            print(f"interrupted: scored the {count(len(result.images), 'images')} that finished", file=sys.stderr)
