"""CLIP-score sweeps: how an adapter's effect on prompt alignment (and on likeness to reference
images) changes with its scale, as in the seed paper's §4.3 evaluation.

Every prompt of the file is rendered over the seed × scale grid on one warm
:class:`~.workbench.Workbench`; the images are scored by :mod:`.clipscore` per scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradex.adapters.errors import ArtifactNotFoundError, UnsupportedError
from loradex.adapters.threads import torch_threads

from .clipscore import ScaleScore, load_clip, plot_scores, score_by_scale, write_csv
from .control import open_image
from .records import ImageRecord
from .workbench import Workbench

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


@dataclass
class Evaluation:
    """The table of an eval run and where its files are."""

    rows: list[ScaleScore]
    csv: Path
    plot: Path
    images: list[ImageRecord] = field(default_factory=list)
    interrupted: bool = False

    def __json__(self) -> dict[str, Any]:
        """The images counted, not listed (each has its PNG beside the plot)."""
        return {
            "rows": self.rows,
            "csv": str(self.csv),
            "plot": str(self.plot),
            "images": len(self.images),
            "interrupted": self.interrupted,
        }


def read_prompts(path: str | Path) -> list[str]:
    """One prompt per line; blank lines and lines starting with ``#`` are skipped."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactNotFoundError("no such prompts file", path=path)
    prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise UnsupportedError("the prompts file holds no prompt (one per line)", path=path)
    return prompts


def reference_images(folder: str | Path) -> list[Any]:
    """The images in ``folder`` (png, jpg, webp, bmp), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtifactNotFoundError("no such reference folder", path=folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise UnsupportedError("the reference folder holds no image", path=folder)
    return [open_image(p) for p in files]


@torch_threads()
def evaluate(
    bench: Workbench,
    adapters: Sequence[tuple[str | Path, float]],
    *,
    prompts: Sequence[str],
    scales: Sequence[float],
    seeds: Sequence[int],
    clip: str | Path,
    out: str | Path,
    references: Sequence[Any] | None = None,
    **render: Any,
) -> Evaluation:
    """Render every prompt over seeds × scales, score per scale, write ``scores.csv`` and
    ``scores.png`` into ``out`` (the images under ``out/images/prompt-NN``).

    ``render`` takes :meth:`Workbench.render`'s other options (steps, sampler, progress,
    should_stop …). A stopped render scores what finished (``Evaluation.interrupted``).
    """
    out = Path(out)
    scorer = load_clip(clip, device=bench.placement.device)
    items: list[tuple[float, Any, str]] = []
    records: list[ImageRecord] = []
    interrupted = False
    for k, prompt in enumerate(prompts):
        grid = bench.render(
            adapters, prompt=prompt, seeds=seeds, scales=scales, out=out / "images" / f"prompt-{k:02d}", **render
        )
        items += [(rec.scale, picture, prompt) for rec, picture in zip(grid.images, grid.pictures, strict=True)]
        records += grid.images
        if grid.interrupted:
            interrupted = True
            break
    rows = score_by_scale(scorer, items, references)
    names = ", ".join(Path(p).name for p, _ in adapters)
    return Evaluation(
        rows,
        write_csv(rows, out / "scores.csv"),
        plot_scores(rows, out / "scores.png", title=f"CLIP score vs scale: {names}"),
        records,
        interrupted,
    )
