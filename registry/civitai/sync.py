"""``loradex civitai sync`` and ``loradex civitai updates``: catalogued files asked of Civitai by
their hashes, what it says recorded, and newer versions of their models found.

A sync asks in batches of :data:`~.client.BATCH` hashes (``POST /api/v1/model-versions/by-hash``;
hash by hash where a host has no batch endpoint), follows each new model with its page
(tags, description, license flags) and downloads the example images beside the catalog. Each
batch is one transaction, committed before the next is asked: a Ctrl-C or a site that gives up
keeps every record made so far, and a rerun goes on from there, since an artifact already
checked is skipped unless ``refresh``. A file that matched before and is no longer found is
marked ``deleted`` upstream, and everything known about it is kept.

What the user set stays theirs: Civitai's trained words fill an empty activation text and lead
the suggested trigger words; they are kept as Civitai's on the record.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from loradex.adapters.io.atomic import atomic_path
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.registry.queries import orm
from loradex.registry.services.civitai_records import (
    NSFW_LEVELS,
    apply_model,
    apply_version,
    example_images,
    image_preview,
    version_hashes,
)
from loradex.registry.services.lines import decide_line
from loradex.registry.services.records import lead_with
from loradex.registry.store.columns import folder_of
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, CivitaiRecord, Preview, utcnow

from .client import BATCH, BatchUnsupported, CivitaiClient, CivitaiError
from .hashes import lookup_hashes

__all__ = ["SyncItem", "SyncOptions", "SyncReport", "UpdateItem", "images_folder", "sync", "updates"]


@dataclass(frozen=True)
class SyncOptions:
    """What a sync asks and keeps.

    Attributes:
        refresh: ask again about artifacts already checked.
        images: example images to download per version (0: none).
        max_nsfw: the highest NSFW level of an image downloaded
            (:data:`~loradex.registry.services.civitai_records.NSFW_LEVELS`).
        models: follow each model with its page (tags, description, license flags).
    """

    refresh: bool = False
    images: int = 4
    max_nsfw: int = NSFW_LEVELS["pg13"]
    models: bool = True


@dataclass
class SyncItem:
    """One artifact looked up: its state afterwards (``matched``, ``not-found``, ``deleted``)."""

    artifact_id: int
    name: str
    state: str
    model: str | None = None
    version: str | None = None
    base_model: str | None = None
    images: int = 0
    image_errors: int = 0


@dataclass
class SyncReport:
    """What a sync did. ``requests`` counts the API requests (retries included), not images."""

    host: str
    skipped: int = 0
    requests: int = 0
    images: int = 0
    items: list[SyncItem] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(item.state == state for item in self.items)

    @property
    def errors(self) -> int:
        """Example images that could not be downloaded (the record was made without them)."""
        return sum(item.image_errors for item in self.items)


@dataclass
class UpdateItem:
    """A catalogued version and the newer versions of its model (newest first)."""

    artifact_id: int
    name: str
    model: str | None
    version: str | None
    newer: list[dict[str, Any]]
    model_gone: bool = False


def images_folder(engine: Engine) -> Path:
    """Where example images are kept: ``civitai/`` beside a catalog file (moved and copied with
    it), else in the user data folder."""
    folder = folder_of(engine.dialect)
    if folder is None:
        import platformdirs

        folder = platformdirs.user_data_dir("loradex")
    return Path(folder) / "civitai"


def _targets(session: Session, refs: Sequence[str] | None) -> list[Artifact]:
    if refs:
        found = {a.id: a for a in (orm.resolve(session, ref) for ref in refs)}
        return list(found.values())
    # Only hashes are needed: the metadata and sidecars of every row (tens of KB each) stay unread.
    heavy = (Artifact.training_metadata, Artifact.sidecar, Artifact.search_text, Artifact.base_evidence)
    query = select(Artifact).where(col(Artifact.sha256).is_not(None)).order_by(col(Artifact.id))
    return list(session.exec(query.options(*(defer(c) for c in heavy))))  # type: ignore[arg-type]


@dataclass
class _Asked:
    """One artifact's answer: the version (None: not found by any of its hashes) and the hash it matched."""

    artifact_id: int
    version: dict[str, Any] | None
    matched_hash: str | None
    model: dict[str, Any] | None = None
    images: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (path, image)
    downloaded: set[str] = field(default_factory=set)  # the paths of ``images`` written by this sync
    image_errors: int = 0


def _same_file(record: CivitaiRecord, artifact: Artifact) -> bool:
    """Whether the file still answers to the hash it matched by: a file whose bytes changed since
    (retrained, merged over) is simply not on Civitai, its old page may well still be there."""
    return (record.matched_hash or "").lower() in {h.lower() for h in lookup_hashes(artifact)}


class _Sync:
    def __init__(self, engine: Engine, client: CivitaiClient, options: SyncOptions, report: SyncReport) -> None:
        self.engine, self.client, self.options, self.report = engine, client, options, report
        self.batch = True
        self.models: dict[int, dict[str, Any] | None] = {}
        self.folder = images_folder(engine)

    def ask(self, hashes: list[str]) -> dict[str, dict[str, Any]]:
        """The version each hash matched (hashes nothing matched are left out)."""
        if self.batch:
            try:
                versions = self.client.versions_by_hashes(hashes)
            except BatchUnsupported:
                self.batch = False
            else:
                wanted = {h.lower(): h for h in hashes}
                found: dict[str, dict[str, Any]] = {}
                for version in versions:
                    for h in version_hashes(version) & wanted.keys():
                        found.setdefault(wanted[h], version)
                return found
        answers = {h: self.client.version_by_hash(h) for h in hashes}
        return {h: v for h, v in answers.items() if v is not None}

    def fetch(self, asked: _Asked, known_urls: set[str]) -> None:
        """The network part of recording a match: the model's page and the example images."""
        version = asked.version
        assert version is not None
        model_id = version.get("modelId")
        if self.options.models and isinstance(model_id, int) and not isinstance(model_id, bool):
            if model_id not in self.models:
                self.models[model_id] = self.client.model(model_id)
            asked.model = self.models[model_id]
        wanted = example_images(version, count=self.options.images, max_nsfw=self.options.max_nsfw)
        for image in wanted:
            url = image["url"]
            target = self.folder / str(version.get("id")) / _file_name(image)
            if url in known_urls and target.is_file():
                continue
            if not target.is_file():
                data = self.client.image(url)
                if data is None or not _is_image(data):
                    asked.image_errors += 1
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(target) as tmp:
                    tmp.write_bytes(data)
                asked.downloaded.add(str(target))
            asked.images.append((str(target), image))

    def record(self, answers: list[_Asked]) -> None:
        """Write one batch's answers in one transaction."""
        now = utcnow()
        with open_session(self.engine) as session:
            ids = [a.artifact_id for a in answers]
            records = {
                r.artifact_id: r
                for r in session.exec(select(CivitaiRecord).where(col(CivitaiRecord.artifact_id).in_(ids)))
            }
            for asked in answers:
                artifact = session.get(Artifact, asked.artifact_id)
                if artifact is None:  # forgotten while the batch was asked
                    continue
                record = records.get(asked.artifact_id)
                item = SyncItem(asked.artifact_id, artifact.name, "not-found", image_errors=asked.image_errors)
                if asked.version is not None:
                    record = record or CivitaiRecord(artifact_id=asked.artifact_id, state="matched")
                    apply_version(record, asked.version, asked.matched_hash or "")
                    if asked.model is not None:
                        apply_model(record, asked.model)
                    record.first_matched_at = record.first_matched_at or now
                    _take_words(artifact, record.trained_words)
                    session.add(record)
                    session.flush()
                    decide_line(session, artifact)
                    item.images = self._previews(session, artifact, asked)
                elif record is not None and record.state in ("matched", "deleted") and _same_file(record, artifact):
                    record.state = "deleted"
                    record.deleted_at = record.deleted_at or now
                else:
                    record = record or CivitaiRecord(artifact_id=asked.artifact_id, state="not-found")
                    record.state = "not-found"
                if record.state != "deleted":  # a page gone keeps the site it was on
                    record.site = self.client.host
                record.last_checked = now
                session.add(record)
                item.state = record.state
                item.model, item.version, item.base_model = record.model_name, record.version_name, record.base_model
                self.report.items.append(item)
                self.report.images += item.images
            session.commit()

    def _previews(self, session: Session, artifact: Artifact, asked: _Asked) -> int:
        """Record the images not yet previews of ``artifact``; the count of images this sync gave
        it: those new, and those written again where their file had been deleted."""
        assert artifact.id is not None
        known = set(
            session.exec(
                select(Preview.path).where(col(Preview.artifact_id) == artifact.id, col(Preview.source) == "civitai")
            )
        )
        added = 0
        for path, image in asked.images:
            if path in known:
                added += path in asked.downloaded
                continue
            session.add(image_preview(artifact.id, path, image, base=None))
            added += 1
        return added


def _take_words(artifact: Artifact, words: list[str]) -> None:
    """Civitai's trained words lead the suggested trigger words and fill an empty activation text
    (one the user set is theirs, never replaced)."""
    lead_with(artifact, words)
    if words and not artifact.activation_text:
        artifact.activation_text = ", ".join(words)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _is_image(data: bytes) -> bool:
    """Whether ``data`` decodes as an image: a host's error page or a cut-off download sent with
    status 200 must not become a preview that no viewer can show."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return True


def _file_name(image: dict[str, Any]) -> str:
    """A safe file name for an example image: its id (else the URL's last part) with its suffix."""
    last = os.path.basename(urlsplit(image["url"]).path) or "image"
    suffix = os.path.splitext(last)[1].lower()
    suffix = suffix if suffix in (".png", ".jpg", ".jpeg", ".webp") else ".jpeg"
    image_id = image.get("id")
    stem = str(image_id) if isinstance(image_id, int) else _UNSAFE.sub("_", os.path.splitext(last)[0])[:80]
    return f"{stem or 'image'}{suffix}"


def sync(
    engine: Engine,
    refs: Sequence[str] | None,
    *,
    client: CivitaiClient,
    options: SyncOptions = SyncOptions(),
    progress: Progress | None = None,
) -> SyncReport:
    """Look catalogued artifacts up on Civitai and record what it says.

    Args:
        engine: the catalog.
        refs: artifacts to look up; None or empty for every artifact with a sha256.
        client: the Civitai client (its host, key, budget and backoff).
        options: what to ask and keep.
        progress: called once per artifact recorded.

    Returns:
        The report (items in the order they were recorded).

    Raises:
        RefNotFoundError, AmbiguousRefError: a reference names no single artifact (nothing is asked).
        CivitaiError: the site could not be asked further (unreachable, a timeout, gave up on
            429/5xx, the request budget spent, a malformed answer): one line that says how many
            were looked up and kept before it.
    """
    report = SyncReport(host=client.name)
    with open_session(engine) as session:
        targets = _targets(session, refs)
        checked = set(session.exec(select(CivitaiRecord.artifact_id)))
        queue = [
            (a.id, hashes)
            for a in targets
            if a.id is not None and (options.refresh or a.id not in checked) and (hashes := lookup_hashes(a))
        ]
    report.skipped = len(targets) - len(queue)
    total = len(queue)
    run = _Sync(engine, client, options, report)
    try:
        while queue:
            later: list[tuple[int, list[str]]] = []
            for start in range(0, len(queue), BATCH):
                chunk = queue[start : start + BATCH]
                found = run.ask(list(dict.fromkeys(hashes[0] for _, hashes in chunk)))  # copies asked once
                answers = []
                for artifact_id, hashes in chunk:
                    version = found.get(hashes[0])
                    if version is None and len(hashes) > 1:
                        later.append((artifact_id, hashes[1:]))  # asked again by its next hash
                    else:
                        answers.append(_Asked(artifact_id, version, hashes[0] if version else None))
                with open_session(engine) as session:
                    urls = _known_urls(session, [a.artifact_id for a in answers])
                for asked in answers:
                    if asked.version is not None:
                        run.fetch(asked, urls.get(asked.artifact_id, set()))
                run.record(answers)
                if progress is not None:
                    progress(
                        ProgressEvent(
                            "civitai", len(report.items), total, report.items[-1].name if report.items else None
                        )
                    )
            queue = later
    except CivitaiError as exc:
        if not report.items:
            raise
        done = len(report.items)
        raise type(exc)(f"{exc}; {done} of {total} looked up before it and kept (sync again to go on)") from exc
    finally:
        report.requests = client.requests_made
    return report


def _known_urls(session: Session, artifact_ids: list[int]) -> dict[int, set[str]]:
    rows = session.exec(
        select(Preview.artifact_id, Preview.url).where(
            col(Preview.artifact_id).in_(artifact_ids), col(Preview.source) == "civitai"
        )
    )
    known: dict[int, set[str]] = {}
    for artifact_id, url in rows:
        if url:
            known.setdefault(artifact_id, set()).add(url)
    return known


def updates(
    engine: Engine,
    refs: Sequence[str] | None,
    *,
    client: CivitaiClient,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> list[UpdateItem]:
    """Newer versions of the models of matched artifacts, asking each model's page once.

    Civitai lists a model's versions newest first: those before the catalogued one are newer.
    The versions are kept on the record; a model gone upstream is said so (and its records are
    not changed: a version may outlive its listing).

    Raises:
        CivitaiError: as :func:`sync`.
    """
    with open_session(engine) as session:
        ids = [a.id for a in _targets(session, refs)]
        rows = session.exec(
            select(CivitaiRecord, Artifact.name)
            .join(Artifact, col(Artifact.id) == col(CivitaiRecord.artifact_id))
            .where(col(CivitaiRecord.artifact_id).in_(ids), col(CivitaiRecord.state) == "matched")
            .order_by(col(Artifact.name))
        ).all()
    model_ids = sorted({r.model_id for r, _ in rows if r.model_id is not None})
    models: dict[int, dict[str, Any] | None] = {}
    for done, model_id in enumerate(model_ids, 1):
        models[model_id] = client.model(model_id)
        if progress is not None:
            progress(ProgressEvent("updates", done, len(model_ids)))
    items = []
    with open_session(engine) as session:
        for record, name in rows:
            model = models.get(record.model_id) if record.model_id is not None else None
            if model is not None:
                record.last_checked = utcnow()
                apply_model(record, model)
                session.add(record)
            versions = record.model_versions or []
            listed = [v["id"] for v in versions]
            if record.version_id in listed:
                newer = versions[: listed.index(record.version_id)]
            else:  # our version is no longer listed: those published after it
                ours = record.published_at.isoformat() if record.published_at else ""
                newer = [v for v in versions if (v.get("published_at") or "") > ours]
            items.append(
                UpdateItem(
                    record.artifact_id,
                    name,
                    record.model_name,
                    record.version_name,
                    newer,
                    model_gone=record.model_id is not None and model is None,
                )
            )
        session.commit()
    return items
