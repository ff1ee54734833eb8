"""What users already keep beside their files, read (never modified) and imported, so a user
moving from another tool keeps what they had.

* A1111's extra-networks sidecar ``<stem>.json``: ``"activation text"``, ``"preferred
  weight"``, ``"notes"``, ``"sd version"``, ``"description"``, ``"negative text"``;
* Civitai Helper's ``<stem>.civitai.info``: the model-version JSON of Civitai's API, as answered;
* ComfyUI-Lora-Manager's ``<stem>.metadata.json``: ``model_name``, ``base_model``, ``notes``,
  ``tags``, ``modelDescription``, ``civitai_deleted``, ``usage_tips`` (a JSON string:
  ``strength``…) and ``civitai`` (the version JSON, or only ``trainedWords`` for a file not from
  Civitai);
* Stability Matrix's ``<stem>.cm-info.json`` (``ConnectedModelInfo``, PascalCase): ``ModelId``,
  ``VersionId``, ``ModelName``, ``VersionName``, ``BaseModel``, ``TrainedWords``, ``Tags``,
  ``ModelDescription``, ``AuthorUsername``, ``Hashes{SHA256, CRC32, BLAKE3}``…;
* previews: ``<stem>.preview.png`` (A1111's "replace preview"), ``<stem>.png``, and the same
  in ``.jpg``/``.jpeg``/``.webp``.

A Civitai version found in a sidecar becomes the artifact's ``civitai_record`` exactly as
``loradex civitai sync`` records that version, so ``show`` knows the file with no network. What
the user set in loradex (activation text, notes, weight) is never overwritten: a sidecar fills
only empty fields, and only when its content is new. A record from a sync wins over a sidecar
older than it.

A sidecar that cannot be read or parsed is ignored: it must never keep the artifact itself
out of the catalog.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from loradex.adapters.io import bounded_json
from loradex.adapters.model.model_lines import family_named
from loradex.registry.store.models import Artifact, CivitaiRecord, Preview

from .civitai_records import LICENSE_FLAGS, apply_version, html_text, version_hashes
from .records import lead_with, storable
from .sidecar_names import JSON_KINDS, sidecar_paths

__all__ = ["CivitaiFacts", "Sidecars", "apply_sidecars", "read_sidecars"]

# Sidecars are small; anything bigger is not one of ours to parse.
_MAX_JSON = 5_000_000


@dataclass
class CivitaiFacts:
    """A Civitai version as a sidecar tells it.

    Attributes:
        version: the version JSON (``id``, ``modelId``, ``name``, ``baseModel``, ``trainedWords``,
            ``model{name,type}``, ``files``…), as Civitai's API answers it.
        tags, description, creator, license: what the model's page says, where the sidecar kept it.
        deleted: the tool saw the model deleted upstream.
        written_at: the sidecar's mtime: a sync later than this wins.
    """

    version: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    description: str | None = None
    creator: str | None = None
    license: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    written_at: float = 0.0


@dataclass
class Sidecars:
    """Sidecar data found beside an artifact.

    Attributes:
        activation_text: A1111 "activation text", else the trained words joined by ", ".
        preferred_weight: A1111 "preferred weight" (A1111 writes 0 for "unset": None then), else
            Lora Manager's ``usage_tips.strength``.
        notes: A1111's or Lora Manager's notes.
        sd_version: A1111's "sd version" (``SD1``, ``SD2``, ``SDXL``, ``Unknown``): the user's
            word on the base, a claim beside the file's metadata (Civitai's ``baseModel`` speaks
            through the Civitai record).
        trained_words: Civitai's ``trainedWords`` (from whichever sidecar has them).
        civitai: the Civitai version a sidecar names, if one does.
        not_on_civitai: when a tool found the file not on Civitai (the mtime of the ``{}`` Civitai
            Helper writes into ``.civitai.info`` for a hash Civitai answered 404), else None.
        previews: preview images, best first.
        raw: the parsed files, by kind: ``{"a1111": {...}, "civitai": {...}, "lora_manager":
            {...}, "cm_info": {...}}``.
    """

    activation_text: str | None = None
    preferred_weight: float | None = None
    notes: str | None = None
    sd_version: str | None = None
    trained_words: list[str] = field(default_factory=list)
    civitai: CivitaiFacts | None = None
    not_on_civitai: float | None = None
    previews: list[Path] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def read_sidecars(path: str | os.PathLike[str], *, present: frozenset[str] | None = None) -> Sidecars:
    """Read the sidecars beside an artifact.

    Args:
        path: the artifact file or folder.
        present: the names of its sidecars, when the folder's listing already said
            (:func:`signature_names` of discovery's signature): no other name is looked up.

    Returns:
        A :class:`Sidecars` (empty when there are none). Never raises for a bad sidecar.
    """
    where = sidecar_paths(path)
    if present is not None:
        where = {kind: [p for p in paths if p.name in present] for kind, paths in where.items()}
    found = Sidecars(previews=[p for p in where["previews"] if p.is_file()])
    parsed = {kind: _read_json(where[kind][0]) if where[kind] else (None, 0.0) for kind in JSON_KINDS}
    found.raw = {kind: data for kind, (data, _) in parsed.items() if data}
    a1111, _ = parsed["a1111"]
    if a1111:
        found.activation_text = _text(a1111.get("activation text"))
        found.preferred_weight = _weight(a1111.get("preferred weight"))
        found.notes = _text(a1111.get("notes"))
        found.sd_version = _text(a1111.get("sd version"))
    lora_manager, lm_time = parsed["lora_manager"]
    if lora_manager:
        found.notes = found.notes or _text(lora_manager.get("notes"))
        found.preferred_weight = found.preferred_weight or _usage_strength(lora_manager.get("usage_tips"))
    found.civitai = (
        _from_civitai_info(*parsed["civitai"])
        or _from_lora_manager(lora_manager, lm_time)
        or _from_cm_info(*parsed["cm_info"])
    )
    empty, written = parsed["civitai"]
    if empty == {} and found.civitai is None:
        found.not_on_civitai = written
    if found.civitai is not None:
        found.trained_words = _words(found.civitai.version.get("trainedWords"))
    else:  # no version named (Lora Manager's "civitai" of a file not from Civitai): its words only
        partial = parsed["civitai"][0] or (lora_manager or {}).get("civitai")
        if isinstance(partial, dict):
            found.trained_words = _words(partial.get("trainedWords"))
    found.activation_text = found.activation_text or (", ".join(found.trained_words) or None)
    return found


def _from_civitai_info(version: dict[str, Any] | None, written: float) -> CivitaiFacts | None:
    if not version or _int(version.get("id")) is None:
        return None
    model = version.get("model") if isinstance(version.get("model"), dict) else {}
    assert isinstance(model, dict)
    return CivitaiFacts(
        version,
        tags=_words(model.get("tags")),
        description=html_text(model.get("description")),
        creator=_creator(version.get("creator")),
        license={flag: model[flag] for flag in LICENSE_FLAGS if flag in model},
        written_at=written,
    )


def _from_lora_manager(data: dict[str, Any] | None, written: float) -> CivitaiFacts | None:
    version = data.get("civitai") if data else None
    if not data or not isinstance(version, dict) or _int(version.get("id")) is None:
        return None
    facts = _from_civitai_info(version, written)
    assert facts is not None
    facts.tags = _words(data.get("tags")) or facts.tags
    facts.description = html_text(data.get("modelDescription")) or facts.description
    facts.deleted = data.get("civitai_deleted") is True
    return facts


def _from_cm_info(data: dict[str, Any] | None, written: float) -> CivitaiFacts | None:
    """Stability Matrix keeps no version JSON: its fields, put back where Civitai has them. Only a
    Civitai connection (``Source`` 0, ConnectedModelSource.Civitai, written as a number; absent in
    files from before it) names a version."""
    if not data or _int(data.get("VersionId")) is None or data.get("Source", 0) not in (0, None):
        return None
    hashes = data.get("Hashes") if isinstance(data.get("Hashes"), dict) else {}
    assert isinstance(hashes, dict)
    version = {
        "id": data["VersionId"],
        "modelId": data.get("ModelId"),
        "name": data.get("VersionName"),
        "baseModel": data.get("BaseModel"),
        "trainedWords": data.get("TrainedWords") or [],
        "description": data.get("VersionDescription"),
        "model": {"name": data.get("ModelName"), "type": data.get("ModelType"), "nsfw": data.get("Nsfw") is True},
        "files": [
            {
                "id": data.get("RemoteFileId"),
                "name": data.get("RemoteFileName"),
                "primary": True,
                "hashes": {k: v for k, v in hashes.items() if isinstance(v, str)},
            }
        ],
    }
    return CivitaiFacts(
        version,
        tags=_words(data.get("Tags")),
        description=html_text(data.get("ModelDescription")),
        creator=_text(data.get("AuthorUsername")),
        written_at=written,
    )


def apply_sidecars(session: Session, artifact: Artifact, sidecars: Sidecars) -> int:
    """Import sidecar data into ``artifact``: user fields where empty, the Civitai version as its
    record, previews without duplicates.

    The text fields (activation text, preferred weight, notes) are filled from a sidecar whose
    content is new (not the one imported before) and only where they are empty: a value set in
    loradex always wins over the file beside it. A Civitai version becomes the artifact's record
    (state ``matched``, or ``deleted`` where the tool saw it so) unless a sync recorded one after
    the sidecar was written; its trained words lead the suggested trigger words. Preview rows
    (``source="sidecar"``) are added for images not yet listed.

    Args:
        session: an open session; ``artifact`` must have an id.
        artifact: the row.
        sidecars: what :func:`read_sidecars` found.

    Returns:
        The number of preview rows added.
    """
    assert artifact.id is not None  # the caller added and flushed the row (see Args)
    before = artifact.sidecar or {}
    if any(before.get(kind) != data for kind, data in sidecars.raw.items()):
        if not artifact.activation_text and sidecars.activation_text:
            artifact.activation_text = sidecars.activation_text
        if artifact.preferred_weight is None and sidecars.preferred_weight is not None:
            artifact.preferred_weight = sidecars.preferred_weight
        if not artifact.notes and sidecars.notes:
            artifact.notes = sidecars.notes
        artifact.sidecar = storable(dict(sidecars.raw))
        session.add(artifact)
    _claim_sd_version(artifact, sidecars.sd_version)
    if sidecars.civitai is not None:
        _record_civitai(session, artifact, sidecars.civitai)
    elif sidecars.not_on_civitai is not None:
        _record_absent(session, artifact, sidecars.not_on_civitai)
    if not sidecars.previews:
        return 0
    known = set(session.exec(select(Preview.path).where(col(Preview.artifact_id) == artifact.id)).all())
    new = [str(p) for p in sidecars.previews if str(p) not in known]
    for preview in new:
        session.add(Preview(artifact_id=artifact.id, path=preview, source="sidecar"))
    return len(new)


#: The claim A1111's "sd version" makes among an artifact's ``base_claims``.
SD_VERSION_CLAIM = "sd version (A1111 sidecar)"
_SD_VERSION_CONFLICT = "the A1111 sidecar claims sd version="


def _claim_sd_version(artifact: Artifact, sd_version: str | None) -> None:
    """A1111's "sd version" as one of the artifact's base claims, and its base conflict where it
    names another family than the tensor shapes (a file filed under the wrong version in A1111's
    Lora tab is a common mix-up); the shapes' verdict stands. A conflict the metadata found
    first is kept; this one goes with the claim."""
    claimed = family_named(sd_version) if sd_version else None
    claims = {k: v for k, v in (artifact.base_claims or {}).items() if k != SD_VERSION_CLAIM}
    conflict = None
    if sd_version and claimed and claimed != "unknown":
        claims[SD_VERSION_CLAIM] = sd_version
        if artifact.base not in ("unknown", claimed):
            conflict = f"{_SD_VERSION_CONFLICT}{sd_version} ({claimed}) but the tensor shapes say {artifact.base}"
    if claims != (artifact.base_claims or {}):
        artifact.base_claims = claims
    if artifact.base_conflict is None or artifact.base_conflict.startswith(_SD_VERSION_CONFLICT):
        artifact.base_conflict = conflict


def _record_civitai(session: Session, artifact: Artifact, facts: CivitaiFacts) -> None:
    record = session.exec(select(CivitaiRecord).where(col(CivitaiRecord.artifact_id) == artifact.id)).first()
    written = datetime.fromtimestamp(facts.written_at, UTC)
    if record is not None and _aware(record.last_checked) >= written:
        return  # asked (or imported) since this sidecar was written
    assert artifact.id is not None
    record = record or CivitaiRecord(artifact_id=artifact.id, state="matched")
    # The hash sync would have matched first: AutoV3, then sha256 (then what else Civitai lists).
    hashes = (artifact.autov3, artifact.sha256, artifact.blake3, artifact.crc32)
    matched = next((h for h in hashes if h and h.lower() in version_hashes(facts.version)), None)
    apply_version(record, facts.version, matched or "")
    record.matched_hash = matched
    record.tags = storable(facts.tags) or record.tags
    record.description = facts.description or record.description
    record.creator = facts.creator or record.creator
    record.license = storable(facts.license) or record.license
    if facts.deleted:
        record.state = "deleted"
        record.deleted_at = record.deleted_at or written
    record.first_matched_at = record.first_matched_at or written
    record.last_checked = written
    session.add(record)
    lead_with(artifact, record.trained_words)
    if record.trained_words and not artifact.activation_text:
        artifact.activation_text = ", ".join(record.trained_words)
    session.add(artifact)
    session.flush()


def _record_absent(session: Session, artifact: Artifact, written_at: float) -> None:
    """Civitai Helper asked and Civitai did not know the file: so recorded (``civitai sync``
    skips it, as Civitai Helper does, until ``--refresh``), unless something is recorded already."""
    assert artifact.id is not None
    if session.exec(select(CivitaiRecord.id).where(col(CivitaiRecord.artifact_id) == artifact.id)).first() is None:
        written = datetime.fromtimestamp(written_at, UTC)
        session.add(CivitaiRecord(artifact_id=artifact.id, state="not-found", last_checked=written))
        session.flush()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_json(path: Path) -> tuple[dict[str, Any] | None, float]:
    try:
        st = path.stat()
        if st.st_size > _MAX_JSON:
            return None, 0.0
        data = bounded_json.loads(path.read_text(encoding="utf-8-sig"))  # .NET may write a BOM
    except (OSError, ValueError):
        return None, 0.0
    return (data, st.st_mtime) if isinstance(data, dict) else (None, 0.0)


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _weight(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0:
        return float(value)
    return None


def _usage_strength(value: Any) -> float | None:
    """Lora Manager's ``usage_tips``: a JSON string (``{"strength": 0.6, …}``)."""
    try:
        tips = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return _weight(tips.get("strength")) if isinstance(tips, dict) else None


def _words(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    words = [w.get("name") if isinstance(w, dict) else w for w in value]  # Civitai's tags may be {"name": …}
    return list(dict.fromkeys(w.strip() for w in words if isinstance(w, str) and w.strip()))


def _creator(value: Any) -> str | None:
    return _text(value.get("username")) if isinstance(value, dict) else None
