"""Quick-test images recorded as previews of the adapters they show, and the quick-test that
renders them and records them (:func:`quick_test`: ``loradex try`` and the TUI's ``t``).

Each image of a ``loradex try`` grid becomes one ``preview`` row per adapter named on the
command line (the scale-0 column too: it is the reference the other columns are read
against), with the prompt, seed, scale, base and its family, and every adapter applied with its
effective weight — an image made with two LoRAs is a preview of each, and says so. An adapter
given by a path that the catalog does not hold yet is scanned in first, so no image is left
unrecorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

import loradex.adapters.interrupts as interrupts
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Preview

if TYPE_CHECKING:
    from loradex.adapters.generate.records import ImageRecord
    from loradex.adapters.generate.workbench import Grid, Workbench

__all__ = ["QuickTest", "quick_test", "record_previews"]


def _artifacts(engine: Engine, paths: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Catalog id and name of each path (scanned in first where the catalog lacks it)."""
    wanted = {os.path.abspath(p) for p in paths}
    query = select(Artifact.path, Artifact.id, Artifact.name)
    found: dict[str, tuple[int, str]] = {}

    def read(paths: Iterable[str]) -> None:
        with open_session(engine) as session:
            rows = session.exec(query.where(col(Artifact.path).in_(paths))).all()
        for path, id_, name in rows:
            assert id_ is not None  # a row read from the catalog has its id
            found[path] = (id_, name)

    read(wanted)
    missing = sorted(wanted - set(found))
    if missing:
        from .scan import scan

        scan([Path(p) for p in missing], engine=engine, workers=1, remember=False)
        read(missing)
    return found


def record_previews(engine: Engine, images: Iterable[ImageRecord], *, base_family: str | None) -> int:
    """Add a preview row for every (image, adapter) pair not recorded yet, and fill in the
    adapters of a row recorded before they were kept; returns rows added."""
    images = [image for image in images if image.path]
    known = _artifacts(engine, {ref.path for image in images for ref in image.adapters})
    added = 0
    with open_session(engine) as session:
        for image in images:
            assert image.path is not None  # images without a path were dropped above
            adapters: list[dict[str, Any]] = []
            for ref in image.adapters:
                artifact_id, name = known.get(os.path.abspath(ref.path), (None, ref.name))
                adapters.append(
                    {
                        "artifact_id": artifact_id,
                        "name": name,
                        "kind": ref.kind,
                        "sha256": ref.sha256,
                        "weight": ref.weight,
                    }
                )
            for entry in adapters:  # every adapter named, embeddings and a ControlNet included
                if entry["artifact_id"] is None:
                    continue
                row = session.exec(
                    select(Preview).where(
                        col(Preview.artifact_id) == entry["artifact_id"], col(Preview.path) == image.path
                    )
                ).first()
                if row is None:
                    session.add(
                        Preview(
                            artifact_id=entry["artifact_id"],
                            path=image.path,
                            prompt=image.prompt,
                            seed=image.seed,
                            scale=image.scale,
                            base=image.base.path,
                            base_family=base_family,
                            adapters=adapters,
                            source="quicktest",
                        )
                    )
                    added += 1
                elif row.adapters is None:
                    row.adapters, row.base_family = adapters, base_family
                    session.add(row)
        session.commit()
    return added


@dataclass(frozen=True)
class QuickTest:
    """A quick-test's grid and what the catalog recorded of it.

    Attributes:
        grid: the render (``grid.interrupted``: stopped early; its finished images are kept).
        recorded: preview rows added; None without a catalog.
    """

    grid: Grid
    recorded: int | None


def quick_test(
    bench: Workbench, adapters: Sequence[tuple[str, float]], *, engine: Engine | None, **render: Any
) -> QuickTest:
    """Render the seed × scale grid of ``adapters`` on ``bench`` (``Workbench.render`` with
    ``render``'s options), then record every finished image as a preview of each adapter it
    shows, Ctrl-C held while the rows are written. A render that was stopped records what finished.

    Args:
        bench: the loaded base.
        adapters: ``(path, weight)`` pairs.
        engine: the catalog to record in; None renders only.
        render: ``Workbench.render``'s keyword options (prompt, seeds, scales, out, progress,
            should_stop …).
    """

    grid = bench.render(adapters, **render)
    if engine is None:
        return QuickTest(grid, None)
    with interrupts.held():
        recorded = record_previews(engine, grid.images, base_family=bench.base.family) if grid.images else 0
    return QuickTest(grid, recorded)
