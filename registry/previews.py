"""Quick-test images recorded as previews of the adapters they show.

Each image of a ``loradex try`` grid becomes one ``preview`` row per adapter named on the
command line (the scale-0 column too: it is the reference the other columns are read
against), with the prompt, seed, scale and base. An adapter given by a path that the catalog
does not hold yet is scanned in first, so no image is left unrecorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from loradex.adapters.generate.records import ImageRecord

from .db import session as open_session
from .models import Artifact, Preview
from .scan import scan

__all__ = ["record_previews"]


def _artifact_ids(engine: Engine, paths: Iterable[str]) -> dict[str, int]:
    wanted = {os.path.abspath(p) for p in paths}
    with open_session(engine) as session:
        rows = session.exec(select(Artifact.path, Artifact.id).where(Artifact.path.in_(wanted))).all()
    found = {path: id_ for path, id_ in rows}
    missing = sorted(wanted - set(found))
    if missing:
        scan([Path(p) for p in missing], engine=engine, workers=1, remember=False)
        with open_session(engine) as session:
            rows = session.exec(select(Artifact.path, Artifact.id).where(Artifact.path.in_(missing))).all()
        found.update({path: id_ for path, id_ in rows})
    return found


def record_previews(engine: Engine, images: Iterable[ImageRecord]) -> int:
    """Add a preview row for every (image, adapter) pair not recorded yet; returns rows added."""
    images = [image for image in images if image.path]
    ids = _artifact_ids(engine, {ref.path for image in images for ref in image.adapters})
    added = 0
    with open_session(engine) as session:
        for image in images:
            for ref in image.adapters:  # every adapter named, embeddings and a ControlNet included
                artifact_id = ids.get(os.path.abspath(ref.path))
                if artifact_id is None:
                    continue
                known = session.exec(select(Preview.id).where(Preview.artifact_id == artifact_id,
                                                              Preview.path == image.path)).first()
                if known is None:
                    session.add(Preview(artifact_id=artifact_id, path=image.path, prompt=image.prompt,
                                        seed=image.seed, scale=image.scale, base=image.base.path,
                                        source="quicktest"))
                    added += 1
        session.commit()
    return added
