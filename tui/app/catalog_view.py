"""The app's window on the catalog: short sessions, one per question, so a CLI scan can write
between them (SQLite in WAL mode); no logic beyond asking ``registry``. The table's questions,
asked on every keystroke, go through a plain :func:`~loradex.registry.queries.reading.engine_reader`."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import platformdirs
from sqlalchemy.engine import Engine

from loradex.registry.queries import artifact_detail, compat, lookup, table
from loradex.registry.queries.checkpoints import Checkpoint, usable
from loradex.registry.queries.filters import Filter
from loradex.registry.queries.layers import Layer, layers
from loradex.registry.queries.reading import engine_reader
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details
from loradex.registry.store.db import session as open_session

from .paged_rows import PagedRows


@dataclass(frozen=True)
class Selection:
    """What the main screen shows of a filter: its rows and the filter as parsed (its facet
    counts: :meth:`CatalogView.facets`)."""

    rows: PagedRows
    filter: Filter


class CatalogView:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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

    def select(self, text: str, **fixed: Any) -> Selection:
        """The rows the filter ``text`` (and the facet choices ``fixed``) select, in sort order.

        The database selects and orders them (so they are the rows of ``loradex list``) and hands
        over their ids; a row's contents are read when the table draws it (:class:`.PagedRows`).
        """
        sort = fixed.pop("sort", "name")
        flt = table.parse_filter(text, **fixed)
        if "sort:" not in text:
            flt = replace(flt, sort=sort)
        with engine_reader(self.engine) as reader:
            ids = table.matching_ids(reader, flt)
        return Selection(PagedRows(ids, self.browse), flt)

    def facets(self, flt: Filter) -> dict[str, Counter]:
        """How many artifacts of each kind, base and line ``flt`` selects (each facet under the
        other conditions). Thread-safe: a connection of its own from the engine's pool."""
        with engine_reader(self.engine) as reader:
            return table.facets(reader, flt)

    def browse(self, ids: Sequence[int]) -> list[table.BrowseRow]:
        """The table's rows of ``ids``, in their order (those since removed left out)."""
        with engine_reader(self.engine) as reader:
            return table.browse(reader, ids)

    def named(self, flt: Filter, name: str) -> set[int]:
        """The ids among those ``flt`` selects of the artifacts named ``name`` (in any case)."""
        with engine_reader(self.engine) as reader:
            return table.named(reader, flt, name)

    def total(self) -> int:
        with engine_reader(self.engine) as reader:
            return table.total(reader)

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
