"""The catalog's path columns for SQLAlchemy: absolute in Python, relative to the catalog's
folder in the database (:mod:`.paths` says why and how).

:class:`CatalogPath` turns an absolute path under the folder into ``./rest`` when it is bound
into a statement and back when a row is read. The folder is the engine's (:func:`attach`), kept
on its dialect, the one object SQLAlchemy hands a column type. Prefix queries (every row under a
folder) must compare stored forms (:func:`loradex.registry.queries.scanned.under`). ORM rows
whose file is gone read as ``missing`` (:func:`watch_files`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import attributes
from sqlalchemy.types import TypeDecorator

from .paths import absolute, status_on_disk, stored

__all__ = ["CatalogPath", "attach", "folder_of", "watch_files"]

_ATTRIBUTE = "loradex_catalog_folder"


def attach(engine: Engine, folder: Path) -> None:
    """Store paths under ``folder`` (the catalog file's folder) relative to it on ``engine``."""
    setattr(engine.dialect, _ATTRIBUTE, os.path.abspath(folder))


def folder_of(dialect: Dialect) -> str | None:
    """The folder paths are stored relative to on this engine's dialect (None: all absolute)."""
    return getattr(dialect, _ATTRIBUTE, None)


class CatalogPath(TypeDecorator):
    """A path column: absolute in Python, relative to the catalog's folder in the database."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return stored(value, folder_of(dialect)) if isinstance(value, str) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return absolute(value, folder_of(dialect)) if isinstance(value, str) else value


def _missing_on_read(target: Any, _context: Any) -> None:
    """An ``ok`` row whose file is gone reads as ``missing``: set as the loaded value, so the row
    is not dirty and nothing is written unless something else about it changes."""
    if (status := status_on_disk(target.status, target.path)) != target.status:
        attributes.set_committed_value(target, "status", status)


def watch_files(model: type) -> None:
    """Read ``model``'s rows (path and status columns) as :func:`_missing_on_read` says."""
    event.listen(model, "load", _missing_on_read)
