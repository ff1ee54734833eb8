"""What the catalog commands print: listings, details, tags, notes, reports, duplicates, compatibility."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.markup import escape
from rich.text import Text

from loradex.adapters.jsonable import jsonable
from loradex.adapters.words import count, printable
from loradex.adapters.words import size as size_text

from .base import BaseSink

if TYPE_CHECKING:  # Table: imported where one is drawn (≈ 4 ms); list's boxed listing, check and tag draw none
    from rich.table import Table

    from loradex.registry.queries.compat import Compatibility
    from loradex.registry.queries.rows import ArtifactRow, CivitaiRow
    from loradex.registry.queries.views import Details, KindCount, Listed
    from loradex.registry.store.models import Artifact


#: Items of a report list printed before "… and N more" (scans of big libraries list hundreds).
LISTED = 10
#: ``list`` prints a boxed table up to this many rows, plain lines beyond.
TABLE_ROWS = 500
#: Plain lines of ``list`` written at a time.
LINES_CHUNK = 1000

#: "base/line": the model line where one is known (it names its family: Civitai's "Base Model"
#: reads "Pony", "Illustrious" too), else the family, as in the TUI's table.
_LIST_HEADERS = ("id", "name", "kind", "format", "base/line", "ranks", "size", "status", "tags")
_SIZE, _STATUS = _LIST_HEADERS.index("size"), _LIST_HEADERS.index("status")


class CatalogOutput(BaseSink):
    def artifact_list(self, rows: Iterable[tuple[Listed, list[str]]]) -> None:
        """Rows as they arrive: the JSON item by item; a boxed table for up to :data:`TABLE_ROWS`
        rows, beyond that plain aligned lines, a chunk at a time (a table must see every row
        before its first line: 100,000 rows took minutes and a gigabyte)."""
        if self.as_json:
            self.emit_json_items("artifacts", (artifact_row(a, tags) for a, tags in rows))
            return
        cells = (_list_cells(a, tags) for a, tags in rows)
        first = list(islice(cells, TABLE_ROWS + 1))
        if len(first) <= TABLE_ROWS:
            texts = [_texts(row) for row in first]
            widths = _natural_widths(_LIST_HEADERS, texts)
            if _framed(widths) <= self.out.width:
                caption = count(len(texts), "artifacts")
                self.out.print(_boxed(_LIST_HEADERS, texts, widths, right=_SIZE, caption=caption), soft_wrap=True)
            else:
                self.out.print(_compact_table(texts, self.out.width))
            return
        self._list_lines(chain(first, cells))

    def _list_lines(self, cells: Iterable[tuple[str, ...]]) -> None:
        """The listing as plain lines, column widths taken from the first chunk (a longer cell
        later pushes its line out rather than holding the screen back), flushed chunk by chunk."""
        from loradex.registry.queries.lookup import batched  # loaded already: the rows come from the catalog

        out, n, widths = self.out.file, 0, None
        for part in batched(cells, LINES_CHUNK):
            if widths is None:
                widths = [max(len(row[i]) for row in [_LIST_HEADERS, *part]) for i in range(len(_LIST_HEADERS))]
                out.write(_aligned(_LIST_HEADERS, widths) + "\n")
            out.write("".join(printable(_aligned(row, widths)) + "\n" for row in part))
            out.flush()
            n += len(part)
        out.write(count(n, "artifacts") + "\n")

    def artifact_details(self, a: ArtifactRow, extra: Details) -> None:
        from loradex.registry.queries.rows import row_dict  # the catalog's modules load only when a catalog is read
        from loradex.registry.queries.views import applied, line_shown, settings

        if self.as_json:
            from loradex.registry.queries.compat import base_of  # compat's other questions: check's, --fits'

            data = row_dict(a, without=("search_text",))
            data["effective_base"] = base_of(a)
            data.update(jsonable(extra))
            self.emit_json(data)
            return
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        # Every value is text from a file, its sidecar or the user, printed escaped (a "[/]" in a
        # metadata value would close a tag Rich never opened); the base alone carries markup.
        base = escape(_base_cell(a) + (f" {a.base_size}" if a.base_size else ""))
        base += f" [yellow]({escape(a.base_conflict)})[/]" if a.base_conflict else ""
        fields = [
            ("id", str(a.id)),
            ("name", a.name),
            ("path", a.path),
            ("kind", f"{a.kind} ({a.format})"),
            ("base", base),
            ("evidence", "; ".join(a.base_evidence)),
            ("claims", ", ".join(f"{k}={v}" for k, v in a.base_claims.items())),
            ("line", line_shown(a)),
            ("line evidence", "; ".join(a.line_evidence or [])),
            ("trained on", extra.trained_on.label if extra.trained_on else ""),
            ("status", a.status + (f": {a.error}" if a.error else "")),
            ("size", size_text(a.size)),
            ("sha256", a.sha256 or "not hashed yet"),
            ("AutoV2", a.autov2 or ""),
            ("AutoV3", a.autov3 or ""),
            ("BLAKE3", a.blake3 or ("" if a.sha256 is None else "not hashed yet (the next scan reads the file)")),
            ("CRC32", a.crc32 or ""),
            ("tensor hash", a.tensor_hash or ""),
            ("model hash", a.model_hash or ""),
            ("safety", a.safety),
            ("dtype", a.dtype or ""),
            ("ranks", _ranks(a)),
            ("algorithms", ", ".join(a.algorithms)),
            ("trigger words", ", ".join(a.trigger_words[:10])),
            ("tags", ", ".join(extra.tags)),
            ("notes", a.notes),
            ("weight", f"{a.preferred_weight:g}" if a.preferred_weight is not None else ""),
            ("rating", str(a.rating) if a.rating is not None else ""),
            ("source", ", ".join(a.provenance)),
        ]
        for key, value in fields:
            if value:
                grid.add_row(key, value if key == "base" else escape(value))
        self.out.print(grid)
        for mismatch in extra.hash_mismatches:
            self.out.print(f"[yellow]warning:[/] {escape(str(mismatch))}")
        if extra.civitai is not None:
            self.out.print(_civitai_grid(extra.civitai, a.base or ""))
        layers = extra.layers
        if layers.layers:
            counts = "; ".join(
                f"{title}: " + ", ".join(f"{k} {v}" for k, v in by.items())
                for title, by in (
                    ("components", layers.by_component),
                    ("algorithms", layers.by_algorithm),
                    ("ranks", layers.by_rank),
                )
                if by
            )
            self.out.print(f"\n[bold]layers[/] {layers.layers} ({counts})")
            for stem, canonical in layers.first:
                self.out.print(
                    f"  {escape(stem)} → {escape(canonical) if canonical else '[red]unmatched[/]'}"
                    if stem != canonical
                    else f"  {escape(canonical)}"
                )
        if a.training_metadata:
            headers = ("metadata", "value")
            meta = [
                (Text(printable(key, one_line=True)), Text(printable(_short(str(value)), one_line=True)))
                for key, value in sorted(a.training_metadata.items())
            ]
            widths = _natural_widths(headers, meta)
            widths[1] = max(8, widths[1] - max(0, _framed(widths) - self.out.width))  # values cut to fit
            self.out.print(_boxed(headers, meta, widths), soft_wrap=True)
        for preview in extra.previews:
            how = ", ".join(
                settings(preview)
                + ([preview.sampler] if preview.sampler else [])
                + (["from Civitai"] if preview.source == "civitai" else [])
            )
            made = " ".join(
                part
                for part in (
                    f"with {applied(preview)}" if preview.adapters is not None else "",
                    f"on {preview.base_family}" if preview.base_family else "",
                )
                if part
            )
            self.out.print(
                f"preview: {preview.path}"
                + (f" ({how})" if how else "")
                + (f" {made}" if made else "")
                + (f" — {preview.prompt}" if preview.prompt else ""),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )  # one line per preview, its path unbroken
        for pub in extra.publications:
            self.out.print(
                f"published: {pub.repo}"
                + (f" @ {pub.commit}" if pub.commit else "")
                + (f" ({pub.url})" if pub.url else ""),
                markup=False,
                highlight=False,
            )
        for recipe in extra.lineage.made_by:
            inputs = ", ".join(
                f"{_ref(i.artifact, i.ref or (i.sha256 or '')[:10])}×{i.weight:g}" for i in recipe.inputs
            )
            self.out.print(f"made by {recipe.op} of {inputs}", markup=False)
        for use in extra.lineage.used_in:
            self.out.print(f"used in {use.op} (×{use.weight:g}) → {_ref(use.artifact, 'not catalogued')}", markup=False)

    def tag_list(self, a: ArtifactRow | Artifact, tags: list[str]) -> None:
        if self.as_json:
            self.emit_json({"id": a.id, "name": a.name, "tags": tags})
        else:
            self.out.print(f"{a.name}: {', '.join(tags) if tags else 'no tags'}", markup=False)

    def artifact_note(self, a: ArtifactRow | Artifact) -> None:
        if self.as_json:
            self.emit_json({"id": a.id, "name": a.name, "notes": a.notes})
        else:
            self.out.print(f"{a.name}: {a.notes or 'no note'}", markup=False)

    def artifact_weight(self, a: ArtifactRow | Artifact) -> None:
        if self.as_json:
            self.emit_json({"id": a.id, "name": a.name, "preferred_weight": a.preferred_weight})
        else:
            weight = "no preferred weight" if a.preferred_weight is None else f"weight {a.preferred_weight:g}"
            self.out.print(f"{a.name}: {weight}", markup=False, highlight=False)

    def report(self, title: str, report: Any) -> None:
        """A scan or verify report: counts on one line, then every listed item."""
        if self.as_json:
            self.emit_json(report)
            return
        data = jsonable(report)
        roots = " " + ", ".join(data.pop("roots")) if data.get("roots") else ""
        elapsed = f" in {data.pop('elapsed'):.1f} s" if isinstance(data.get("elapsed"), (int, float)) else ""
        counts = [
            count(len(v) if isinstance(v, (list, dict)) else v, k.replace("_", " "))
            for k, v in data.items()
            if isinstance(v, (int, list, dict)) and not isinstance(v, bool)
        ]
        self.out.print(f"{title}{roots}{elapsed}: " + ", ".join(counts), markup=False, highlight=False)
        for key, value in data.items():
            if isinstance(value, dict):
                value = [f"{k}: {v}" for k, v in value.items()]
            if not isinstance(value, list) or not value:
                continue
            self.out.print(f"[bold]{key.replace('_', ' ')}[/]")
            for item in value[:LISTED]:
                self.out.print(f"  {_report_line(key, item)}", markup=False, highlight=False, soft_wrap=True)
            if len(value) > LISTED:
                self.out.print(f"  … and {len(value) - LISTED} more (--json lists all)", markup=False, highlight=False)

    def duplicate_groups(self, groups: list[list[ArtifactRow]]) -> None:
        if self.as_json:
            self.emit_json(
                {
                    "groups": [
                        {"sha256": g[0].sha256, "size": g[0].size, "artifacts": [artifact_row(a, []) for a in g]}
                        for g in groups
                    ]
                }
            )
            return
        if not groups:
            self.out.print("no duplicates")
        for group in groups:
            self.out.print(f"[bold]{(group[0].sha256 or '')[:10]}[/] {size_text(group[0].size)} × {len(group)}")
            for a in group:
                self.out.print(f"  {a.id} {a.path}", markup=False, highlight=False)

    def compatibility(self, result: Compatibility) -> None:
        if self.as_json:
            self.emit_json(result)
            return
        colour = {"compatible": "green", "partial": "yellow"}.get(result.verdict, "red")
        self.out.print(f"{escape(result.adapter.name)}: [{colour}]{escape(result.summary())}[/]")
        for canonical in result.missing[:10]:
            self.out.print(f"  missing  {canonical}", markup=False, highlight=False)
        for canonical, mine, theirs in result.mismatched[:10]:
            self.out.print(f"  shape    {canonical} {mine} vs {theirs}", markup=False, highlight=False)
        for stem in result.unmatched[:10]:
            self.out.print(f"  no layer {stem}", markup=False, highlight=False)
        hidden = max(0, len(result.missing) - 10) + max(0, len(result.mismatched) - 10)
        if hidden:
            self.note(f"… {hidden} more (--json lists all)")

    def catalog_counts(self, rows: list[KindCount], *, scan: Any, catalog: str) -> None:
        if self.as_json:
            self.emit_json({"catalog": catalog, "scan": scan, "counts": rows})
            return
        # One line per kind and family, its formats in a cell: every convention and family of the
        # demo zoo fits one screen.
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for row in rows:
            formats = groups.setdefault((row.kind, row.base), {})
            formats[row.format] = formats.get(row.format, 0) + row.count
        from rich.table import Table

        from loradex.adapters.model.architectures import BASES  # the architectures' tables: the counts' alone

        families = {base: i for i, base in enumerate(BASES)}  # SD1 … Flux.2, then unknown

        table = Table("kind", "base", "count", "formats", title=f"catalog {catalog}")
        for (kind, base), formats in sorted(groups.items(), key=lambda g: (g[0][0], families.get(g[0][1], len(BASES)))):
            cell = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in formats.items())
            table.add_row(kind, base, str(sum(formats.values())), cell)
        self.out.print(table)


def artifact_row(a: ArtifactRow | Listed, tags: list[str]) -> dict[str, Any]:
    """The JSON of one artifact in a listing."""
    from loradex.registry.queries.compat import base_of  # the catalog's modules load only when a catalog is read

    return {
        "id": a.id,
        "name": a.name,
        "path": a.path,
        "kind": a.kind,
        "format": a.format,
        "base": base_of(a),
        "detected_base": a.base,
        "line": a.line,
        "status": a.status,
        "rank_min": a.rank_min,
        "rank_max": a.rank_max,
        "ranks": a.ranks,
        "size": a.size,
        "sha256": a.sha256,
        "autov2": a.autov2,
        "autov3": a.autov3,
        "blake3": a.blake3,
        "crc32": a.crc32,
        "source": a.source,
        "sources": a.provenance,
        "tags": tags,
    }


def _list_cells(a: Listed, tags: list[str]) -> tuple[str, ...]:
    """The plain cells of a listing's row."""
    base = a.line or _base_cell(a)
    return (str(a.id), a.name, a.kind, a.format, base, _ranks(a), size_text(a.size), a.status, ", ".join(tags))


def _texts(cells: tuple[str, ...]) -> tuple[Text, ...]:
    """A listing's row as the table's cells: Text, not markup to parse (names come from files), on
    one line with control characters escaped (as :class:`.base.SafeConsole` escapes the strings it
    prints); a status other than ok in red."""
    return tuple(
        Text(printable(cell, one_line=True), style="red" if i == _STATUS and cell != "ok" else "")
        for i, cell in enumerate(cells)
    )


def _natural_widths(headers: Sequence[str], rows: Sequence[tuple[Text, ...]]) -> list[int]:
    """Each column's width: its widest cell, header included."""
    return [max([cell_len(h), *(row[i].cell_len for row in rows)]) for i, h in enumerate(headers)]


def _framed(widths: list[int]) -> int:
    """A boxed table's width: its columns, a blank each side of a cell and a frame between."""
    return sum(widths) + 3 * len(widths) + 1


def _boxed(
    headers: Sequence[str],
    rows: Sequence[tuple[Text, ...]],
    widths: list[int],
    *,
    right: int | None = None,
    caption: str | None = None,
) -> Text:
    """A table of one-line cells as Rich draws one (heavy head, bold headers, the caption centred
    below), drawn here: Rich's general layout (measuring every cell, then wrapping and cropping
    it) took longer than the rest of ``list`` (78 ms for 53 rows; this, 2 ms). Column ``right``
    is right-aligned; a cell wider than its column is cut with "…"."""

    def rule(left: str, line: str, cross: str, end: str) -> Text:
        return Text(left + cross.join(line * (w + 2) for w in widths) + end)

    def row(texts: Sequence[Text], bar: str) -> Text:
        parts: list[str | Text] = [bar]
        for i, (text, w) in enumerate(zip(texts, widths, strict=True)):
            if text.cell_len > w:
                text = text.copy()
                text.truncate(w, overflow="ellipsis")
            pad = " " * (w - text.cell_len)
            parts += [" ", pad, text, f" {bar}"] if i == right else [" ", text, pad, f" {bar}"]
        return Text.assemble(*parts)

    lines = [
        rule("┏", "━", "┳", "┓"),
        row([Text(h, style="bold") for h in headers], "┃"),
        rule("┡", "━", "╇", "┩"),
        *(row(texts, "│") for texts in rows),
        rule("└", "─", "┴", "┘"),
    ]
    if caption:
        lines.append(Text(" " * ((_framed(widths) - cell_len(caption)) // 2) + caption, style="italic dim"))
    return Text("\n").join(lines)


def _aligned(cells: Sequence[str], widths: list[int]) -> str:
    """One plain line of the listing: size right-aligned, the others left, one blank apart."""
    return " ".join(
        cell.rjust(w) if i == _SIZE else cell.ljust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
    ).rstrip(" ")


def _compact_table(cells: list[tuple[Text, ...]], width: int) -> Table:
    """The table of ``list`` for a terminal too narrow for the boxed one (:func:`_boxed`): no box,
    one blank between columns, kind and format cut short with "…", id, base, ranks, size and
    status whole, and names and tags folded in what is left (names first, tags get up to 10)."""
    from rich.table import Table

    headers = _LIST_HEADERS
    table = Table(
        *headers, caption=count(len(cells), "artifacts"), box=None, padding=(0, 1, 0, 0), header_style="bold underline"
    )
    for i, column in enumerate(table.columns):
        column.no_wrap = column.header not in ("name", "tags")
        column.overflow = "ellipsis" if column.no_wrap else "fold"
        if column.no_wrap:  # as wide as its longest cell, kind and format at most 9
            longest = max([len(headers[i]), *(row[i].cell_len for row in cells)])
            column.width = min(longest, 9) if column.header in ("kind", "format") else longest
    table.columns[_SIZE].justify = "right"
    left = width - sum(c.width or 0 for c in table.columns) - len(headers)  # one blank after each column
    tags = min(10, max([len(headers[8]), *(len(row[8]) for row in cells)]))
    name = max(12, min(max(len(row[1]) for row in cells), left - tags))
    table.columns[1].width, table.columns[8].width = name, max(4, left - name)
    for row in cells:
        table.add_row(*row)
    return table


def _civitai_grid(c: CivitaiRow, family: str) -> Table:
    """The Civitai section of ``show``: where the page is (or was), what it says, and when it was
    asked; ``family``: the artifact's, by its layers."""
    from rich.table import Table

    from loradex.registry.queries.views import civitai_base_model, civitai_license, civitai_page

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    page = civitai_page(c)
    if c.state == "matched":
        state = escape(page)
    elif c.state == "deleted":
        since = f" since {c.deleted_at:%Y-%m-%d}" if c.deleted_at else ""
        state = f"[red]deleted upstream[/]{since}" + (f" (was {escape(page)})" if page else "")
    else:
        state = "not on Civitai"
    rows = [
        ("civitai", state),
        ("model", escape(f"{c.model_name or '?'} ({c.model_type or '?'})" + (f" by {c.creator}" if c.creator else ""))),
        (
            "version",
            escape(
                f"{c.version_name or '?'} (id {c.version_id})"
                + (f", published {c.published_at:%Y-%m-%d}" if c.published_at else "")
            )
            if c.version_id
            else "",
        ),
        ("AIR", escape(c.air or "")),
        ("base model", escape(civitai_base_model(c.base_model, family)) if c.base_model else ""),
        ("trained words", escape(", ".join(c.trained_words[:10]))),
        ("license", escape(civitai_license(c))),
        ("civitai tags", escape(", ".join(c.tags[:15]))),
        ("checked", f"{c.last_checked:%Y-%m-%d %H:%M}"),
    ]
    for key, value in rows:
        if value:
            grid.add_row(key, value)
    return grid


def _report_line(key: str, item: Any) -> str:
    """One item of a report list on one line: a changed file's path then the rest in brief, a
    group of identical files (or weights) joined by "=", a (path, message) pair without the path said twice."""
    if isinstance(item, dict):
        return f"{item.get('path', '')}: " + ", ".join(
            f"{k} {_short(str(v), 12)}" for k, v in item.items() if k != "path"
        )
    if isinstance(item, (list, tuple)):
        if key in ("duplicates", "same_weights"):
            return " = ".join(map(str, item))
        path, *rest = map(str, item)
        return ": ".join([path, *(r.removeprefix(f"{path}: ") for r in rest)])
    return str(item)


def _base_cell(a: ArtifactRow | Listed) -> str:
    return f"{a.base_override} (set; probed {a.base})" if a.base_override else a.base


def _ranks(a: ArtifactRow | Listed) -> str:
    if a.rank_min is None:
        return ""
    return str(a.rank_min) if a.rank_min == a.rank_max else f"{a.rank_min}–{a.rank_max}"


def _ref(a: ArtifactRow | None, fallback: str) -> str:
    return f"{a.name} (id {a.id})" if a is not None else fallback


def _short(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
