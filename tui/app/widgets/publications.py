"""Where an artifact was published (a Hub repository and commit)."""

from __future__ import annotations

from rich.text import Text

from loradex.adapters.words import printable

from .section import Section


class Publications(Section):
    TITLE = "publications"

    def show(self, publications) -> None:
        text = Text()
        for i, pub in enumerate(publications):
            text.append(("\n" if i else "") + printable(pub.repo, one_line=True), style="bold")
            if pub.commit:
                text.append(f" @ {pub.commit}")
            if pub.url:
                text.append(f"\n  {printable(pub.url, one_line=True)}", style="dim")
        if not publications:
            text.append("not published", style="dim")
        self.update(text)
