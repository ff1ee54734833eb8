"""The image ``loradex try --like IMAGE`` renders again: a catalogued preview (by its id or its
path) or any image file, read as :class:`~loradex.adapters.generate.examples.Example`.

A catalogued preview says how it was made in its columns (Civitai's example images: prompt,
negative prompt, seed, steps, CFG, sampler) and in its file (a quick-test PNG's record, an A1111
infotext); the columns win where both speak. It also names the artifact it is a preview of, and
the weight that artifact was used at, so ``try --like`` renders that adapter by default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from loradex.adapters.errors import ArtifactNotFoundError, LoradexError
from loradex.adapters.generate.examples import Example, read_example
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Preview

__all__ = ["Liked", "liked"]


@dataclass(frozen=True)
class Liked:
    """What an image says of how it was made, and what it is a preview of.

    Attributes:
        example: its parameters.
        adapter: the path of the catalogued adapter it is a preview of (None: a file the catalog
            does not hold as a preview, or a checkpoint's example).
        weight: the weight that artifact was used at (1 where the image does not say).
        preview_id: its preview row, if it has one.
    """

    example: Example
    adapter: str | None = None
    weight: float = 1.0
    preview_id: int | None = None


def _weight(preview: Preview, artifact: Artifact) -> float:
    """The adapter's weight in the image: its entry among Civitai's resources (by a hash of the
    file) or among a quick-test's adapters (effective weight), else 1."""
    hashes = {h.lower() for h in (artifact.sha256, artifact.autov2, artifact.autov3) if h}
    for resource in preview.resources or []:
        found = str(resource.get("hash") or "").lower()
        if found and any(h.startswith(found) for h in hashes) and isinstance(resource.get("weight"), (int, float)):
            return float(resource["weight"])
    for adapter in preview.adapters or []:
        if adapter.get("artifact_id") == artifact.id and isinstance(adapter.get("weight"), (int, float)):
            return float(adapter["weight"]) or 1.0  # the scale-0 column: the adapter at its own weight
    return 1.0


def _columns(preview: Preview) -> Example:
    return Example(
        prompt=preview.prompt or None,
        negative_prompt=preview.negative_prompt or None,
        seed=preview.seed,
        steps=preview.steps,
        cfg=preview.cfg,
        sampler=preview.sampler,
        size=(preview.width, preview.height) if preview.width and preview.height else None,
    )


def _file(path: str) -> Example:
    """What the file says, or nothing where it is gone or unreadable (the columns may say enough)."""
    try:
        return read_example(path)
    except LoradexError:  # the catalog's columns still speak for it
        return Example()


def liked(engine: Engine | None, image: str) -> Liked:
    """The example ``image`` names: a preview id (digits) or a path, catalogued as a preview or not.

    Raises:
        ArtifactNotFoundError: no preview has that id, or no such file.
        UnsupportedError: a file that is not a readable image.
    """
    path = os.path.abspath(os.path.expanduser(image))
    if engine is not None:
        with open_session(engine) as session:
            where = col(Preview.id) == int(image) if image.isdigit() else col(Preview.path) == path
            row = session.exec(select(Preview, Artifact).join(Artifact).where(where)).first()
            if row is not None:
                preview, artifact = row
                example = _columns(preview).over(_file(preview.path))
                if artifact.kind == "checkpoint":  # an example of a checkpoint: the user's base stands for it
                    return Liked(example, preview_id=preview.id)
                return Liked(example, artifact.path, _weight(preview, artifact), preview.id)
    if image.isdigit() and not Path(path).exists():
        raise ArtifactNotFoundError(f"no preview has the id {image}" + ("" if engine else " (no catalog in use)"))
    if not Path(path).is_file():
        raise ArtifactNotFoundError("no such image", path=path)
    return Liked(read_example(path))
