"""The app's window on the catalog: one read per question, so a CLI scan can write between them
(SQLite in WAL mode); no logic beyond asking ``registry``. A SQLite catalog at the current schema is
read with plain ``sqlite3`` (:class:`~loradex.registry.queries.reading.HeldSqlite`): the app paints
its first screen without importing SQLAlchemy and SQLModel (~0.5 s), which only the flows that
write or run services load, when they first ask for :attr:`CatalogView.engine`. Any other catalog
(PostgreSQL, an unusual URL, an engine handed in) is read through its engine."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import platformdirs

from loradex.registry.queries import artifact_detail, compat, lookup, table
from loradex.registry.queries.checkpoints import Checkpoint, usable
from loradex.registry.queries.filters import Filter
from loradex.registry.queries.layers import Layer, layers
from loradex.registry.queries.reading import HeldSqlite, Reader, engine_reader
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details

from .paged_rows import PagedRows

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Selection:
    """What the main screen shows of a filter: its rows and the filter as parsed (its facet
    counts: :meth:`CatalogView.facets`)."""

    rows: PagedRows
    filter: Filter


class CatalogView:
    """The catalog ``source``: a file held open with ``sqlite3``, or an engine. :meth:`close` lets
    go of the file and of the engines the view ``owned`` or opened (one handed in is its owner's)."""

    def __init__(self, source: HeldSqlite | Engine, *, owned: bool = False) -> None:
        self._held = source if isinstance(source, HeldSqlite) else None
        self._engine = None if isinstance(source, HeldSqlite) else source
        self._owned = owned or self._held is not None
        self._opening = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The catalog's engine, for the flows that change it or run services; on a file read with
        ``sqlite3``, opened (SQLAlchemy imported, ~0.5 s) when first asked for. The flows ask in
        their job's thread, so the screen does not stop for it."""
        with self._opening:
            if self._engine is None:
                from loradex.registry.store.db import open_catalog

                assert self._held is not None
                self._engine = open_catalog(self._held.path, create=False)
            return self._engine

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
        if self._engine is not None and self._owned:
            self._engine.dispose()

    @contextmanager
    def _reader(self, *, own: bool = False) -> Iterator[Reader]:
        """The reader for one question: on the file held open (``own``: on a connection of its own,
        for a question asked from another thread), else on a connection of the engine's pool."""
        if self._held is not None:
            with self._held.own_reader() if own else self._held.reader() as reader:
                yield reader
        else:
            assert self._engine is not None
            with engine_reader(self._engine) as reader:
                yield reader

    @property
    def folder(self) -> Path | None:
        """The folder of a catalog file (None for a server): paths under it are shown relative to it."""
        if self._held is not None:
            return Path(self._held.folder)
        url = self.engine.url
        database = url.database if url.get_backend_name() == "sqlite" else None
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
        with self._reader() as reader:
            ids = table.matching_ids(reader, flt)
        return Selection(PagedRows(ids, self.browse), flt)

    def facets(self, flt: Filter) -> dict[str, Counter]:
        """How many artifacts of each kind, base and line ``flt`` selects (each facet under the
        other conditions). Thread-safe (a filter key's counts come from a thread, after its rows):
        a connection of its own, so the table's reads on the screen's thread never wait for it."""
        with self._reader(own=True) as reader:
            return table.facets(reader, flt)

    def browse(self, ids: Sequence[int]) -> list[table.BrowseRow]:
        """The table's rows of ``ids``, in their order (those since removed left out)."""
        with self._reader() as reader:
            return table.browse(reader, ids)

    def named(self, flt: Filter, name: str) -> set[int]:
        """The ids among those ``flt`` selects of the artifacts named ``name`` (in any case)."""
        with self._reader() as reader:
            return table.named(reader, flt, name)

    def total(self) -> int:
        with self._reader() as reader:
            return table.total(reader)

    def checkpoints(self) -> list[Checkpoint]:
        """Catalogued checkpoints whose file is there, by name."""
        with self._reader() as reader:
            return usable(reader)

    def details(self, artifact_id: int) -> tuple[ArtifactRow, Details]:
        with self._reader() as reader:
            artifact = lookup.resolve(reader, str(artifact_id))
            return artifact, artifact_detail.details(reader, artifact)

    def modules(self, artifact_id: int) -> list[Layer]:
        """The adapted layers, in file order."""
        with self._reader() as reader:
            return layers(reader, artifact_id)

    def fit_by_checkpoint(self, artifact_id: int) -> list[compat.CheckpointFit]:
        """The adapter's share of fitting layers for every catalogued checkpoint, best first."""
        with self._reader() as reader:
            return compat.fit_by_checkpoint(reader, lookup.by_id(reader, artifact_id))

    def fitting_adapters(self, checkpoint_id: int, limit: int = 12) -> list[compat.Fit]:
        """Adapters that apply fully to a checkpoint, by name (at most ``limit``)."""
        with self._reader() as reader:
            return compat.fits(reader, lookup.by_id(reader, checkpoint_id), limit=limit)


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
