"""One output sink for the CLI: Rich tables for people, JSON for scripts; notes to stderr."""

from __future__ import annotations

import json as jsonlib
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loradex.registry.compat import base_of
from loradex.registry.views import row_dict

if TYPE_CHECKING:  # the reports' modules need torch; the sink only reads their attributes
    from loradex.adapters.artifact import ArtifactInfo
    from loradex.adapters.convert import ConversionReport
    from loradex.adapters.inspection import Inspection
    from loradex.adapters.progress import Progress, ProgressEvent
    from loradex.registry.compat import Compatibility
    from loradex.registry.lineage import OpResult
    from loradex.registry.models import Artifact
    from loradex.registry.views import Details, KindCount


def _energy(values: dict[str, float]) -> dict[str, Any] | None:
    if not values:
        return None
    layer = min(values, key=values.__getitem__)
    return {"min": values[layer], "min_layer": layer, "mean": sum(values.values()) / len(values),
            "layers": len(values)}


class Sink:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        # Piped output gets a wide console: a table wrapped at 80 columns helps nobody.
        self.out = Console()
        if not self.out.is_terminal:
            self.out = Console(width=160)
        self.err = Console(stderr=True)

    def emit_json(self, data: Any) -> None:
        print(jsonlib.dumps(data, indent=2, default=str))

    def note(self, text: str) -> None:
        if not self.as_json:
            self.err.print(text, style="dim")

    def probe_table(self, infos: Iterable[ArtifactInfo], failures: list[str]) -> None:
        infos = list(infos)
        if self.as_json:
            self.emit_json({"artifacts": [i.to_dict() for i in infos], "errors": failures})
            return
        table = Table("name", "kind", "format", "base", "layers", "ranks", "dtype", "notes")
        for column in table.columns[:4]:
            column.no_wrap = True
        for i in infos:
            evidence = i.base_evidence[0].split(" (")[0] if i.base_evidence else ""
            notes = "; ".join(filter(None, [
                f"[yellow]{i.base_conflict}[/]" if i.base_conflict else evidence,
                f"[red]{len(i.unmatched)} unmatched[/]" if i.unmatched else "",
                i.reason or "",
                ("triggers: " + ", ".join(i.trigger_words[:3])) if i.trigger_words else "",
            ]))
            table.add_row(i.path.name, i.kind, i.format, i.base, str(len(i.layers) or len(i.inventory) or ""),
                          ",".join(map(str, i.ranks)), i.dtype or "", notes)
        self.out.print(table)
        for line in failures:
            # Plain print: Rich would wrap a long path over several lines.
            print(f"error: {line}", file=sys.stderr)

    def inspection(self, report: Inspection, *, show_layers: bool) -> None:
        if self.as_json:
            self.emit_json(report.to_dict())
            return
        info = report.info
        self.out.print(f"{info.path}: {info.kind} ({info.format}) for {info.base}, {len(report.layers)} layers, "
                       f"{info.parameters:,} parameters, ranks {report.rank_histogram}")
        if report.nonfinite:
            self.out.print(f"[red]NaN/Inf in {len(report.nonfinite)} layers: {', '.join(report.nonfinite[:5])}[/]")
        blocks = Table("block", "layers", "‖ΔW‖", "ranks")
        for b in report.blocks:
            blocks.add_row(b.block, str(b.layers), f"{b.norm:.4g}", ",".join(map(str, b.ranks)))
        self.out.print(blocks)
        if show_layers:
            table = Table("stem (in file)", "canonical layer", "algo", "rank", "alpha", "‖ΔW‖", "eff. rank")
            for s in report.layers:
                table.add_row(s.stem, s.canonical or "[red]unmatched[/]", s.algorithm, str(s.rank or ""),
                              f"{s.alpha:g}" if s.alpha is not None else "",
                              f"{s.norm:.4g}" if s.norm is not None else "-",
                              f"{s.effective_rank:.2f}" if s.effective_rank is not None else "-")
            self.out.print(table)

    def conversion(self, report: ConversionReport) -> None:
        if self.as_json:
            self.emit_json(report.__dict__)
            return
        self.out.print(f"wrote {report.target} ({report.target_format}, {report.layers} layers) "
                       f"from {report.source} ({report.source_format})")
        for note in report.notes:
            self.out.print(note)

    # -----------------------------------------------------------------------------------
    # The catalog

    @contextmanager
    def progress(self, label: str) -> Iterator[Progress | None]:
        """A callback that draws a progress bar from :class:`ProgressEvent`\ s — only on a
        terminal and never under ``--json``."""
        if self.as_json or not self.err.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as ProgressBar

        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("[dim]{task.fields[item]}"))
        with ProgressBar(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=None, item="")

            def update(event: ProgressEvent) -> None:
                item = Path(event.item).name if event.item else ""
                bar.update(task, description=f"{label}: {event.phase}", completed=event.done,
                           total=event.total or None, item=item)

            yield update

    def artifact_list(self, rows: list[Artifact], tags: dict[int, list[str]]) -> None:
        if self.as_json:
            self.emit_json({"artifacts": [artifact_row(a, tags.get(a.id or 0, [])) for a in rows]})
            return
        table = Table("id", "name", "kind", "format", "base", "ranks", "size", "status", "tags",
                      caption=f"{len(rows)} artifact{'s' if len(rows) != 1 else ''}")
        for column in table.columns[:5]:
            column.no_wrap = True
        for a in rows:
            status = a.status if a.status == "ok" else f"[red]{a.status}[/]"
            table.add_row(str(a.id), a.name, a.kind, a.format, _base_cell(a), _ranks(a), _size(a.size), status,
                          ", ".join(tags.get(a.id or 0, [])))
        self.out.print(table)

    def artifact_details(self, a: Artifact, extra: Details) -> None:
        if self.as_json:
            data = row_dict(a, without=("search_text",))
            data["effective_base"] = base_of(a)
            data.update(extra.to_dict())
            self.emit_json(data)
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        base = _base_cell(a) + (f" [yellow]({a.base_conflict})[/]" if a.base_conflict else "")
        fields = [
            ("id", str(a.id)), ("name", a.name), ("path", a.path), ("kind", f"{a.kind} ({a.format})"),
            ("base", base), ("evidence", "; ".join(a.base_evidence)),
            ("claims", ", ".join(f"{k}={v}" for k, v in a.base_claims.items())),
            ("status", a.status + (f": {a.error}" if a.error else "")), ("size", _size(a.size)),
            ("sha256", a.sha256 or "not hashed yet"), ("AutoV2", a.autov2 or ""), ("tensor hash", a.tensor_hash or ""),
            ("model hash", a.model_hash or ""), ("safety", a.safety), ("dtype", a.dtype or ""),
            ("ranks", _ranks(a)), ("algorithms", ", ".join(a.algorithms)),
            ("trigger words", ", ".join(a.trigger_words[:10])), ("tags", ", ".join(extra.tags)),
            ("notes", a.notes), ("weight", f"{a.preferred_weight:g}" if a.preferred_weight is not None else ""),
            ("rating", str(a.rating) if a.rating is not None else ""), ("source", a.source),
        ]
        for key, value in fields:
            if value:
                grid.add_row(key, value)
        self.out.print(grid)
        layers = extra.layers
        if layers.layers:
            counts = "; ".join(f"{title}: " + ", ".join(f"{k} {v}" for k, v in by.items())
                               for title, by in (("components", layers.by_component),
                                                 ("algorithms", layers.by_algorithm), ("ranks", layers.by_rank)) if by)
            self.out.print(f"\n[bold]layers[/] {layers.layers} ({counts})")
            for stem, canonical in layers.first:
                self.out.print(f"  {stem} → {canonical or '[red]unmatched[/]'}" if stem != canonical
                               else f"  {canonical}")
        if a.training_metadata:
            meta = Table("metadata", "value", show_header=True)
            for key, value in sorted(a.training_metadata.items()):
                meta.add_row(key, _short(str(value)))
            self.out.print(meta)
        for preview in extra.previews:
            self.out.print(f"preview: {preview.path}" + (f" — {preview.prompt}" if preview.prompt else ""))
        for pub in extra.publications:
            self.out.print(f"published: {pub.repo}" + (f" @ {pub.commit}" if pub.commit else ""))
        for recipe in extra.lineage.made_by:
            inputs = ", ".join(f"{_ref(i.artifact, i.ref or (i.sha256 or '')[:10])}×{i.weight:g}" for i in recipe.inputs)
            self.out.print(f"made by {recipe.op} of {inputs}")
        for use in extra.lineage.used_in:
            self.out.print(f"used in {use.op} (×{use.weight:g}) → {_ref(use.artifact, 'not catalogued')}")

    def tag_list(self, a: Artifact, tags: list[str]) -> None:
        if self.as_json:
            self.emit_json({"id": a.id, "name": a.name, "tags": tags})
        else:
            self.out.print(f"{a.name}: {', '.join(tags) if tags else 'no tags'}")

    def artifact_note(self, a: Artifact) -> None:
        if self.as_json:
            self.emit_json({"id": a.id, "name": a.name, "notes": a.notes})
        else:
            self.out.print(f"{a.name}: {a.notes or 'no note'}")

    def report(self, title: str, data: dict[str, Any]) -> None:
        """A scan or verify report: counts on one line, then every listed item."""
        if self.as_json:
            self.emit_json(data)
            return
        data = dict(data)
        roots = " " + ", ".join(data.pop("roots")) if data.get("roots") else ""
        elapsed = f" in {data.pop('elapsed'):.1f} s" if isinstance(data.get("elapsed"), (int, float)) else ""
        counts = [f"{len(v) if isinstance(v, (list, dict)) else v} {k.replace('_', ' ')}" for k, v in data.items()
                  if isinstance(v, (int, list, dict)) and not isinstance(v, bool)]
        self.out.print(f"{title}{roots}{elapsed}: " + ", ".join(counts), markup=False, highlight=False)
        for key, value in data.items():
            if isinstance(value, dict):
                value = [f"{k}: {v}" for k, v in value.items()]
            if not isinstance(value, list) or not value:
                continue
            self.out.print(f"[bold]{key.replace('_', ' ')}[/]")
            for item in value:
                # (path, message) pairs and groups of paths read best on one line each.
                if isinstance(item, dict):  # e.g. a changed file: its path, then the rest in brief
                    text = f"{item.get('path', '')}: " + ", ".join(
                        f"{k} {_short(str(v), 12)}" for k, v in item.items() if k != "path")
                elif isinstance(item, (list, tuple)):
                    text = (" = " if key == "duplicates" else ": ").join(map(str, item))
                else:
                    text = str(item)
                self.out.print(f"  {text}", markup=False, highlight=False)

    def duplicate_groups(self, groups: list[list[Artifact]]) -> None:
        if self.as_json:
            self.emit_json({"groups": [{"sha256": g[0].sha256, "size": g[0].size,
                                        "artifacts": [artifact_row(a, []) for a in g]} for g in groups]})
            return
        if not groups:
            self.out.print("no duplicates")
        for group in groups:
            self.out.print(f"[bold]{(group[0].sha256 or '')[:10]}[/] {_size(group[0].size)} × {len(group)}")
            for a in group:
                self.out.print(f"  {a.id} {a.path}", markup=False, highlight=False)

    def compatibility(self, result: Compatibility) -> None:
        if self.as_json:
            self.emit_json(result.to_dict())
            return
        colour = {"compatible": "green", "partial": "yellow"}.get(result.verdict, "red")
        self.out.print(f"{result.adapter.name}: [{colour}]{escape(result.summary())}[/]")
        for canonical in result.missing[:10]:
            self.out.print(f"  missing  {canonical}", markup=False, highlight=False)
        for canonical, mine, theirs in result.mismatched[:10]:
            self.out.print(f"  shape    {canonical} {mine} vs {theirs}", markup=False, highlight=False)
        for stem in result.unmatched[:10]:
            self.out.print(f"  no layer {stem}", markup=False, highlight=False)
        hidden = max(0, len(result.missing) - 10) + max(0, len(result.mismatched) - 10)
        if hidden:
            self.note(f"… {hidden} more (--json lists all)")

    def catalog_counts(self, rows: list[KindCount], *, scan: dict[str, Any], catalog: str) -> None:
        if self.as_json:
            self.emit_json({"catalog": catalog, "scan": scan, "counts": [row.to_dict() for row in rows]})
            return
        table = Table("kind", "format", "base", "count", title=f"catalog {catalog}")
        for row in rows:
            table.add_row(row.kind, row.format, row.base, str(row.count))
        self.out.print(table)

    def operation(self, result: OpResult) -> None:
        """Summary of a mix / resize / bake / extract run."""
        r = result.report
        energy = _energy(r.get("retained_energy") or {})
        if self.as_json:
            self.emit_json({**result.to_dict(), "retained_energy": energy})
            return
        inputs = [i for i in result.inputs if i["role"] == "input"]
        ranks = sorted(set(r.get("ranks") or []))
        rank_text = (f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {ranks[0]}–{ranks[-1]}") if ranks else ""
        if result.op == "mix":
            what = f"mix ({r['method']}) of {len(inputs)} input{'s' if len(inputs) != 1 else ''}, {r['layers']} layers, " \
                   + rank_text
        elif result.op == "resize":
            dynamic = result.recipe.params.get("dynamic")
            rule = f"{dynamic[0]}={dynamic[1]:g}" if dynamic else f"rank {result.recipe.params.get('rank')}"
            what = f"resize ({rule}), {r['layers']} layers, {rank_text}"
        elif result.op == "bake":
            what = (f"{len(inputs)} LoRA{'s' if len(inputs) != 1 else ''} baked into {Path(r['base']).name} "
                    f"(dtype {r['dtype']}), {r['patched_tensors']} tensors patched in {r['seconds']:.1f} s")
        else:
            what = f"extracted {r['layers']} layers at rank {r['rank']} ({r['unchanged']} unchanged)"
        self.out.print(f"wrote {result.output}: {what}", markup=False, highlight=False)
        for path, weight, applied, total in r.get("loras") or []:
            self.out.print(f"  {Path(path).name} ×{weight:g}: {applied}/{total} layers", markup=False, highlight=False)
        if r.get("unmatched"):
            self.out.print(f"  skipped {len(r['unmatched'])} unmatched layers (first: {', '.join(r['unmatched'][:3])})",
                           markup=False, highlight=False)
        if energy:
            self.out.print(f"retained energy: min {energy['min']:.4f} ({energy['min_layer']}), mean {energy['mean']:.4f} "
                           f"over {energy['layers']} layers (--json lists all)", markup=False, highlight=False)
        if result.artifact_id is not None:
            self.out.print(f"recorded in the catalog as {result.artifact_name} (id {result.artifact_id})",
                           markup=False, highlight=False)
        else:
            self.note("not recorded: no catalog in use (--catalog or $LORADEX_CATALOG)")



def artifact_row(a: Artifact, tags: list[str]) -> dict[str, Any]:
    """The JSON of one artifact in a listing."""
    return {"id": a.id, "name": a.name, "path": a.path, "kind": a.kind, "format": a.format, "base": base_of(a),
            "detected_base": a.base, "status": a.status, "rank_min": a.rank_min, "rank_max": a.rank_max,
            "ranks": a.ranks, "size": a.size, "sha256": a.sha256, "autov2": a.autov2, "tags": tags}


def _base_cell(a: Artifact) -> str:
    return f"{a.base_override} (set; probed {a.base})" if a.base_override else a.base


def _ranks(a: Artifact) -> str:
    if a.rank_min is None:
        return ""
    return str(a.rank_min) if a.rank_min == a.rank_max else f"{a.rank_min}–{a.rank_max}"


def _ref(a: Artifact | None, fallback: str) -> str:
    return f"{a.name} (id {a.id})" if a is not None else fallback


def _short(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""
