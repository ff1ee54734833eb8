"""Where an artifact came from (recipe inputs with their weights) and what was made from it."""

from __future__ import annotations

from rich.text import Text

from loradex.adapters.words import printable

from .section import Section


def _name(artifact, fallback: str) -> str:
    return printable(f"{artifact.name} (id {artifact.id})" if artifact is not None else fallback, one_line=True)


class LineageView(Section):
    TITLE = "lineage"

    def show(self, lineage) -> None:
        text = Text()
        for recipe in lineage.made_by:
            text.append(("\n" if text else "") + f"made by {recipe.op}", style="bold")
            params = ", ".join(f"{k}={v}" for k, v in sorted(recipe.params.items()) if not isinstance(v, (dict, list)))
            if params:
                text.append(f"  ({params})", style="dim")
            for i in recipe.inputs:
                fallback = (i.ref or "") + (
                    " (not catalogued)" if i.ref else (i.sha256 or "")[:10] + " (not catalogued)"
                )
                text.append(f"\n  {'base ' if i.role == 'base' else ''}{_name(i.artifact, fallback)}")
                text.append(f"  ×{i.weight:g}", style="bold")
        for use in lineage.used_in:
            text.append(("\n" if text else "") + f"used in {use.op}", style="bold")
            text.append(f" (×{use.weight:g}{', as base' if use.role == 'base' else ''}) → ")
            text.append(_name(use.artifact, "not catalogued"), style="" if use.artifact else "dim")
        if not text:
            text.append("no recipe made it, none used it", style="dim")
        self.update(text)
