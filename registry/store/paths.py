"""Where a catalog's files are: paths under a catalog file's own folder are stored relative to it.

A catalog kept beside its files (``catalog.db`` next to ``zoo/``) then keeps working when the
folder is moved, copied or cloned with it: ``catalog.db.example`` in every clone of this
repository finds the clone's ``zoo/``. Paths elsewhere, and every path of a server catalog
(PostgreSQL has no folder), are stored absolute.

The code above this module sees absolute paths only: :func:`stored` and :func:`absolute` turn
one form into the other; SQLAlchemy's path columns apply them (:mod:`.columns`), and so do the
plain SQL reads (:mod:`.rows`).

A row whose file has gone since it was catalogued reads as ``missing`` (:func:`status_on_disk`),
so ``list``, ``show`` and every caller agree with the disk without writing to the catalog (a
read-only command may not).
"""

from __future__ import annotations

import os

__all__ = ["HERE", "absolute", "status_on_disk", "stored"]

#: How a path names the catalog's own folder in the database.
HERE = "."


def stored(path: str, folder: str | None) -> str:
    """``path`` as the catalog stores it: ``./rest`` under ``folder`` (``.`` for the folder itself)."""
    if folder and (path == folder or path.startswith(folder + os.sep)):
        return HERE + path[len(folder) :]
    return path


def absolute(value: str, folder: str | None) -> str:
    """A stored path as the code uses it (see :func:`stored`)."""
    if folder and (value == HERE or value.startswith(HERE + os.sep)):
        return folder + value[len(HERE) :]
    return value


def status_on_disk(status: str, path: str | None) -> str:
    """A row's status as read: ``ok`` turns ``missing`` when the file is gone."""
    return "missing" if status == "ok" and path and not os.path.lexists(path) else status
