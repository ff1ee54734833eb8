"""What an artifact is: kind, base and model line and the evidence for them, status, size, dtype, ranks, the
user's notes."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from loradex.adapters.words import printable
from loradex.adapters.words import size as size_text
from loradex.registry.queries.views import line_shown

from .section import Section


class Metadata(Section):
    TITLE = "artifact"

    def show(self, a, details, shown_path: str) -> None:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        path = Text(printable(shown_path))
        if not Path(a.path).exists():
            path.append("  (file missing)", style="bold red")
        base = Text(printable(f"{a.base_override} (set; probed {a.base})" if a.base_override else a.base))
        if a.base_conflict:
            base.append(f" ({a.base_conflict})", style="yellow")
        status = Text(a.status, style="green" if a.status == "ok" else "bold red")
        if a.error:
            status.append(printable(f": {a.error}"))
        layers = details.layers
        ranks = (
            ""
            if a.rank_min is None
            else (str(a.rank_min) if a.rank_min == a.rank_max else f"{a.rank_min}–{a.rank_max}")
        )
        fields = [
            ("id", str(a.id)),
            ("name", a.name),
            ("path", path),
            ("kind", f"{a.kind} ({a.format})"),
            ("base", base),
            ("evidence", "\n".join(a.base_evidence)),
            ("claims", ", ".join(f"{k}={v}" for k, v in a.base_claims.items())),
            ("line", line_shown(a)),
            ("line evidence", "\n".join(a.line_evidence or [])),
            ("trained on", details.trained_on.label if details.trained_on else ""),
            ("status", status),
            ("size", size_text(a.size)),
            ("dtype", a.dtype or ""),
            ("ranks", ranks),
            ("algorithms", ", ".join(a.algorithms)),
            (
                "layers",
                f"{layers.layers} (" + ", ".join(f"{k} {v}" for k, v in layers.by_component.items()) + ")"
                if layers.layers
                else "",
            ),
            ("safety", a.safety if a.safety != "safetensors" else ""),
            ("tags", ", ".join(details.tags)),
            ("source", ", ".join(a.provenance)),
            ("notes", a.notes),
            ("weight", f"{a.preferred_weight:g}" if a.preferred_weight is not None else ""),
            ("rating", "★" * a.rating + f" ({a.rating})" if a.rating else ""),
            ("activation", a.activation_text or ""),
        ]
        for key, value in fields:
            if value:
                grid.add_row(key, value if isinstance(value, Text) else Text(printable(str(value))))
        self.update(grid)
