"""Quick-test images recorded as previews of the adapters they show.

Each image of a ``loradex try`` grid becomes one ``preview`` row per adapter named on the
command line (the scale-0 column too: it is the reference the other columns are read
against), with the prompt, seed, scale, base and its family, and every adapter applied with its
effective weight — an image made with two LoRAs is a preview of each, and says so. An adapter
given by a path that the catalog does not hold yet is scanned in first, so no image is left
unrecorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Preview

if TYPE_CHECKING:
    from loradex.adapters.generate.records import ImageRecord

__all__ = ["record_previews"]


def _artifacts(engine: Engine, paths: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Catalog id and name of each path (scanned in first where the catalog lacks it)."""
    wanted = {os.path.abspath(p) for p in paths}
    query = select(Artifact.path, Artifact.id, Artifact.name)
    with open_session(engine) as session:
        rows = session.exec(query.where(col(Artifact.path).in_(wanted))).all()
    found = {path: (id_, name) for path, id_, name in rows}
    missing = sorted(wanted - set(found))
    if missing:
        from .scan import scan

        scan([Path(p) for p in missing], engine=engine, workers=1, remember=False)
        with open_session(engine) as session:
            rows = session.exec(query.where(col(Artifact.path).in_(missing))).all()
        found.update({path: (id_, name) for path, id_, name in rows})
    return found


def record_previews(engine: Engine, images: Iterable[ImageRecord], *, base_family: str | None) -> int:
    """Add a preview row for every (image, adapter) pair not recorded yet, and fill in the
    adapters of a row recorded before they were kept; returns rows added."""
    images = [image for image in images if image.path]
    known = _artifacts(engine, {ref.path for image in images for ref in image.adapters})
    added = 0
    with open_session(engine) as session:
        for image in images:
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
