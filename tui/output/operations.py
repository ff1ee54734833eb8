"""What the operations print: mix, resize, bake, extract and convert (from a recipe) summaries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradex.adapters.words import count

from .base import BaseSink

if TYPE_CHECKING:
    from loradex.registry.services.runner import OpResult


class OperationsOutput(BaseSink):
    def operation(self, result: OpResult) -> None:
        """Summary of a mix / resize / bake / extract / convert run."""
        r = result.report
        energy = _energy(r.get("retained_energy") or {})
        if self.as_json:
            self.emit_json({**result.to_dict(), "retained_energy": energy})
            return
        inputs = [i for i in result.inputs if i["role"] == "input"]
        ranks = sorted(set(r.get("ranks") or []))
        rank_text = (f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {ranks[0]}–{ranks[-1]}") if ranks else ""
        if result.op == "mix":
            what = f"mix ({r['method']}) of {count(len(inputs), 'inputs')}, {count(r['layers'], 'layers')}, {rank_text}"
        elif result.op == "resize":
            dynamic = result.recipe.params.get("dynamic")
            rule = f"{dynamic[0]}={dynamic[1]:g}" if dynamic else f"rank {result.recipe.params.get('rank')}"
            what = f"resize ({rule}), {count(r['layers'], 'layers')}, {rank_text}"
        elif result.op == "bake":
            what = (
                f"{count(len(inputs), 'LoRAs')} baked into {Path(r['base']).name} "
                f"(dtype {r['dtype']}), {count(r['patched_tensors'], 'tensors')} patched in {r['seconds']:.1f} s"
            )
        elif result.op == "convert":
            what = f"{count(r['layers'], 'layers')} converted from {r['source_format']} to {r['target_format']}"
        else:
            what = f"extracted {count(r['layers'], 'layers')} at rank {r['rank']} ({r['unchanged']} unchanged)"
        self.out.print(f"wrote {result.output}: {what}", markup=False, highlight=False)
        for path, weight, applied, total in r.get("loras") or []:
            self.out.print(f"  {Path(path).name} ×{weight:g}: {applied}/{total} layers", markup=False, highlight=False)
        if r.get("unmatched"):
            self.out.print(
                f"  skipped {count(len(r['unmatched']), 'unmatched layers')} (first: {', '.join(r['unmatched'][:3])})",
                markup=False,
                highlight=False,
            )
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
            self.emit_json({**r, "artifact": result.to_dict()["artifact"]})
            return
        self.out.print(
            f"wrote {r['target']} ({r['target_format']}, {count(r['layers'], 'layers')}) "
            f"from {r['source']} ({r['source_format']})",
            markup=False,
            highlight=False,
        )
        for note in r["notes"]:
            self.out.print(note, markup=False, highlight=False)
        self._recorded(result)

    def _recorded(self, result: OpResult) -> None:
        if result.artifact_id is not None:
            self.out.print(
                f"recorded in the catalog as {result.artifact_name} (id {result.artifact_id})",
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
