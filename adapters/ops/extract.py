"""extract(base, tuned, rank, out): a LoRA from the difference of two checkpoints.

Layer by layer (one pair of tensors in memory at a time): ΔW = W_tuned − W_base in float32,
then its best rank-r approximation (:func:`~.lowrank.truncated_svd`: randomised for large
layers). Layers that did not change are skipped and reported; every written layer reports
the share of ‖ΔW‖² it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loradex.adapters.errors import IncompatibleError, UnsupportedError
from loradex.adapters.io.hashing import FileHashes
from loradex.adapters.model.artifact import ArtifactInfo
from loradex.adapters.model.checkpoint import LayerWeights
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.adapters.threads import torch_threads

from .factors import LoraLayer, save_kohya, storage_dtype
from .lowrank import retained_energy, split_svd, truncated_svd
from .recipe import METADATA_KEY
from .recipe_sources import stamp


@dataclass
class ExtractReport:
    output: Path
    rank: int
    layers: int
    unchanged: int
    retained_energy: dict[str, float] = field(default_factory=dict)
    #: The output's hashes, computed while it was written.
    hashes: FileHashes | None = None


@torch_threads()
def extract(
    base: str | Path,
    tuned: str | Path,
    out: str | Path,
    *,
    rank: int,
    dtype: str = "fp16",
    min_change: float = 1e-6,
    progress: Progress | None = None,
) -> ExtractReport:
    """Write the LoRA (kohya format) that turns ``base`` into ``tuned``, rank ``rank``.

    Args:
        base, tuned: checkpoints of the same family and layout (single files or diffusers folders).
        out: output file, written atomically.
        rank: rank of every extracted layer.
        dtype: storage dtype of the factors.
        min_change: layers whose ‖ΔW‖ / ‖W‖ is below this are skipped as unchanged.
        progress: called with an ``extract`` :class:`ProgressEvent` per layer.

    Raises:
        IncompatibleError: the checkpoints are of different families or layouts.
        UnsupportedError: not two checkpoints, or one is a GGUF (quantised).
    """
    base, tuned, out = Path(base), Path(tuned), Path(out)
    infos = [probe(base), probe(tuned)]
    if gguf := next((i.path for i in infos if i.format == "gguf"), None):
        raise UnsupportedError(
            "extract cannot diff a GGUF: its weights are quantised, so a difference would be mostly "
            "quantisation error; extract from the original safetensors checkpoints",
            path=gguf,
        )
    if any(i.kind != "checkpoint" for i in infos):
        raise UnsupportedError("extract needs two checkpoints")
    family, size = infos[0].base, infos[0].base_size
    if (infos[1].base, infos[1].base_size) != (family, size):
        raise IncompatibleError(f"{base.name} is {_named(infos[0])}, {tuned.name} is {_named(infos[1])}")
    stems = {name: layer.kohya for name, layer in layer_map(family, size).layers.items()}
    layers: list[LoraLayer] = []
    report = ExtractReport(out, rank, 0, 0)
    energies: dict[str, tuple[float, float]] = {}  # kohya stem → (energy kept, energy of ΔW)
    with LayerWeights(base, infos[0]) as before, LayerWeights(tuned, infos[1]) as after:
        for done, name in enumerate(before.locations, 1):
            if progress:
                progress(ProgressEvent("extract", done, len(before.locations), name))
            w2 = after.weight(name)
            if w2 is None:
                continue
            w = before.weight(name)
            assert w is not None  # name is one of the base's own locations
            if w.shape != w2.shape:
                raise IncompatibleError(
                    f"layer {name} has shape {tuple(w.shape)} in {base.name} but {tuple(w2.shape)} in {tuned.name}"
                )
            delta = (w2 - w).flatten(1)
            total = float(delta.square().sum())
            if total <= (min_change * float(w.norm())) ** 2:
                report.unchanged += 1
                continue
            u, s, vh = truncated_svd(delta, rank)
            # The parts of a fused module (a DiT's q/k/v) are written as its one kohya stem.
            kept, whole = energies.get(stems[name], (0.0, 0.0))
            energies[stems[name]] = (kept + retained_energy(s, rank, total) * total, whole + total)
            report.retained_energy[stems[name]] = energies[stems[name]][0] / energies[stems[name]][1]
            layers.append(LoraLayer(name, *split_svd(u, s, vh), tuple(w.shape)))
            report.layers += 1
    if not layers:
        raise UnsupportedError(
            f"no layer differs from {base.name} (each changed by less than min_change "
            f"{min_change:g} of its norm); there is nothing to extract",
            path=tuned,
        )
    recipe = stamp("extract", [(tuned, 1.0)], {"rank": rank, "dtype": dtype, "min_change": min_change}, base=base)
    report.hashes = save_kohya(
        out,
        layers,
        base=family,
        size=size,
        dtype=storage_dtype(dtype),
        metadata={METADATA_KEY: recipe.to_json()},
        protect=[base, tuned],
    )
    return report


def _named(info: ArtifactInfo) -> str:
    """``flux2 klein-4b``: a checkpoint's family with its size, when the family has sizes."""
    return f"{info.base} {info.base_size}" if info.base_size else info.base
