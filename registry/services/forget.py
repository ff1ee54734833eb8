"""Forgetting an artifact: its catalog row goes, its file stays; deleting the file is a second,
separate step (:func:`delete_file`), which a front end takes only when asked again."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import Session, col, select

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.registry.store.models import Artifact, ArtifactTag, Tag

__all__ = ["Forgotten", "delete_file", "forget"]


@dataclass(frozen=True)
class Forgotten:
    """What a forgotten artifact was, for the question that may follow (delete its file too?).

    Attributes:
        name: its catalog name.
        path: its file or folder, still on disk.
        is_dir: a folder (a diffusers model): deleting it deletes everything in it.
    """

    name: str
    path: str
    is_dir: bool


def forget(session: Session, artifact: Artifact) -> Forgotten:
    """Remove the artifact from the catalog: its row, layers, tags, previews and publications (the
    image files stay). Recipes that made it keep their inputs but lose the link; tags no artifact
    uses any more are deleted. The file on disk is not touched (a later scan of its folder adds it
    back). Commits.
    """
    gone = Forgotten(artifact.name, artifact.path, bool(artifact.is_dir))
    # The schema does the rest: layers, tags, previews and publications cascade, recipes are set
    # NULL (ON DELETE rules; SQLite connections enforce them with PRAGMA foreign_keys).
    session.exec(delete(Artifact).where(col(Artifact.id) == artifact.id))
    session.exec(delete(Tag).where(col(Tag.id).not_in(select(ArtifactTag.tag_id))))
    session.commit()
    session.expunge(artifact)
    return gone


def delete_file(path: str) -> str:
    """Delete a forgotten artifact's file (or folder, with everything in it) from disk; a link is
    removed, never followed. Returns ``path``.

    Raises:
        ArtifactNotFoundError: nothing is there any more.
    """
    target = Path(path)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    else:
        raise ArtifactNotFoundError("no such file (already gone)", path=target)
    return path
