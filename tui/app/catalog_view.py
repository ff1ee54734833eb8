"""The app's window on the catalog: short sessions, one per question, so a CLI scan can write
between them (SQLite in WAL mode); no logic beyond asking ``registry``."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

import platformdirs
from sqlalchemy.engine import Engine

from loradex.registry.queries import artifact_detail, compat, lookup, table
from loradex.registry.queries.checkpoints import Checkpoint, usable
from loradex.registry.queries.layers import Layer, layers
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details
from loradex.registry.store.db import session as open_session


class CatalogView:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._rows: dict[int, table.BrowseRow] | None = None

    def reload(self) -> None:
        """Forget the cached rows (after an action changed the catalog)."""
        self._rows = None

    @property
    def folder(self) -> Path | None:
        """The folder of a catalog file (None for a server): paths under it are shown relative to it."""
        database = self.engine.url.database if self.engine.url.get_backend_name() == "sqlite" else None
        if not database or database == ":memory:":
            return None
        return Path(os.path.abspath(database)).parent

    @property
    def outputs(self) -> Path:
        """Where the app writes what it makes (the mix tray's default): ``outputs/`` beside the
        catalog file, in the user data folder for a catalog on a server."""
        return (self.folder or Path(platformdirs.user_data_dir("loradex"))) / "outputs"

    def shown_path(self, path: str) -> str:
        """``path`` as the app shows it: relative to the catalog's folder when inside it, else
        ``~/…`` when inside the home folder, else as stored. A catalog kept beside its files
        (``catalog.db`` next to ``zoo/``) reads the same on every machine and in every clone."""
        return shown_path(path, self.folder)

    def rows(self, text: str, **fixed: Any) -> tuple[list[table.BrowseRow], table.Filter]:
        """The rows the filter ``text`` (and the facet choices ``fixed``) select, in sort order.

        The database does the selecting and ordering on every call (so the rows are those of
        ``loradex list``); the rows' contents are read once and kept, which makes a keystroke on
        10,000 artifacts cost an id query instead of a full read (~25 ms instead of ~140 ms).
        """
        sort = fixed.pop("sort", "name")
        flt = table.parse_filter(text, **fixed)
        if "sort:" not in text:
            flt = table.Filter(**{**flt.__dict__, "sort": sort})
        with open_session(self.engine) as session:
            if self._rows is None:
                self._rows = {row.id: row for row in table.browse(session, table.Filter())}
            ids = table.matching_ids(session, flt)
        missing = [i for i in ids if i not in self._rows]
        if missing:  # added by someone else since (a CLI scan): read everything again
            self.reload()
            return self.rows(text, sort=sort, **fixed)
        return [self._rows[i] for i in ids], flt

    def facets(self, flt: table.Filter | None = None) -> dict[str, Counter]:
        """Kind, base and line counts of what ``flt`` selects (each facet without its own condition)."""
        with open_session(self.engine) as session:
            return table.facets(session, flt)

    def total(self) -> int:
        with open_session(self.engine) as session:
            return table.total(session)

    def checkpoints(self) -> list[Checkpoint]:
        """Catalogued checkpoints whose file is there, by name."""
        with open_session(self.engine) as session:
            return usable(session)

    def details(self, artifact_id: int) -> tuple[ArtifactRow, Details]:
        with open_session(self.engine) as session:
            artifact = lookup.resolve(session, str(artifact_id))
            return artifact, artifact_detail.details(session, artifact)

    def modules(self, artifact_id: int) -> list[Layer]:
        """The adapted layers, in file order."""
        with open_session(self.engine) as session:
            return layers(session, artifact_id)

    def fit_by_checkpoint(self, artifact_id: int) -> list[compat.CheckpointFit]:
        """The adapter's share of fitting layers for every catalogued checkpoint, best first."""
        with open_session(self.engine) as session:
            return compat.fit_by_checkpoint(session, lookup.by_id(session, artifact_id))

    def fitting_adapters(self, checkpoint_id: int, limit: int = 12) -> list[compat.Fit]:
        """Adapters that apply fully to a checkpoint, by name (at most ``limit``)."""
        with open_session(self.engine) as session:
            return compat.fits(session, lookup.by_id(session, checkpoint_id), limit=limit)


def shown_path(path: str, folder: Path | None) -> str:
    """See :meth:`CatalogView.shown_path`."""
    for root, prefix in ((folder, ""), (Path.home(), "~")):
        if root is None:
            continue
        try:
            rest = Path(path).relative_to(root)
        except ValueError:
            continue
        return str(Path(prefix) / rest) if prefix else str(rest)
    return path


class CatalogApp(Protocol):
    """What the screens need of the app that pushes them (:class:`~.application.LoradexApp`)."""

    catalog: CatalogView
