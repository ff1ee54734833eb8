"""The app's window on the catalog: short sessions, one per question, so a CLI scan can write
between them (SQLite in WAL mode); no logic beyond asking ``registry``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from loradex.registry import browse, queries
from loradex.registry.db import session as open_session
from loradex.registry.models import Artifact


class CatalogView:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rows(self, text: str, **fixed: Any) -> tuple[list[browse.BrowseRow], browse.Filter]:
        sort = fixed.pop("sort", "name")
        flt = browse.parse_filter(text, **fixed)
        if "sort:" not in text:
            flt = browse.Filter(**{**flt.__dict__, "sort": sort})
        with open_session(self.engine) as session:
            return browse.browse(session, flt), flt

    def facets(self) -> dict[str, Counter]:
        with open_session(self.engine) as session:
            return browse.facets(session)

    def total(self) -> int:
        with open_session(self.engine) as session:
            return session.exec(select(func.count()).select_from(Artifact)).one()

    def checkpoints(self) -> list[tuple[str, str, str]]:
        """Catalogued checkpoints whose file is there: (name, path, effective base), by name."""
        with open_session(self.engine) as session:
            rows = session.exec(select(Artifact.name, Artifact.path, Artifact.base, Artifact.base_override)
                                .where(Artifact.kind == "checkpoint", Artifact.status == "ok")
                                .order_by(Artifact.name, Artifact.path)).all()
        return [(name, path, override or base) for name, path, base, override in rows]

    def details(self, artifact_id: int) -> tuple[Artifact, Any]:
        with open_session(self.engine) as session:
            artifact = queries.resolve(session, str(artifact_id))
            details = queries.details(session, artifact)
            session.expunge_all()
        return artifact, details
