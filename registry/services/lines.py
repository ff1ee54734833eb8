"""A catalogued artifact's model line (:mod:`loradex.adapters.model.model_lines`), decided each time
scan stores the row: from its metadata, its Civitai sidecar and (a checkpoint's) name, with the
strongest claim of all in front when the catalog holds the checkpoint it was trained on.

kohya records the sha256 of the file it trained on (``ss_new_sd_model_hash``); the catalogued
checkpoint with that sha256 lends the adapter its line, its name and its id. The two files may be
scanned in either order: storing a checkpoint decides again every adapter trained on it.
"""

from __future__ import annotations

from sqlalchemy import case
from sqlmodel import Session, col, select

from loradex.adapters.model.model_lines import (
    TRAINING_BASE_KEY,
    Confidence,
    LineClaim,
    judge_line,
    line_claims,
    line_of,
    spec_of,
    trained_on_sha256,
)
from loradex.registry.queries.compat import base_of
from loradex.registry.store.models import Artifact, CivitaiRecord

__all__ = ["decide_line"]


def decide_line(session: Session, artifact: Artifact) -> None:
    """Decide ``artifact``'s line, its confidence and evidence, and the training base it names;
    for a checkpoint, decide again every catalogued adapter trained on it.

    Args:
        session: an open session (rows are changed, not committed).
        artifact: a row scan has just filled (probe, sidecars).
    """
    _decide(session, artifact)
    if artifact.kind == "checkpoint" and artifact.sha256:
        trained = select(Artifact).where(
            col(Artifact.trained_on_sha256) == artifact.sha256, col(Artifact.id) != artifact.id
        )
        for adapter in session.exec(trained):
            _decide(session, adapter)


def _decide(session: Session, artifact: Artifact) -> None:
    if artifact.status == "error":  # nothing was read that could say
        artifact.line = artifact.line_confidence = artifact.trained_on_sha256 = None
        artifact.line_evidence = []
        return
    metadata = artifact.training_metadata or {}
    artifact.trained_on_sha256 = trained_on_sha256(metadata)
    civitai_base, civitai_source = _civitai_base(session, artifact)
    claims = line_claims(
        metadata,
        checkpoint=artifact.kind == "checkpoint",
        name=artifact.name,
        civitai_base=civitai_base,
        civitai_source=civitai_source,
    )
    notes = []
    if artifact.trained_on_sha256 and (base := _training_base(session, artifact)) is not None:
        # line_of, not Line(): a value an older vocabulary stored must not stop a scan.
        if base.line and (line := line_of(base.line)):
            claims.insert(
                0,
                LineClaim(
                    line,
                    Confidence.EXACT,
                    f"trained on {base.name} (id {base.id}), the checkpoint whose sha256 is its "
                    f"{TRAINING_BASE_KEY}: {spec_of(line).title} ({base.line_confidence})",
                ),
            )
        else:
            notes.append(f"trained on {base.name} (id {base.id}), whose line is not known")
    verdict = judge_line(base_of(artifact), claims)
    # Plain strings in the row, not the enums (a row is compared and serialised as it is read back).
    artifact.line = verdict.line.value if verdict.line else None
    artifact.line_confidence = verdict.confidence.value if verdict.confidence else None
    artifact.line_evidence = verdict.evidence + notes
    session.add(artifact)


def _training_base(session: Session, artifact: Artifact) -> Artifact | None:
    """The catalogued checkpoint ``artifact`` was trained on (an ok copy first, then the oldest)."""
    query = (
        select(Artifact)
        .where(
            col(Artifact.sha256) == artifact.trained_on_sha256,
            col(Artifact.kind) == "checkpoint",
            col(Artifact.id) != artifact.id,
        )
        .order_by(case((col(Artifact.status) == "ok", 0), else_=1), col(Artifact.id))
    )
    return session.exec(query).first()


def _civitai_base(session: Session, artifact: Artifact) -> tuple[str | None, str]:
    """Civitai's base model for ``artifact`` and where it was read: its Civitai record (what the
    site said when asked, kept when the page is deleted), else a ``.civitai.info`` beside it."""
    if artifact.id is not None:
        record = session.exec(
            select(CivitaiRecord.base_model, CivitaiRecord.version_id).where(
                col(CivitaiRecord.artifact_id) == artifact.id, col(CivitaiRecord.base_model).is_not(None)
            )
        ).first()
        if record is not None:
            return record[0], f"Civitai (version {record[1]})"
    civitai = (artifact.sidecar or {}).get("civitai")
    value = civitai.get("baseModel") if isinstance(civitai, dict) else None
    return (value if isinstance(value, str) else None), ".civitai.info"
