"""extract(base, tuned, rank, out): a LoRA from the difference of two checkpoints.

Layer by layer (one pair of tensors in memory at a time): ΔW = W_tuned − W_base in float32,
then its best rank-r approximation. Large layers use a randomised SVD (Halko et al.: a few
power iterations on a rank+oversampling sketch), which costs O(m·n·r) instead of the full
SVD's O(m·n·min(m, n)); small ones take the exact SVD. Layers that did not change are
skipped and reported; every written layer reports the share of ‖ΔW‖² it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .bake import DTYPES
from .checkpoint import LayerWeights
from .errors import IncompatibleError, UnsupportedError
from .layermap import layer_map
from .mix import kohya_tensors
from .probe import probe
from .progress import Progress, ProgressEvent
from .recipe import Recipe
from .safetensors_io.writer import save_tensors

_RANDOMISED_ABOVE = 1024  # min(m, n) beyond which the sketch beats the full SVD


@dataclass
class ExtractReport:
    output: Path
    rank: int
    layers: int
    unchanged: int
    retained_energy: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.__dict__, "output": str(self.output)}


def truncated_svd(delta: torch.Tensor, rank: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``U, S, Vh`` of the best rank-``rank`` approximation of a 2-D ``delta`` (deterministic)."""
    if min(delta.shape) <= _RANDOMISED_ABOVE or rank * 4 >= min(delta.shape):
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        return u[:, :rank], s[:rank], vh[:rank]
    gen = torch.Generator().manual_seed(seed)
    sketch = delta @ torch.randn(delta.shape[1], rank + 10, generator=gen)
    for _ in range(2):  # power iterations sharpen the subspace when σ decays slowly
        sketch = delta @ (delta.T @ torch.linalg.qr(sketch)[0])
    q = torch.linalg.qr(sketch)[0]
    u, s, vh = torch.linalg.svd(q.T @ delta, full_matrices=False)
    return (q @ u)[:, :rank], s[:rank], vh[:rank]


def extract(base: str | Path, tuned: str | Path, out: str | Path, *, rank: int, dtype: str = "fp16",
            min_change: float = 1e-6, progress: Progress | None = None) -> ExtractReport:
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
    """
    base, tuned, out = Path(base), Path(tuned), Path(out)
    infos = [probe(base), probe(tuned)]
    if any(i.kind != "checkpoint" for i in infos):
        raise UnsupportedError("extract needs two checkpoints")
    if infos[0].base != infos[1].base:
        raise IncompatibleError(f"{base.name} is {infos[0].base}, {tuned.name} is {infos[1].base}")
    lm = layer_map(infos[0].base)
    factors: list[tuple[str, torch.Tensor, torch.Tensor, tuple[int, ...]]] = []
    report = ExtractReport(out, rank, 0, 0)
    with LayerWeights(base, infos[0]) as before, LayerWeights(tuned, infos[1]) as after:
        for done, name in enumerate(before.locations, 1):
            if progress:
                progress(ProgressEvent("extract", done, len(before.locations), name))
            w2 = after.weight(name)
            if w2 is None:
                continue
            w = before.weight(name)
            if w.shape != w2.shape:
                raise IncompatibleError(f"layer {name} has shape {tuple(w.shape)} in {base.name} "
                                        f"but {tuple(w2.shape)} in {tuned.name}")
            delta = (w2 - w).flatten(1)
            total = float(delta.square().sum())
            if total <= (min_change * float(w.norm())) ** 2:
                report.unchanged += 1
                continue
            u, s, vh = truncated_svd(delta, rank)
            stem = lm.layers[name].kohya
            report.retained_energy[stem] = float(s.square().sum()) / total
            root = s.sqrt()  # split σ evenly: keeps both factors in fp16 range
            factors.append((stem, u * root, root.unsqueeze(1) * vh, tuple(w.shape)))
            report.layers += 1
    tensors = kohya_tensors(factors, DTYPES[dtype])
    recipe = Recipe.for_files("extract", [(tuned, 1.0)], {"rank": rank, "dtype": dtype, "min_change": min_change},
                              base=base)
    save_tensors(out, tensors, {"ss_network_module": "networks.lora", "ss_network_dim": str(rank),
                                "ss_network_alpha": str(rank), "loradex.recipe": recipe.to_json()},
                 protect=[base, tuned])
    return report
