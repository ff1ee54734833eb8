"""What the operations print: mix, resize, bake, extract and convert (from a recipe) summaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.jsonable import jsonable
from loradex.adapters.ops.options import dynamic_text
from loradex.adapters.words import count, not_held

from .base import BaseSink

if TYPE_CHECKING:
    from loradex.registry.services.runner import OpResult


class OperationsOutput(BaseSink):
    def operation(self, result: OpResult) -> None:
        """Summary of a mix / resize / bake / extract / convert run."""
        r = result.report
        energy = _energy(getattr(r, "retained_energy", {}))  # the SVD ops' reports (mix, resize, extract, convert)
        if self.as_json:
            self.emit_json({**jsonable(result), "retained_energy": energy})
            return
        inputs = [i for i in result.inputs if i.role == "input"]
        lines: list[str] = []
        if result.op in ("mix", "resize"):
            ranks = sorted(set(r.ranks))
            rank_text = (f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {ranks[0]}–{ranks[-1]}") if ranks else ""
            if result.op == "mix":
                what = f"mix ({r.method}) of {count(len(inputs), 'inputs')}, {count(r.layers, 'layers')}, {rank_text}"
            else:
                rule = result.recipe.params.get("dynamic")
                text = dynamic_text(rule) if rule else f"rank {result.recipe.params.get('rank')}"
                what = f"resize ({text}), {count(r.layers, 'layers')}, {rank_text}"
        elif result.op == "bake":
            what = (
                f"{count(len(inputs), 'LoRAs')} baked into {Path(r.base).name} "
                f"(dtype {r.dtype}), {count(r.patched_tensors, 'tensors')} patched in {r.seconds:.1f} s"
            )
            lines = [
                f"  {Path(lora.path).name} ×{lora.weight:g}: {lora.applied}/{lora.layers} layers" for lora in r.loras
            ]
            if r.elsewhere:
                lines.append(f"  skipped {not_held(r.elsewhere)}")
            if r.unmatched:
                lines.append(
                    f"  skipped {count(len(r.unmatched), 'unmatched layers')} (first: {', '.join(r.unmatched[:3])})"
                )
        elif result.op == "convert":
            what = f"{count(r.layers, 'layers')} converted from {r.source_format} to {r.target_format}"
        else:
            what = f"extracted {count(r.layers, 'layers')} at rank {r.rank} ({r.unchanged} unchanged)"
        for line in [f"wrote {result.output}: {what}", *lines]:
            self.out.print(line, markup=False, highlight=False)
        if energy:
            self.out.print(
                f"retained energy: min {energy['min']:.4f} ({energy['min_layer']}), mean {energy['mean']:.4f} "
                f"over {count(energy['layers'], 'layers')} (--json lists all)",
                markup=False,
                highlight=False,
            )
        self._recorded(result)

    def conversion(self, result: OpResult) -> None:
        """The convert command's summary; ``--json``: its report, and the output's catalog row."""
        r = result.report
        if self.as_json:
            self.emit_json({**jsonable(r), "artifact": jsonable(result.artifact)})
            return
        self.out.print(
            f"wrote {r.target} ({r.target_format}, {count(r.layers, 'layers')}) from {r.source} ({r.source_format})",
            markup=False,
            highlight=False,
        )
        for note in r.notes:
            self.out.print(note, markup=False, highlight=False)
        self._recorded(result)

    def _recorded(self, result: OpResult) -> None:
        if result.artifact is not None:
            self.out.print(
                f"recorded in the catalog as {result.artifact.name} (id {result.artifact.id})",
                markup=False,
                highlight=False,
            )
        else:
            self.note("not recorded: no catalog in use (--catalog or $LORADEX_CATALOG)")


def _energy(values: dict[str, float]) -> dict[str, Any] | None:
    if not values:
        return None
    layer = min(values, key=values.__getitem__)
    return {"min": values[layer], "min_layer": layer, "mean": sum(values.values()) / len(values), "layers": len(values)}
