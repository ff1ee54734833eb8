"""``loradex sidecars write``: what the catalog knows about a file, written beside it the way each
tool of the field writes its own sidecar, so a user who keeps those tools sees it there too.

Opt-in and careful: every file is written atomically, an existing file is never replaced
without ``force``, and a format with nothing to say (a Civitai format for a file Civitai never
named, a preview for a file without one) is skipped with the reason. Scanning the folder into a
fresh catalog reads back what was written (:mod:`.sidecars`).
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loradex.adapters.io.atomic import atomic_path
from loradex.registry.queries import orm
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, CivitaiRecord, Preview

from .sidecar_names import sidecar_paths

__all__ = ["SidecarFormat", "Written", "write_sidecars"]


class SidecarFormat(StrEnum):
    """The sidecars loradex writes, each as its owning tool does."""

    A1111 = "a1111"  #: ``<name>.json``: AUTOMATIC1111's extra-networks user metadata
    CIVITAI_INFO = "civitai-info"  #: ``<name>.civitai.info``: Civitai Helper's version JSON
    LORA_MANAGER = "lora-manager"  #: ``<name>.metadata.json``: ComfyUI-Lora-Manager
    CM_INFO = "cm-info"  #: ``<name>.cm-info.json``: Stability Matrix's ConnectedModelInfo
    PREVIEW = "preview"  #: ``<name>.preview.png``: the first preview


_KIND = {
    SidecarFormat.A1111: "a1111",
    SidecarFormat.CIVITAI_INFO: "civitai",
    SidecarFormat.LORA_MANAGER: "lora_manager",
    SidecarFormat.CM_INFO: "cm_info",
}
#: A1111's ``SdVersion`` names by loradex family.
_SD_VERSION = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}


@dataclass
class Written:
    """One sidecar: ``written``, or ``skipped`` and why."""

    artifact_id: int
    name: str
    format: str
    path: str
    state: str
    reason: str | None = None


def write_sidecars(
    engine: Engine,
    refs: Sequence[str] | None,
    formats: Sequence[SidecarFormat] = tuple(SidecarFormat),
    *,
    force: bool = False,
) -> list[Written]:
    """Write the sidecars of ``formats`` beside the named artifacts (every ok artifact with no refs).

    Args:
        engine: the catalog.
        refs: artifacts; None or empty for every artifact whose file is there.
        formats: which sidecars.
        force: replace a file that exists (else it is skipped: it may be the user's own).

    Returns:
        One :class:`Written` per artifact and format, in catalog order.

    Raises:
        RefNotFoundError, AmbiguousRefError: a reference names no single artifact (nothing is written).
    """
    with open_session(engine) as session:
        if refs:
            targets = list({a.id: a for a in (orm.resolve(session, ref) for ref in refs)}.values())
        else:
            targets = list(
                session.exec(select(Artifact).where(col(Artifact.status) == "ok").order_by(col(Artifact.id)))
            )
        done: list[Written] = []
        for artifact in targets:
            assert artifact.id is not None
            record = session.exec(select(CivitaiRecord).where(col(CivitaiRecord.artifact_id) == artifact.id)).first()
            for fmt in formats:
                done.append(_write(session, artifact, record, fmt, force=force))
    return done


def _write(
    session: Session, artifact: Artifact, record: CivitaiRecord | None, fmt: SidecarFormat, *, force: bool
) -> Written:
    assert artifact.id is not None
    where = sidecar_paths(artifact.path)
    target = where["previews"][0] if fmt is SidecarFormat.PREVIEW else where[_KIND[fmt]][0]
    written = Written(artifact.id, artifact.name, fmt.value, str(target), "skipped")
    if not Path(artifact.path).exists():
        written.reason = "the file is missing"
        return written
    if target.exists() and not force:
        written.reason = "exists (--force replaces it)"
        return written
    if fmt is SidecarFormat.PREVIEW:
        source = _first_preview(session, artifact, target)
        if source is None:
            written.reason = "no preview"
            return written
        try:
            _copy_png(source, target)
        except OSError as exc:  # PIL's "cannot identify image file" among them
            written.reason = f"{source}: cannot read the preview: {exc}"
            return written
    else:
        content = _content(artifact, record, fmt)
        if content is None:
            written.reason = "Civitai never named this file"
            return written
        with atomic_path(target) as tmp:
            tmp.write_text(content, encoding="utf-8")
    written.state = "written"
    return written


def _content(artifact: Artifact, record: CivitaiRecord | None, fmt: SidecarFormat) -> str | None:
    known = record if record is not None and record.state != "not-found" and record.version_id else None
    words = list(known.trained_words) if known else []
    if fmt is SidecarFormat.A1111:
        # As A1111 writes it: json.dump(indent=4, ensure_ascii=False); 0 means "no preferred weight".
        return json.dumps(
            {
                "description": (known.description if known else None) or "",
                "sd version": _SD_VERSION.get(artifact.base, "Unknown"),
                "activation text": artifact.activation_text or ", ".join(words),
                "preferred weight": artifact.preferred_weight or 0,
                "negative text": "",
                "notes": artifact.notes or "",
            },
            indent=4,
            ensure_ascii=False,
        )
    if fmt is SidecarFormat.LORA_MANAGER:  # its notes, weight and trigger words serve a file Civitai never named too
        return json.dumps(_lora_manager(artifact, known), indent=2, ensure_ascii=False)
    if known is None:
        return None
    if fmt is SidecarFormat.CIVITAI_INFO:
        # Civitai Helper: json.dumps(version, indent=4).
        return json.dumps(_version(known), indent=4)
    return json.dumps(_cm_info(artifact, known))  # System.Text.Json's defaults: compact, PascalCase, nulls kept


def _version(record: CivitaiRecord) -> dict[str, Any]:
    """The version JSON as Civitai answered, with what the model's page added (its tags and
    description, where Lora Manager keeps them: ``model.tags``, ``model.description``)."""
    version = dict(record.raw or {})
    version.setdefault("id", record.version_id)
    version.setdefault("modelId", record.model_id)
    version.setdefault("name", record.version_name)
    version.setdefault("baseModel", record.base_model)
    version.setdefault("trainedWords", list(record.trained_words))
    model = dict(version.get("model") or {}) if isinstance(version.get("model"), dict) else {}
    model.setdefault("name", record.model_name)
    model.setdefault("type", record.model_type)
    if record.tags:
        model["tags"] = list(record.tags)
    if record.description:
        model["description"] = _as_html(record.description)
    model.update(record.license or {})
    version["model"] = model
    if record.creator and not isinstance(version.get("creator"), dict):
        version["creator"] = {"username": record.creator}
    return version


def _as_html(text: str) -> str:
    # The catalog keeps the description as text; the field holds HTML. Escaped, it reads back the same.
    return html.escape(text, quote=False)


def _lora_manager(artifact: Artifact, record: CivitaiRecord | None) -> dict[str, Any]:
    """docs/metadata-json-schema.md of ComfyUI-Lora-Manager; a file Civitai never named keeps its
    trigger words where Lora Manager keeps a user's: ``civitai.trainedWords``."""
    path = Path(artifact.path)
    words = [w.strip() for w in (artifact.activation_text or "").split(",") if w.strip()]
    preview = next((p for p in sidecar_paths(path)["previews"] if p.is_file()), None)
    return {
        "file_name": path.stem,
        "model_name": (record.model_name if record else None) or artifact.name,
        "file_path": path.as_posix(),
        "size": artifact.size,
        "modified": artifact.created_at.timestamp(),
        "sha256": artifact.sha256 or "",
        "base_model": (record.base_model if record else None) or "",
        "preview_url": preview.as_posix() if preview else "",
        "preview_nsfw_level": 0,
        "notes": artifact.notes or "",
        "from_civitai": record is not None,
        "civitai": _version(record) if record else {"trainedWords": words},
        "tags": list(record.tags) if record else [],
        "modelDescription": _as_html(record.description or "") if record else "",
        "civitai_deleted": record is not None and record.state == "deleted",
        "favorite": False,
        "exclude": False,
        "db_checked": False,
        "metadata_source": "civitai_api" if record else None,
        "last_checked_at": record.last_checked.timestamp() if record else 0,
        "hash_status": "completed",
        "usage_tips": json.dumps({"strength": artifact.preferred_weight} if artifact.preferred_weight else {}),
        "autov3": artifact.autov3,
    }


def _cm_info(artifact: Artifact, record: CivitaiRecord) -> dict[str, Any]:
    raw = record.raw or {}
    files = [f for f in raw.get("files") or [] if isinstance(f, dict)]
    primary = next((f for f in files if f.get("primary")), files[0] if files else {})
    given: dict[str, Any] = primary["hashes"] if isinstance(primary.get("hashes"), dict) else {}
    model: dict[str, Any] = raw["model"] if isinstance(raw.get("model"), dict) else {}
    imported = record.first_matched_at or record.last_checked
    return {
        "ModelId": record.model_id,
        "ModelName": record.model_name,
        "ModelDescription": _as_html(record.description or ""),
        "Nsfw": model.get("nsfw") is True,
        "Tags": list(record.tags),
        "ModelType": record.model_type or "Unknown",
        "VersionId": record.version_id,
        "VersionName": record.version_name,
        "VersionDescription": raw.get("description"),
        "AuthorUsername": record.creator,
        "BaseModel": record.base_model,
        "RemoteFileName": primary.get("name") or Path(artifact.path).name,
        "RemoteFileId": primary.get("id"),
        "FileMetadata": None,
        # A DateTimeOffset: with its offset (the catalog keeps UTC).
        "ImportedAt": (imported if imported.tzinfo else imported.replace(tzinfo=UTC)).isoformat(),
        "Hashes": {
            "SHA256": given.get("SHA256") or (artifact.sha256 or "").upper() or None,
            "CRC32": given.get("CRC32") or (artifact.crc32 or "").upper() or None,
            "BLAKE3": given.get("BLAKE3") or (artifact.blake3 or "").upper() or None,
        },
        "TrainedWords": list(record.trained_words),
        "Stats": None,
        "UserTitle": None,
        "ThumbnailImageUrl": None,
        "InferenceDefaults": None,
        "Source": 0,  # ConnectedModelSource.Civitai: an enum without a string converter, written as its number
        "SourceUrl": None,
    }


def _first_preview(session: Session, artifact: Artifact, target: Path) -> Path | None:
    paths = session.exec(select(Preview.path).where(col(Preview.artifact_id) == artifact.id).order_by(col(Preview.id)))
    return next((Path(p) for p in paths if Path(p) != target and Path(p).is_file()), None)


def _copy_png(source: Path, target: Path) -> None:
    """A PNG at ``target`` (Civitai Helper names a JPEG ``.preview.png``; a real PNG is kinder)."""
    with atomic_path(target) as tmp:
        if source.suffix.lower() == ".png":
            shutil.copyfile(source, tmp)
            return
        from PIL import Image

        with Image.open(source) as image:
            image.save(tmp, format="PNG")
