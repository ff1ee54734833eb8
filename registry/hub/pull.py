"""Pulling adapters from the Hugging Face Hub into the catalog, with their provenance.

Files come through huggingface_hub's cache (``hf_hub_download`` at the resolved commit, so a
second pull of the same commit finds them there and transfers nothing), each LFS file is checked
against the sha256 the Hub lists, and each is recorded with source ``hub:OWNER/NAME@COMMIT``
and what the repo's card says (trigger words, base) where the file itself says nothing. A file
whose sha256 the catalog already holds gains the provenance instead of a second row; a row keeps
every provenance it was given (``Artifact.sources``). The card is read before anything is
recorded, so a card that cannot be used records nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.io.hashing import FileHashes, hash_file
from loradex.adapters.model.architectures import FAMILY_SIZES
from loradex.registry.services.records import search_text
from loradex.registry.services.scan import scan
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact

from .cards import front_matter
from .client import HubError, api, hub_errors, token_of

__all__ = ["PullResult", "PulledFile", "pull"]

_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
#: Files that make a repo one folder artifact (a PEFT adapter, a diffusers ControlNet).
_FOLDER_CONFIGS = ("adapter_config.json", "config.json")
#: A README.md bigger than this is no model card (a card is a page of Markdown).
MAX_CARD_BYTES = 1_000_000


@dataclass
class PulledFile:
    """One artifact a pull recorded: ``status`` is ``new`` (a new row), ``known`` (its row was there
    already) or ``provenance`` (a catalogued copy with that sha256 gained the Hub source)."""

    path_in_repo: str
    path: str
    sha256: str
    artifact_id: int
    status: str


@dataclass
class PullResult:
    repo: str
    commit: str
    source: str
    files: list[PulledFile] = field(default_factory=list)


def _family(model_id: str) -> str | None:
    for family, sizes in FAMILY_SIZES.items():
        if any(model_id == size.hub_model for size in sizes):
            return family
    text = model_id.lower()
    for family, marks in (
        ("sdxl", ("xl",)),
        ("sd3", ("stable-diffusion-3",)),
        # FLUX.2 before FLUX.1: a base named "flux.2-…"/"flux2-…" is not Flux.1 because it says "flux".
        ("flux2", ("flux.2", "flux2", "flux-2")),
        ("flux", ("flux",)),
        ("sd2", ("stable-diffusion-2",)),
        ("sd1", ("v1-5", "v1-4", "1.5", "-1-5")),
    ):
        if any(m in text for m in marks):
            return family
    return None


@dataclass(frozen=True)
class CardFacts:
    """What a pull takes from the repo's card: the author's trigger phrase and base model."""

    prompt: str | None = None
    base: str | None = None


def _card_facts(repo: str, card: Any) -> CardFacts:
    """The card's facts, checked before anything is recorded.

    Raises:
        HubError: ``instance_prompt`` is not text (a list, a mapping, a number).
    """
    data = getattr(card, "data", None)
    if data is None:
        return CardFacts()
    prompt = getattr(data, "instance_prompt", None)
    if prompt is not None and not isinstance(prompt, str):
        raise HubError(f"{repo}: the card's instance_prompt is {type(prompt).__name__}, not text; nothing was recorded")
    base = getattr(data, "base_model", None)
    # A list of bases names no single one: the card says nothing usable about the base then.
    return CardFacts(prompt or None, base if isinstance(base, str) else None)


def add_source(row: Artifact, source: str) -> None:
    """Give ``row`` the provenance ``source``, keeping every earlier one: ``source`` stays the
    first provenance (a scanned file's "local" gives way to it), ``sources`` lists them all."""
    if source not in (row.sources or []):
        row.sources = [*(row.sources or []), source]  # a new list: the JSON column sees the change
    if row.source == "local":
        row.source = source


def _wanted(siblings: dict[str, Any], files: list[str] | None) -> tuple[list[str], bool]:
    """The files to fetch, and whether they make one folder artifact."""
    if files:
        return files, False
    names = sorted(siblings)
    weights = [n for n in names if n.endswith(_WEIGHTS) and "/" not in n]
    configs = [n for n in names if n in _FOLDER_CONFIGS]
    if configs and weights:
        return configs + weights, True
    return weights, False


def pull(
    engine: Engine,
    repo: str,
    *,
    revision: str | None = None,
    files: list[str] | None = None,
    endpoint: str | None = None,
    token: str | None = None,
) -> PullResult:
    """Download the adapter files of ``repo`` (or ``files``) at ``revision`` and record them.

    Raises:
        HubError: one line naming the repo and the cause; nothing is recorded then.
    """
    from huggingface_hub import hf_hub_download

    client = api(endpoint, token)
    where, secret = client.endpoint, token_of(client)
    local: list[tuple[str, Path, FileHashes]] = []
    card: Any = None
    with hub_errors(repo, token=secret, endpoint=where):
        info = client.model_info(repo, revision=revision, files_metadata=True)
        commit = info.sha
        siblings = {s.rfilename: s for s in info.siblings or []}
        names, folder = _wanted(siblings, files)
        if not names:
            raise HubError(f"{repo}: the repo holds no adapter weights at {commit[:12]} (name the files with --file)")
        for name in names:
            if _outside(name):
                raise HubError(
                    f"{repo}: refused the file name {name!r}: it would be written outside the download folder"
                )
            if name not in siblings:
                raise HubError(f"{repo}: no file {name} at {commit[:12]}")
        for name in names:
            with hub_errors(repo, token=secret, endpoint=where, path=name):
                path = Path(hf_hub_download(repo, name, revision=commit, endpoint=where, token=token))
            lfs = getattr(siblings[name], "lfs", None)
            expected = getattr(lfs, "sha256", None) if lfs is not None else None
            # One read gives the check and every hash the catalog keeps (the scan is handed them).
            hashes = hash_file(path)
            if expected and hashes.sha256 != expected:
                raise HubError(
                    f"{repo}: {name} as downloaded does not have the sha256 the Hub lists ({expected[:12]}…); "
                    "delete it from the Hugging Face cache and pull again"
                )
            local.append((name, path, hashes))
        if "README.md" in siblings:
            card = _card(repo, Path(hf_hub_download(repo, "README.md", revision=commit, endpoint=where, token=token)))
    facts = _card_facts(repo, card)
    source = f"hub:{repo}@{commit}"
    result = PullResult(repo, commit, source)
    if folder:
        root = local[0][1].parent
        result.files.append(_record(engine, names[-1], root, None, source, facts))
    else:
        result.files += [
            _record(engine, name, path, hashes, source, facts)
            for name, path, hashes in local
            if not name.endswith(".json")
        ]
    return result


def _outside(name: str) -> bool:
    """Whether a repo file name would land outside the download folder: absolute, or with ``..``."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]


def _card(repo: str, path: Path) -> Any:
    """The repo's model card, its front matter read safely and within bounds first
    (:func:`.cards.front_matter`): a card that cannot be read fails the pull before anything is recorded."""
    from huggingface_hub import ModelCard

    if path.stat().st_size > MAX_CARD_BYTES:
        raise HubError(f"{repo}: its README.md is over {MAX_CARD_BYTES:,} bytes, too big for a model card")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        front_matter(text)
        return ModelCard(text)
    except (UnsupportedError, ValueError, TypeError) as exc:
        raise HubError(f"{repo}: its model card cannot be read: {exc}") from None


def _record(
    engine: Engine, name: str, path: Path, hashes: FileHashes | None, source: str, card: CardFacts
) -> PulledFile:
    """Record one pulled file (``hashes`` known) or folder (hashed by the scan)."""
    path = Path(os.path.abspath(path))
    sha256 = hashes.sha256 if hashes is not None else None
    with open_session(engine) as session:
        row = session.exec(select(Artifact).where(Artifact.path == str(path))).first()
        copy = (
            None
            if row is not None or sha256 is None
            else session.exec(select(Artifact).where(Artifact.sha256 == sha256, Artifact.status == "ok")).first()
        )
        if copy is not None:
            assert sha256 is not None  # a copy is only looked up by its sha256
            add_source(copy, source)
            session.add(copy)
            session.commit()
            return PulledFile(name, copy.path, sha256, copy.id or 0, "provenance")
    status = "known" if row is not None else "new"
    scan([path], engine=engine, workers=1, hashes={path: hashes} if hashes is not None else None, remember=False)
    with open_session(engine) as session:
        row = session.exec(select(Artifact).where(Artifact.path == str(path))).one()
        add_source(row, source)
        prompt = card.prompt
        # Training tags are suggestions; a card's instance prompt is the author's trigger phrase, so it
        # leads unless the file names one itself.
        if prompt and not (row.training_metadata or {}).get("modelspec.trigger_phrase"):
            row.trigger_words = [prompt, *[w for w in row.trigger_words or [] if w != prompt]]
            row.search_text = search_text(row.name, row.trigger_words, row.training_metadata or {})
        if (base := card.base) is not None:
            row.base_claims = {**(row.base_claims or {}), "hub card base_model": base}
            family = _family(base)
            if family and row.base == "unknown" and not row.base_override:
                row.base_override = family
        session.add(row)
        session.commit()
        return PulledFile(name, row.path, row.sha256 or sha256 or "", row.id or 0, status)
