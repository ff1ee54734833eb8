"""Rank and delta norm per block (IN00 … OUT11, MID, TE; a DiT's IN, D0…/J0…, S0…, OUT): ranks from the
catalog's module rows at once, norms when a worker has read the tensors (see ``DetailScreen.load_norms``)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from loradex.adapters.model.blocks import block_order
from loradex.adapters.model.layermap import block_label

from .section import Section, bar

BAR = 18


def chart_block(canonical: str | None, component: str | None, family: str = "") -> str:
    """The chart's row of a layer of an adapter for ``family``: its block label, text-encoder layers
    folded into TE / TE2 / TE3."""
    label = block_label(canonical, component, family=family)
    return label.split(".", 1)[0]


class BlockChart(Section):
    TITLE = "blocks: rank and norm"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ranks: dict[str, list[int]] = {}
        self.block_layers: dict[str, int] = {}
        self.norms: dict[str, float] | None = None
        self.note = ""

    def set_layers(
        self, modules: Iterable[tuple[str | None, str | None, int | None, float | None]], family: str = ""
    ) -> None:
        """From ``(canonical, component, rank, alpha)`` rows of an adapter for ``family``."""
        self.ranks, self.block_layers = {}, {}
        for canonical, component, rank, _alpha in modules:
            label = chart_block(canonical, component, family)
            self.block_layers[label] = self.block_layers.get(label, 0) + 1
            ranks = self.ranks.setdefault(label, [])
            if rank and rank not in ranks:
                ranks.append(rank)
        self.redraw()

    def set_norms(self, norms: dict[str, float]) -> None:
        self.norms = norms
        self.redraw()

    def set_note(self, note: str) -> None:
        self.note = note
        self.redraw()

    def redraw(self) -> None:
        if not self.block_layers:
            self.update(Text("no adapted layers", style="dim"))
            return
        labels = sorted(self.block_layers, key=block_order)
        top_rank = max((max(r) for r in self.ranks.values() if r), default=0)
        top_norm = max(self.norms.values(), default=0.0) if self.norms else 0.0
        # The theme's primary colour: ANSI magenta renders as the error red (#f4005f) in Textual's theme.
        rank_colour = self.app.current_theme.primary
        text = Text()
        text.append(f"{'block':<6}{'layers':>6}  {'rank':>4} {'':<{BAR}} {'norm':>7}", style="bold")
        for label in labels:
            ranks = self.ranks.get(label, [])
            top = max(ranks, default=0)
            rank_text = "/".join(map(str, sorted(ranks))) or "-"
            text.append(f"\n{label:<6}{self.block_layers[label]:>6}  ")
            text.append(f"{rank_text:>4} ", style="bold")
            text.append(f"{bar(top, top_rank, BAR):<{BAR}} ", style=rank_colour)
            if self.norms is None:
                text.append("…", style="dim")
            elif label in self.norms:
                text.append(f"{self.norms[label]:>7.3g} ", style="bold")
                text.append(bar(self.norms[label], top_norm, BAR), style="cyan")
            else:
                text.append(f"{'-':>7}", style="dim")
        if self.note:
            text.append(f"\n{self.note}", style="dim italic")
        self.update(text)
