"""Will an adapter apply to a base checkpoint, layer by layer, before anything is loaded?

Both sides are stored as layer sets (canonical layer + weight shape). An adapter fits a base
where its layer exists in the base with the same shape; every other layer is what ComfyUI
reports as "lora key not loaded" and kohya as "no module found" — silently dropped.

Everything is computed in SQL from the stored layer sets, over a :class:`.reading.Reader` (or
an ORM session read through): :func:`fits` works per distinct layer set (a catalog of 10,000
files holds a few dozen), then joins back to the artifacts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loradex.adapters.model.artifact import ArtifactInfo
from loradex.adapters.model.model_lines import judge_line, line_claims
from loradex.adapters.words import article, count, not_held
from loradex.registry.errors import NoLayersError, QueryError
from loradex.registry.store.paths import absolute

from .filters import EFFECTIVE_BASE
from .reading import Reader, as_reader, in_list
from .rows import ArtifactRow, artifact_rows, shape_text

if TYPE_CHECKING:
    from sqlmodel import Session

    Source = Reader | Session

#: Below this share of fitting layers an adapter is called incompatible rather than partial.
PARTIAL_THRESHOLD = 0.5

_EXAMPLES = 3  # names quoted in a summary line


def base_of(artifact: Any) -> str:
    """The artifact's base family as the user sees it (override first)."""
    return artifact.base_override or artifact.base


def _families_differ(a: str, b: str) -> bool:
    # "unknown" is no evidence either way: only two known, different families conflict.
    return a != "unknown" and b != "unknown" and a != b


def _component(canonical: str) -> str:
    return canonical.split(".", 1)[0]


def _holds(base: Any, canonical: str, families_differ: bool = False) -> bool:
    """Whether ``base`` holds the component of layer ``canonical``: a denoiser-only file (BFL's
    flux1-dev, a GGUF) has no text encoders, so an adapter of its family is not judged on its
    text-encoder layers there. Every layer is judged against a base of another family (what it
    lacks is then the family's difference) or one that lists no components (an unknown family)."""
    return families_differ or not base.components or _component(canonical) in base.components


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
        elsewhere: canonical layers of components the base does not hold (a denoiser-only file has
            no text encoders): not judged, not counted in ``total``.
        share: ``matched / total`` (for an adapter without layers: 1.0 when the families
            agree, else 0.0; for one whose layers are all elsewhere: 0.0).
        verdict: ``compatible`` (share 1.0), ``partial`` or ``incompatible`` (share below
            :data:`PARTIAL_THRESHOLD`, or the base families differ).
    """

    adapter: ArtifactRow
    base: ArtifactRow
    total: int
    matched: int
    missing: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    share: float = 0.0
    verdict: str = "incompatible"

    @property
    def families(self) -> tuple[str, str]:
        return base_of(self.adapter), base_of(self.base)

    @property
    def other_line(self) -> bool:
        """Whether the adapter was trained on another model line than the base's (Pony on an
        Illustrious checkpoint): said beside the verdict, never changing it, since a line's
        layers are its family's."""
        return bool(self.adapter.line and self.base.line and self.adapter.line != self.base.line)

    def summary(self) -> str:
        """One line, e.g. ``0/84 layers fit sdxl-single: 84 missing, e.g. unet.…; family sd1
        vs sdxl (incompatible)``, and when the model lines differ ``…; trained on another line:
        pony vs illustrious``."""
        lines = f"; trained on another line: {self.adapter.line} vs {self.base.line}" if self.other_line else ""
        return self._fit() + lines

    def _fit(self) -> str:
        mine, theirs = self.families
        if not self.total and self.elsewhere:
            return f"nothing to apply to {self.base.name}: {not_held(self.elsewhere)} ({self.verdict})"
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
        if self.elsewhere:
            parts.append(not_held(self.elsewhere))
        if _families_differ(mine, theirs):
            parts.append(f"family {mine} vs {theirs}")
        detail = ": " + "; ".join(parts) if parts else ""
        return f"{self.matched}/{self.total} layers fit {self.base.name}{detail} ({self.verdict})"

    def __json__(self) -> dict[str, Any]:
        """Artifacts by id, name, family and line (not whole rows), shapes as strings, the summary line."""
        return {
            "adapter": _brief(self.adapter),
            "base": _brief(self.base),
            "total": self.total,
            "matched": self.matched,
            "share": self.share,
            "verdict": self.verdict,
            "other_line": self.other_line,
            "missing": self.missing,
            "unmatched": self.unmatched,
            "elsewhere": self.elsewhere,
            "mismatched": [{"canonical": c, "adapter_shape": a, "base_shape": b} for c, a, b in self.mismatched],
            "summary": self.summary(),
        }


def _brief(a: Any) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "base": base_of(a), "line": a.line}


def _require_base(base: Any) -> int:
    if base.kind != "checkpoint":
        raise QueryError(f"{base.name} is {article(base.kind)}, not a base checkpoint", path=base.path)
    if base.layer_set_id is None:
        raise NoLayersError("has no stored layer inventory; rescan it (`loradex scan`)", path=base.path)
    return base.layer_set_id


def _verdict(share: float, families_differ: bool) -> str:
    if families_differ or share < PARTIAL_THRESHOLD:
        return "incompatible"
    return "compatible" if share >= 1.0 else "partial"


def check(source: Source, adapter: Any, base: Any) -> Compatibility:
    """Compare an adapter's stored layers with a base checkpoint's layer inventory.

    Args:
        source: a reader, or a session to read through.
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
    reader = as_reader(source)
    params = {"base_set": _require_base(base), "set": adapter.layer_set_id, "id": adapter.id}
    rows: list[tuple[str, str, str | None]] = []
    if adapter.layer_set_id is not None:
        # Join on the name only: a NULL base shape means missing, a different one mismatched.
        rows = list(
            reader.rows(
                "SELECT ours.canonical, ours.shape, other.shape FROM layer_set_layer ours "
                "LEFT OUTER JOIN layer_set_layer other "
                "ON other.layer_set_id = :base_set AND other.canonical = ours.canonical "
                "WHERE ours.layer_set_id = :set ORDER BY ours.canonical",
                params,
            )
        )
    unmatched = [
        stem
        for (stem,) in reader.rows(
            "SELECT stem FROM module WHERE artifact_id = :id AND canonical IS NULL ORDER BY stem", params
        )
    ]
    return _judged(adapter, base, rows, unmatched)


def check_files(adapter: ArtifactInfo, base: ArtifactInfo) -> Compatibility:
    """:func:`check` for probed files, catalogued or not (``loradex check PATH --base PATH``)."""
    if base.kind != "checkpoint":
        raise QueryError(f"{base.path.name} is {article(base.kind)}, not a base checkpoint", path=base.path)
    inventory = {name: shape_text(shape) for name, shape in base.inventory.items()}
    rows = sorted(
        (layer.canonical, shape_text(layer.shape), inventory.get(layer.canonical))
        for layer in adapter.layers
        if layer.canonical
    )
    return _judged(_unrecorded(adapter), _unrecorded(base), rows, sorted(adapter.unmatched))


def _unrecorded(info: ArtifactInfo) -> ArtifactRow:
    """A row for a probed file that is not (necessarily) in the catalog, never added to one; its
    model line as the file alone says it (no catalog to find its training base in)."""
    checkpoint = info.kind == "checkpoint"
    line = judge_line(info.base, line_claims(info.metadata, checkpoint=checkpoint, name=info.path.stem))
    return ArtifactRow(
        name=info.path.stem,
        path=str(info.path),
        kind=info.kind,
        format=info.format,
        base=info.base,
        line=line.line,
        line_confidence=line.confidence,
        line_evidence=line.evidence,
        unmatched=len(info.unmatched),
        components=list(info.components),
    )


def _judged(adapter: Any, base: Any, rows: list[tuple[str, str, str | None]], unmatched: list[str]) -> Compatibility:
    """The verdict from (canonical, adapter shape, base shape or None) per layer."""
    mine, theirs = base_of(adapter), base_of(base)
    differ = _families_differ(mine, theirs)
    elsewhere = [c for c, _, _ in rows if not _holds(base, c, differ)]
    rows = [row for row in rows if _holds(base, row[0], differ)]
    total = len(rows) + max(adapter.unmatched or 0, len(unmatched))
    if total == 0 and elsewhere:
        return Compatibility(adapter, base, 0, 0, elsewhere=elsewhere, share=0.0, verdict=_verdict(0.0, differ))
    if total == 0:
        if "unknown" in (mine, theirs):
            raise NoLayersError("has no layers and no known base family to compare", path=adapter.path)
        share = 0.0 if differ else 1.0
        return Compatibility(adapter, base, 0, 0, share=share, verdict=_verdict(share, differ))
    matched = sum(1 for _, a, b in rows if a == b)
    share = matched / total
    return Compatibility(
        adapter,
        base,
        total,
        matched,
        missing=[c for c, _, b in rows if b is None],
        mismatched=[(c, a, b) for c, a, b in rows if b is not None and a != b],
        unmatched=unmatched,
        elsewhere=elsewhere,
        share=share,
        verdict=_verdict(share, differ),
    )


def fit_join(base: Any, params: dict[str, Any], *, min_share: float = 1.0) -> tuple[str, str, list[str]]:
    """The SQL pieces that select adapters (``artifact a``) fitting ``base``, for :func:`fits` and
    listings; their values are added to ``params``.

    Returns:
        ``(join, share, conditions)``: the JOIN of a ``(layer_set_id, total, matched)`` row per
        layer set over the components the base holds (an adapter with none of its layers there has
        no row), the share expression per artifact (unmatched keys count against it), and
        the WHERE conditions (share, status ok, not a checkpoint, not the base itself, no
        conflicting family).

    Raises:
        QueryError: ``min_share`` is outside [0, 1], or ``base`` is not a checkpoint.
        NoLayersError: ``base`` has no stored layer inventory.
    """
    if not 0.0 <= min_share <= 1.0:
        raise QueryError(f"min_share must be between 0 and 1, not {min_share}")
    params.update(fit_set=_require_base(base), fit_base=base.id, fit_share=min_share)
    held = []
    for i, component in enumerate(sorted(base.components or ())):
        params[f"fit_held{i}"] = component + "."
        held.append(f"substr(ours.canonical, 1, {len(component) + 1}) = :fit_held{i}")
    only_held = f"WHERE {' OR '.join(held)} " if held else ""
    # One pass over every stored layer row with an index probe into the base's set (the
    # unique (layer_set_id, canonical) index): cost grows with distinct layer sets, not files.
    join = (
        " JOIN (SELECT ours.layer_set_id AS layer_set_id, COUNT(*) AS total, COUNT(other.id) AS matched "
        "FROM layer_set_layer ours LEFT OUTER JOIN layer_set_layer other ON other.layer_set_id = :fit_set "
        f"AND other.canonical = ours.canonical AND other.shape = ours.shape {only_held}GROUP BY ours.layer_set_id) fit "
        "ON fit.layer_set_id = a.layer_set_id"
    )
    denominator = "(fit.total + COALESCE(a.unmatched, 0))"
    conditions = [
        # Multiplying instead of dividing keeps min_share=1.0 an exact integer comparison.
        f"fit.matched >= :fit_share * {denominator}",
        "a.status = 'ok'",
        "a.kind != 'checkpoint'",
        "a.id != :fit_base",
    ]
    if (family := base_of(base)) != "unknown":
        conditions.append(f"({EFFECTIVE_BASE} = :fit_family OR {EFFECTIVE_BASE} = 'unknown')")
        params["fit_family"] = family
    return join, f"CAST(fit.matched AS FLOAT) / {denominator}", conditions


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


def fits(source: Source, base: Any, *, min_share: float = 1.0, limit: int | None = None) -> list[Fit]:
    """Adapters of the catalog that apply to ``base``, best share first.

    Args:
        source: a reader, or a session to read through.
        base: a checkpoint with a stored layer inventory.
        min_share: the least share of an adapter's layers that must fit (1.0: all of them).
        limit: at most this many (the best first).

    Returns:
        :class:`Fit` rows sorted by share (descending) then name.

    Raises:
        QueryError: ``min_share`` is outside [0, 1], or ``base`` is not a checkpoint.
        NoLayersError: ``base`` has no stored layer inventory.
    """
    reader = as_reader(source)
    params: dict[str, Any] = {}
    join, share, conditions = fit_join(base, params, min_share=min_share)
    sql = (
        f"SELECT a.id, a.name, a.path, a.kind, a.format, {EFFECTIVE_BASE}, {share} AS share FROM artifact a{join} "
        f"WHERE {' AND '.join(conditions)} ORDER BY share DESC, a.name, a.id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [
        Fit(id, name, absolute(path, reader.folder), kind, format, family, float(share))
        for id, name, path, kind, format, family, share in reader.rows(sql, params)
    ]


@dataclass(frozen=True)
class CheckpointFit:
    """How much of an adapter applies to one catalogued checkpoint (see :func:`fit_by_checkpoint`).

    Attributes:
        base: the checkpoint.
        total: the adapter's layers of the components the checkpoint holds, unmatched keys
            included (as :attr:`Compatibility.total`).
        matched: those present in the checkpoint with the same shape.
        share: ``matched / total``; for an adapter without layers 1.0 or 0.0 by family, None
            when neither family is known; 0.0 when none of its layers is of a component there.
        verdict: ``compatible``, ``partial``, ``incompatible`` (as :func:`check`), or
            ``unknown`` when ``share`` is None.
        elsewhere: the adapter's layers per component the checkpoint does not hold (a
            denoiser-only file has no text encoders): not judged (:attr:`Compatibility.elsewhere`).
    """

    base: ArtifactRow
    total: int
    matched: int
    share: float | None
    verdict: str
    elsewhere: dict[str, int] = field(default_factory=dict)


def fit_by_checkpoint(source: Source, adapter: Any) -> list[CheckpointFit]:
    """The share of ``adapter``'s layers that fit each catalogued checkpoint, best first.

    One grouped query over the layer sets (every checkpoint with a stored inventory), with the
    verdicts :func:`check` would give; the adapter itself is left out when it is a checkpoint.

    Returns:
        :class:`CheckpointFit` rows sorted by share (descending, unknown last), then name and id.
    """
    reader = as_reader(source)
    params: dict[str, Any] = {"id": adapter.id, "set": adapter.layer_set_id}
    bases = artifact_rows(
        reader, "a.kind = 'checkpoint' AND a.layer_set_id IS NOT NULL AND a.id != :id", params, order="a.name, a.id"
    )
    if not bases:
        return []
    matched: dict[int, int] = {}
    layers: Counter[str] = Counter()  # the adapter's layers per component
    if adapter.layer_set_id is not None:
        layers = Counter(
            _component(c)
            for (c,) in reader.rows("SELECT canonical FROM layer_set_layer WHERE layer_set_id = :set", params)
        )
        sets = in_list("base_set", sorted({b.layer_set_id for b in bases}), params)
        matched = dict(
            reader.rows(
                "SELECT other.layer_set_id, COUNT(*) FROM layer_set_layer ours JOIN layer_set_layer other "
                "ON other.canonical = ours.canonical AND other.shape = ours.shape "
                f"WHERE ours.layer_set_id = :set AND other.layer_set_id IN {sets} GROUP BY other.layer_set_id",
                params,
            )
        )
    unnamed = max(
        adapter.unmatched or 0,
        reader.value("SELECT COUNT(*) FROM module WHERE artifact_id = :id AND canonical IS NULL", params),
    )
    out = []
    for base in bases:
        differ = _families_differ(base_of(adapter), base_of(base))
        # Only the components the checkpoint holds are judged (as check does); a match is always one of them.
        total = sum(n for component, n in layers.items() if _holds(base, component, differ)) + unnamed
        n = matched.get(base.layer_set_id or 0, 0)
        share: float | None
        if total:
            share = n / total
        elif layers:  # every layer is of a component the checkpoint does not hold
            share = 0.0
        else:
            share = None if "unknown" in (base_of(adapter), base_of(base)) else (0.0 if differ else 1.0)
        verdict = _verdict(share, differ) if share is not None else "unknown"
        elsewhere = {component: k for component, k in layers.items() if not _holds(base, component, differ)}
        out.append(CheckpointFit(base, total, n, share, verdict, elsewhere))
    return sorted(out, key=lambda f: -(f.share if f.share is not None else -1.0))
