"""Trigger words as the catalog ranks them, and the training captions' tag counts (ss_tag_frequency)."""

from __future__ import annotations

from rich.text import Text

from loradex.adapters.model.training_metadata import tag_counts
from loradex.adapters.words import count, printable

from .section import Section, bar

SHOWN = 12


class TriggerWords(Section):
    TITLE = "trigger words"

    def show(self, a) -> None:
        counts = tag_counts(a.training_metadata or {})
        text = Text()
        if not a.trigger_words:
            text.append("none found", style="dim")
        for rank, word in enumerate(a.trigger_words[:SHOWN], 1):
            text.append(("\n" if rank > 1 else "") + f"{rank:>2}. ", style="dim")
            text.append(printable(word, one_line=True), style="bold")
            if word in counts:
                text.append(f"  ×{counts[word]}", style="dim")
        if counts:
            top = counts.most_common(SHOWN)
            top = [(printable(tag, one_line=True), n) for tag, n in top]
            width = max(len(tag) for tag, _ in top)
            text.append(f"\n\ntraining tags (ss_tag_frequency, {count(len(counts), 'tags')})", style="italic")
            for tag, n in top:
                text.append(f"\n{tag[:30]:<{min(width, 30)}} {n:>5} ")
                text.append(bar(n, top[0][1], 20), style="cyan")
        self.update(text)
