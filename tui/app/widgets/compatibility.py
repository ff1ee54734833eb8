"""Which catalogued checkpoints an adapter applies to: the share of its layers each one has."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.text import Text

from loradex.adapters.words import not_held

from .section import Section, bar

COLOURS = {"compatible": "green", "partial": "yellow", "incompatible": "red"}


class CheckpointFits(Section):
    TITLE = "fits the catalog's checkpoints"

    def show(self, fits, line: str | None = None) -> None:
        """From :class:`loradex.registry.queries.compat.CheckpointFit` rows; ``line``: the adapter's
        model line, beside which a checkpoint of another line is said to be one (it still fits)."""
        text = Text()
        if not fits:
            text.append("no checkpoint with a layer inventory in the catalog", style="dim")
        names = [f.base.name for f in fits]
        # Two checkpoints of one name (a .ckpt and a .safetensors): their file names tell them apart.
        names = [Path(f.base.path).name if names.count(n) > 1 else n for n, f in zip(names, fits, strict=True)]
        width = min(28, max(map(len, names), default=0))
        for i, (fit, name) in enumerate(zip(fits, names, strict=True)):
            text.append(("\n" if i else "") + f"{name[:width]:<{width}} ")
            if fit.share is None:
                text.append(f"{'':<16} {'?':>9} ", style="dim")
            else:
                text.append(f"{bar(fit.share, 1.0, 16):<16} ", style=COLOURS.get(fit.verdict, ""))
                text.append(f"{fit.matched:>4}/{fit.total:<4} " if fit.total else f"{'family':>9} ")
            text.append(fit.verdict, style=COLOURS.get(fit.verdict, "dim"))
            if fit.elsewhere:  # as check says it: those layers are not judged here
                text.append(f"  {not_held(Counter(fit.elsewhere).elements())}", style="dim")
            if line and fit.base.line and fit.base.line != line:
                text.append(f"  another line: {fit.base.line}", style="yellow")
        self.update(text)

    def show_adapters(self, fits, more: bool) -> None:
        """For a checkpoint: the adapters that fit it fully (:class:`loradex.registry.queries.compat.Fit` rows)."""
        self.border_title = "adapters that fit this checkpoint"
        text = Text()
        if not fits:
            text.append("none in the catalog", style="dim")
        for i, fit in enumerate(fits):
            text.append(("\n" if i else "") + fit.name, style="bold")
            text.append(f"  {fit.kind} ({fit.format})", style="dim")
        if more:
            text.append("\n… more: loradex list --fits this checkpoint", style="dim")
        self.update(text)

    def show_note(self, note: str) -> None:
        self.update(Text(note, style="dim"))
