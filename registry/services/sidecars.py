"""What users already keep beside their files, read (never modified) and imported once.

* A1111's extra-networks sidecar ``<stem>.json``: ``"activation text"``, ``"preferred
  weight"``, ``"notes"``, ``"sd version"``, ``"description"``, ``"negative text"``;
* previews: ``<stem>.preview.png`` (A1111's "replace preview"), ``<stem>.png``, and the same
  in ``.jpg``/``.jpeg``/``.webp``;
* Civitai helpers' ``<stem>.civitai.info`` (the model-version JSON of Civitai's API):
  ``trainedWords``, ``baseModel``, ``model.name``, ``description``.

A sidecar that cannot be read or parsed is ignored: it must never keep the artifact itself
out of the catalog.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from loradex.adapters.io import bounded_json
from loradex.registry.store.models import Artifact, Preview

__all__ = ["PREVIEW_SUFFIXES", "Sidecars", "apply_sidecars", "read_sidecars", "sidecar_paths"]

PREVIEW_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# Sidecars are small; anything bigger is not one of ours to parse.
_MAX_JSON = 5_000_000


@dataclass
class Sidecars:
    """Sidecar data found beside an artifact.

    Attributes:
        activation_text: A1111 "activation text", else Civitai's trained words joined by ", ".
        preferred_weight: A1111 "preferred weight" (A1111 writes 0 for "unset": None then).
        notes: A1111 "notes".
        sd_version: A1111 "sd version", else Civitai's ``baseModel``.
        trained_words: Civitai's ``trainedWords``.
        previews: preview images, best first.
        raw: the parsed files, by kind: ``{"a1111": {...}, "civitai": {...}}``.
    """

    activation_text: str | None = None
    preferred_weight: float | None = None
    notes: str | None = None
    sd_version: str | None = None
    trained_words: list[str] = field(default_factory=list)
    previews: list[Path] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def sidecar_paths(path: str | os.PathLike[str]) -> dict[str, list[Path]]:
    """Where sidecars of ``path`` would be, existing or not: ``a1111``, ``civitai``, ``previews``.

    For a file ``x/foo.safetensors`` the stem is ``foo``; for a folder artifact ``x/foo`` the
    sidecars lie beside the folder under its name.
    """
    path = Path(path)
    stem = path.parent / (path.name if path.is_dir() else path.stem)
    previews = [Path(f"{stem}.preview{s}") for s in PREVIEW_SUFFIXES] + [Path(f"{stem}{s}") for s in PREVIEW_SUFFIXES]
    return {"a1111": [Path(f"{stem}.json")], "civitai": [Path(f"{stem}.civitai.info")], "previews": previews}


def read_sidecars(path: str | os.PathLike[str]) -> Sidecars:
    """Read the sidecars beside an artifact.

    Args:
        path: the artifact file or folder.

    Returns:
        A :class:`Sidecars` (empty when there are none). Never raises for a bad sidecar.
    """
    where = sidecar_paths(path)
    found = Sidecars(previews=[p for p in where["previews"] if p.is_file()])
    a1111 = _read_json(where["a1111"][0])
    civitai = _read_json(where["civitai"][0])
    if a1111:
        found.raw["a1111"] = a1111
        found.activation_text = _text(a1111.get("activation text"))
        weight = a1111.get("preferred weight")
        if isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight != 0:
            found.preferred_weight = float(weight)
        found.notes = _text(a1111.get("notes"))
        found.sd_version = _text(a1111.get("sd version"))
    if civitai:
        found.raw["civitai"] = civitai
        words = civitai.get("trainedWords")
        found.trained_words = (
            [w.strip() for w in words if isinstance(w, str) and w.strip()] if isinstance(words, list) else []
        )
        found.activation_text = found.activation_text or (", ".join(found.trained_words) or None)
        found.sd_version = found.sd_version or _text(civitai.get("baseModel"))
    return found


def apply_sidecars(session: Session, artifact: Artifact, sidecars: Sidecars) -> int:
    """Import sidecar data into ``artifact``: text fields once, previews without duplicates.

    The text fields (activation text, preferred weight, notes) are filled only on the first
    import (the row's ``sidecar`` column still empty) and only where the user has not set
    them in loradex: a value changed in loradex always wins over the file beside it. Preview
    rows (``source="sidecar"``) are added for images not yet listed.

    Args:
        session: an open session; ``artifact`` must have an id.
        artifact: the row.
        sidecars: what :func:`read_sidecars` found.

    Returns:
        The number of preview rows added.
    """
    if sidecars.raw and not artifact.sidecar:
        if not artifact.activation_text and sidecars.activation_text:
            artifact.activation_text = sidecars.activation_text
        if artifact.preferred_weight is None and sidecars.preferred_weight is not None:
            artifact.preferred_weight = sidecars.preferred_weight
        if not artifact.notes and sidecars.notes:
            artifact.notes = sidecars.notes
        artifact.sidecar = dict(sidecars.raw)
        session.add(artifact)
    if not sidecars.previews:
        return 0
    known = set(session.exec(select(Preview.path).where(col(Preview.artifact_id) == artifact.id)).all())
    new = [str(p) for p in sidecars.previews if str(p) not in known]
    assert artifact.id is not None  # the caller added and flushed the row (see Args)
    for preview in new:
        session.add(Preview(artifact_id=artifact.id, path=preview, source="sidecar"))
    return len(new)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > _MAX_JSON:
            return None
        data = bounded_json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None
