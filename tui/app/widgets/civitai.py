"""What Civitai said about an artifact: its page (or that the page is gone upstream), model and
version, base model and the model line it names, license, tags; or how to ask."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from loradex.adapters.words import printable
from loradex.registry.queries.views import civitai_base_model, civitai_license, civitai_page

from .section import Section


class CivitaiSection(Section):
    TITLE = "civitai"

    def show(self, record, key: str, family: str) -> None:
        """``record``: the artifact's :class:`~loradex.registry.queries.rows.CivitaiRow`, or None
        when never asked; ``key``: the key of the look-up action, said while it is None;
        ``family``: the artifact's, by its layers."""
        text = Text()
        if record is None:
            text.append(f"not looked up: {key} asks Civitai by its hash", style="dim")
            self.update(text)
            return
        page = printable(civitai_page(record), one_line=True)
        if record.state == "matched":
            text.append(page, style=Style(link=page or None))
        elif record.state == "deleted":
            since = f" since {record.deleted_at:%Y-%m-%d}" if record.deleted_at else ""
            text.append(f"deleted upstream{since}", style="bold red")
            if page:
                text.append(f"\nwas {page}", style="dim")
        else:
            text.append("not on Civitai", style="dim")
        rows = []
        if record.model_name:
            by = f" by {record.creator}" if record.creator else ""
            rows.append(("model", f"{record.model_name} ({record.model_type or '?'}){by}"))
        if record.version_id:
            published = f", published {record.published_at:%Y-%m-%d}" if record.published_at else ""
            rows.append(("version", f"{record.version_name or '?'} (id {record.version_id}){published}"))
        if record.base_model:
            rows.append(("base model", civitai_base_model(record.base_model, family)))
        if license_text := civitai_license(record):
            rows.append(("license", license_text))
        if record.tags:
            rows.append(("tags", ", ".join(record.tags[:10])))
        rows.append(("checked", f"{record.last_checked:%Y-%m-%d %H:%M}"))
        for name, value in rows:
            text.append(f"\n{name:<11}", style="bold")
            text.append(printable(value, one_line=True))
        self.update(text)
