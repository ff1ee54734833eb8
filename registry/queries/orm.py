"""The ORM rows that services and the TUI change: resolve a reference to its
:class:`~loradex.registry.store.models.Artifact`, find rows with the listing filters, counts.
Keyword-only options, the session first. The questions themselves (which rows, in what order,
with what details) are asked in plain SQL by :mod:`.lookup`; this module turns their answers into
ORM rows where a caller changes or hands on the row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, text
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from loradex.registry.store.columns import folder_of
from loradex.registry.store.models import Artifact

from . import lookup
from .filters import EVERYTHING, Filter
from .scanned import under
from .views import KindCount

#: What a listing never shows: training metadata (kohya's ss_tag_frequency alone can be tens
#: of KB), sidecar, base evidence and claims, line evidence, search text. Deferring them halves the time to
#: build thousands of rows; they then load on first access, only while the session is open.
_DETAIL_COLUMNS = (
    Artifact.training_metadata,
    Artifact.sidecar,
    Artifact.base_evidence,
    Artifact.base_claims,
    Artifact.line_evidence,
    Artifact.search_text,
)


def resolve(session: Session, ref: str) -> Artifact:
    """The artifact a user means by ``ref`` (:func:`.lookup.resolve`), as an ORM row.

    Raises:
        RefNotFoundError: nothing matches.
        AmbiguousRefError: several artifacts match (the message names up to five).
    """
    return session.get(Artifact, lookup.resolve(session, ref).id)  # type: ignore[return-value]


def find(
    session: Session, flt: Filter = EVERYTHING, *, fits: Any = None, limit: int | None = None, details: bool = True
) -> list[Artifact]:
    """The ORM rows :func:`.lookup.listing` lists with the same filter, in its order.

    Args:
        session: an open catalog session.
        flt: which artifacts, in what order.
        fits: a checkpoint: keep adapters whose layers fit it.
        limit: at most this many rows.
        details: False defers training metadata, sidecar, base evidence/claims and search
            text: about twice as fast for long listings; those columns then load on access,
            only while the session is open.

    Raises:
        QueryError: an unknown ``sort`` key or a ``min_share`` outside [0, 1].
        NoLayersError: ``fits`` has no stored layer inventory.
    """
    ids = lookup.matching_ids(session, flt, fits=fits, limit=limit)
    # SQLModel types a column as its value (dict, str); on the class it is the InstrumentedAttribute defer takes.
    options = () if details else tuple(defer(column) for column in _DETAIL_COLUMNS)  # type: ignore[arg-type]
    rows: dict[int, Artifact] = {}
    for part in lookup.batched(ids, lookup.CHUNK):
        stmt = select(Artifact).options(*options).where(col(Artifact.id).in_(part))
        for row in session.exec(stmt):
            assert row.id is not None  # a row read from the catalog has its id
            rows[row.id] = row
    return [rows[i] for i in ids if i in rows]


def counts(session: Session, *, folder: str | None = None) -> list[KindCount]:
    """How many artifacts per kind, format and effective base, over the catalog (or the
    artifacts in ``folder``), sorted."""
    base = func.coalesce(Artifact.base_override, Artifact.base)
    stmt = select(Artifact.kind, Artifact.format, base, func.count())
    if folder:
        params: dict[str, Any] = {}
        condition = under("artifact.path", [folder], folder_of(session.get_bind().dialect), params)
        stmt = stmt.where(text(condition).bindparams(**params))
    stmt = stmt.group_by(Artifact.kind, Artifact.format, base).order_by(Artifact.kind, Artifact.format, base)
    return [KindCount(*row) for row in session.exec(stmt)]
