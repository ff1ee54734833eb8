"""Will an adapter apply to a base checkpoint, layer by layer, before anything is loaded?

Both sides are stored as layer sets (canonical layer + weight shape). An adapter fits a base
where its layer exists in the base with the same shape; every other layer is what ComfyUI
reports as "lora key not loaded" and kohya as "no module found" — silently dropped.

Everything is computed in SQL from the stored layer sets. :func:`fits` works per distinct
layer set (a catalog of 10,000 files holds a few dozen), then joins back to the artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, and_, cast, func, or_
from sqlalchemy.orm import aliased, defer
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlmodel import Session, select

from loradex.adapters.artifact import ArtifactInfo
from loradex.adapters.words import article, count

from .errors import NoLayersError, QueryError
from .models import Artifact, LayerSetLayer, Module
from .records import shape_text

#: The base a user sees: their override wins over the probed verdict.
EFFECTIVE_BASE = func.coalesce(Artifact.base_override, Artifact.base)

#: What a listing never shows: training metadata (kohya's ss_tag_frequency alone can be tens
#: of KB), sidecar, base evidence and claims, search text. Deferring them halves the time to
#: build thousands of rows; they then load on first access, only while the session is open.
_DETAIL_COLUMNS = (Artifact.training_metadata, Artifact.sidecar, Artifact.base_evidence, Artifact.base_claims,
                   Artifact.search_text)


def load_options(details: bool) -> tuple[Any, ...]:
    """Loader options for listings: nothing with ``details``, else the detail columns deferred."""
    return () if details else tuple(defer(column) for column in _DETAIL_COLUMNS)


#: Below this share of fitting layers an adapter is called incompatible rather than partial.
PARTIAL_THRESHOLD = 0.5

_EXAMPLES = 3  # names quoted in a summary line


def base_of(artifact: Artifact) -> str:
    """The artifact's base family as the user sees it (override first)."""
    return artifact.base_override or artifact.base


def _families_differ(a: str, b: str) -> bool:
    # "unknown" is no evidence either way: only two known, different families conflict.
    return a != "unknown" and b != "unknown" and a != b


@dataclass
class Compatibility:
    """How much of an adapter applies to a base.

    Attributes:
        adapter: the adapter checked.
        base: the base checkpoint.
        total: the adapter's layers (its layer set plus keys that name no layer at all).
        matched: layers present in the base with the same weight shape.
        missing: canonical layers of the adapter the base does not have.
        mismatched: ``(canonical, adapter_shape, base_shape)`` for layers whose shapes differ.
        unmatched: key stems of the adapter that name no known layer (as far as stored).
        share: ``matched / total`` (for an adapter without layers: 1.0 when the families
            agree, else 0.0).
        verdict: ``compatible`` (share 1.0), ``partial`` or ``incompatible`` (share below
            :data:`PARTIAL_THRESHOLD`, or the base families differ).
    """

    adapter: Artifact
    base: Artifact
    total: int
    matched: int
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    share: float = 0.0
    verdict: str = "incompatible"

    @property
    def families(self) -> tuple[str, str]:
        return base_of(self.adapter), base_of(self.base)

    def summary(self) -> str:
        """One line, e.g. ``0/84 layers fit sdxl-single: 84 missing, e.g. unet.…; family sd1
        vs sdxl (incompatible)``."""
        mine, theirs = self.families
        if not self.total:
            return f"no layers to compare with {self.base.name}; family {mine} vs {theirs} ({self.verdict})"
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing, e.g. {', '.join(self.missing[:_EXAMPLES])}")
        if self.mismatched:
            shown = ", ".join(f"{c} ({a} vs {b})" for c, a, b in self.mismatched[:_EXAMPLES])
            parts.append(f"{len(self.mismatched)} with other shapes, e.g. {shown}")
        unnamed = self.total - self.matched - len(self.missing) - len(self.mismatched)
        if unnamed > 0:
            parts.append(f"{count(unnamed, 'keys')} naming no known layer")
        if _families_differ(mine, theirs):
            parts.append(f"family {mine} vs {theirs}")
        detail = ": " + "; ".join(parts) if parts else ""
        return f"{self.matched}/{self.total} layers fit {self.base.name}{detail} ({self.verdict})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: artifacts by id and name, shapes as strings."""
        return {
            "adapter": {"id": self.adapter.id, "name": self.adapter.name, "base": base_of(self.adapter)},
            "base": {"id": self.base.id, "name": self.base.name, "base": base_of(self.base)},
            "total": self.total, "matched": self.matched, "share": self.share, "verdict": self.verdict,
            "missing": self.missing, "unmatched": self.unmatched,
            "mismatched": [{"canonical": c, "adapter_shape": a, "base_shape": b} for c, a, b in self.mismatched],
            "summary": self.summary(),
        }


def _require_base(base: Artifact) -> int:
    if base.kind != "checkpoint":
        raise QueryError(f"{base.name} is {article(base.kind)}, not a base checkpoint", path=base.path)
    if base.layer_set_id is None:
        raise NoLayersError("has no stored layer inventory; rescan it (`loradex scan`)", path=base.path)
    return base.layer_set_id


def _verdict(share: float, families_differ: bool) -> str:
    if families_differ or share < PARTIAL_THRESHOLD:
        return "incompatible"
    return "compatible" if share >= 1.0 else "partial"


def check(session: Session, adapter: Artifact, base: Artifact) -> Compatibility:
    """Compare an adapter's stored layers with a base checkpoint's layer inventory.

    Args:
        session: an open catalog session.
        adapter: the adapter (any artifact with a layer set; textual inversions and other
            layerless kinds are judged by base family alone).
        base: a checkpoint with a stored layer inventory.

    Returns:
        A :class:`Compatibility`; its lists are sorted by canonical name.

    Raises:
        QueryError: ``base`` is not a checkpoint.
        NoLayersError: ``base`` has no stored inventory, or the adapter has no layers and
            no known base family to judge by.
    """
    base_set = _require_base(base)
    rows: list[tuple[str, str, str | None]] = []
    if adapter.layer_set_id is not None:
        ours, other = aliased(LayerSetLayer), aliased(LayerSetLayer)
        # Join on the name only: a NULL base shape means missing, a different one mismatched.
        stmt = (select(ours.canonical, ours.shape, other.shape)
                .outerjoin(other, and_(other.layer_set_id == base_set, other.canonical == ours.canonical))
                .where(ours.layer_set_id == adapter.layer_set_id).order_by(ours.canonical))
        rows = [tuple(r) for r in session.exec(stmt)]  # type: ignore[misc]
    unmatched = list(session.exec(select(Module.stem).where(
        Module.artifact_id == adapter.id, Module.canonical.is_(None)).order_by(Module.stem)))  # type: ignore[union-attr]
    return _judged(adapter, base, rows, unmatched)


def check_files(adapter: ArtifactInfo, base: ArtifactInfo) -> Compatibility:
    """:func:`check` for probed files, catalogued or not (``loradex check PATH --base PATH``)."""
    if base.kind != "checkpoint":
        raise QueryError(f"{base.path.name} is {article(base.kind)}, not a base checkpoint", path=base.path)
    inventory = {name: shape_text(shape) for name, shape in base.inventory.items()}
    rows = sorted((layer.canonical, shape_text(layer.shape), inventory.get(layer.canonical))
                  for layer in adapter.layers if layer.canonical)
    return _judged(_unrecorded(adapter), _unrecorded(base), rows, sorted(adapter.unmatched))


def _unrecorded(info: ArtifactInfo) -> Artifact:
    """A row for a probed file that is not (necessarily) in the catalog, never added to one."""
    return Artifact(name=info.path.stem, path=str(info.path), kind=info.kind, format=info.format, base=info.base,
                    unmatched=len(info.unmatched))


def _judged(adapter: Artifact, base: Artifact, rows: list[tuple[str, str, str | None]],
            unmatched: list[str]) -> Compatibility:
    """The verdict from (canonical, adapter shape, base shape or None) per layer."""
    mine, theirs = base_of(adapter), base_of(base)
    differ = _families_differ(mine, theirs)
    total = len(rows) + max(adapter.unmatched or 0, len(unmatched))
    if total == 0:
        if "unknown" in (mine, theirs):
            raise NoLayersError("has no layers and no known base family to compare", path=adapter.path)
        share = 0.0 if differ else 1.0
        return Compatibility(adapter, base, 0, 0, share=share, verdict=_verdict(share, differ))
    matched = sum(1 for _, a, b in rows if a == b)
    share = matched / total
    return Compatibility(
        adapter, base, total, matched,
        missing=[c for c, _, b in rows if b is None],
        mismatched=[(c, a, b) for c, a, b in rows if b is not None and a != b],
        unmatched=unmatched, share=share, verdict=_verdict(share, differ))


def fit_parts(base: Artifact, *, min_share: float = 1.0) -> tuple[Subquery, ColumnElement[float],
                                                                    list[ColumnElement[bool]]]:
    """The SQL pieces that select adapters fitting ``base``, for :func:`fits` and ``find``.

    Returns:
        ``(shares, share, conditions)``: a subquery of ``(layer_set_id, total, matched)`` per
        layer set — join it on ``Artifact.layer_set_id`` —, the share expression per artifact
        (unmatched keys count against it), and the WHERE conditions (share, status ok, not a
        checkpoint, not the base itself, no conflicting family).

    Raises:
        QueryError: ``min_share`` is outside [0, 1], or ``base`` is not a checkpoint.
        NoLayersError: ``base`` has no stored layer inventory.
    """
    if not 0.0 <= min_share <= 1.0:
        raise QueryError(f"min_share must be between 0 and 1, not {min_share}")
    base_set = _require_base(base)
    ours, other = aliased(LayerSetLayer), aliased(LayerSetLayer)
    # One pass over every stored layer row with an index probe into the base's set (the
    # unique (layer_set_id, canonical) index): cost grows with distinct layer sets, not files.
    shares = (select(ours.layer_set_id.label("layer_set_id"), func.count().label("total"),
                     func.count(other.id).label("matched"))
              .outerjoin(other, and_(other.layer_set_id == base_set, other.canonical == ours.canonical,
                                     other.shape == ours.shape))
              .group_by(ours.layer_set_id).subquery("fit"))
    denominator = shares.c.total + func.coalesce(Artifact.unmatched, 0)
    share = cast(shares.c.matched, Float) / denominator
    conditions: list[ColumnElement[bool]] = [
        # Multiplying instead of dividing keeps min_share=1.0 an exact integer comparison.
        shares.c.matched >= min_share * denominator,
        Artifact.status == "ok", Artifact.kind != "checkpoint", Artifact.id != base.id,
    ]
    family = base_of(base)
    if family != "unknown":
        conditions.append(or_(EFFECTIVE_BASE == family, EFFECTIVE_BASE == "unknown"))
    return shares, share, conditions


@dataclass(frozen=True)
class Fit:
    """One adapter that applies to a base: what a listing shows, read straight from SQL."""

    id: int
    name: str
    path: str
    kind: str
    format: str
    base: str
    share: float


def fits(session: Session, base: Artifact, *, min_share: float = 1.0, limit: int | None = None) -> list[Fit]:
    """Adapters of the catalog that apply to ``base``, best share first.

    Rows are plain :class:`Fit` records selected column by column: hydrating thousands of
    ORM artifacts (with their JSON columns) costs far more than the share computation.

    Args:
        session: an open catalog session.
        base: a checkpoint with a stored layer inventory.
        min_share: the least share of an adapter's layers that must fit (1.0: all of them).
        limit: at most this many (the best first).

    Returns:
        :class:`Fit` rows sorted by share (descending) then name.

    Raises:
        QueryError: ``min_share`` is outside [0, 1], or ``base`` is not a checkpoint.
        NoLayersError: ``base`` has no stored layer inventory.
    """
    shares, share, conditions = fit_parts(base, min_share=min_share)
    stmt = (select(Artifact.id, Artifact.name, Artifact.path, Artifact.kind, Artifact.format, EFFECTIVE_BASE,
                   share.label("share"))
            .join(shares, shares.c.layer_set_id == Artifact.layer_set_id)
            .where(*conditions).order_by(share.desc(), Artifact.name, Artifact.id).limit(limit))
    return [Fit(*row[:6], float(row[6])) for row in session.exec(stmt)]


@dataclass(frozen=True)
class CheckpointFit:
    """How much of an adapter applies to one catalogued checkpoint (see :func:`fit_by_checkpoint`).

    Attributes:
        base: the checkpoint.
        total: the adapter's layers, unmatched keys included (as :attr:`Compatibility.total`).
        matched: those present in the checkpoint with the same shape.
        share: ``matched / total``; for an adapter without layers 1.0 or 0.0 by family, None
            when neither family is known.
        verdict: ``compatible``, ``partial``, ``incompatible`` (as :func:`check`), or
            ``unknown`` when ``share`` is None.
    """

    base: Artifact
    total: int
    matched: int
    share: float | None
    verdict: str


def fit_by_checkpoint(session: Session, adapter: Artifact) -> list[CheckpointFit]:
    """The share of ``adapter``'s layers that fit each catalogued checkpoint, best first.

    One grouped query over the layer sets (every checkpoint with a stored inventory), with the
    verdicts :func:`check` would give; the adapter itself is left out when it is a checkpoint.

    Returns:
        :class:`CheckpointFit` rows sorted by share (descending, unknown last), then name and id.
    """
    bases = list(session.exec(select(Artifact).where(
        Artifact.kind == "checkpoint", Artifact.layer_set_id.is_not(None),  # type: ignore[union-attr]
        Artifact.id != adapter.id).order_by(Artifact.name, Artifact.id)))
    if not bases:
        return []
    matched: dict[int, int] = {}
    layers = 0
    if adapter.layer_set_id is not None:
        ours, other = aliased(LayerSetLayer), aliased(LayerSetLayer)
        layers = session.exec(select(func.count()).select_from(LayerSetLayer).where(
            LayerSetLayer.layer_set_id == adapter.layer_set_id)).one()
        stmt = (select(other.layer_set_id, func.count()).select_from(ours)
                .join(other, and_(other.canonical == ours.canonical, other.shape == ours.shape))
                .where(ours.layer_set_id == adapter.layer_set_id,
                       other.layer_set_id.in_({b.layer_set_id for b in bases}))  # type: ignore[union-attr]
                .group_by(other.layer_set_id))
        matched = {set_id: n for set_id, n in session.exec(stmt)}
    unnamed = session.exec(select(func.count()).select_from(Module).where(
        Module.artifact_id == adapter.id, Module.canonical.is_(None))).one()  # type: ignore[union-attr]
    total = layers + max(adapter.unmatched or 0, unnamed)
    out = []
    for base in bases:
        differ = _families_differ(base_of(adapter), base_of(base))
        if total:
            n = matched.get(base.layer_set_id or 0, 0)
            share: float | None = n / total
        else:
            n = 0
            share = None if "unknown" in (base_of(adapter), base_of(base)) else (0.0 if differ else 1.0)
        out.append(CheckpointFit(base, total, n, share, _verdict(share, differ) if share is not None else "unknown"))
    return sorted(out, key=lambda f: -(f.share if f.share is not None else -1.0))
