"""Publishing a catalogued adapter to the Hugging Face Hub: weights as safetensors, a model card,
the previews, the recipe of a derived file — staged locally, then sent as one commit.

Everything is staged before any request, so ``dry_run`` sends nothing at all, and a card that
fails its own front-matter check stops the run before the first byte leaves. Publishing
content that is already on the Hub compares the staged files with the repo's (git blob ids
for small files, LFS sha256 for large ones) and makes no commit.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from loradex.adapters.errors import LoradexError, UnsupportedError
from loradex.adapters.io.hashing import sha256_file
from loradex.registry.queries import orm
from loradex.registry.queries.views import shows_only
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Preview, Publication

from .cards import CardFacts, CardInput, base_model, render_card
from .client import HubError, api, hub_errors, token_of
from .licenses import check_license

__all__ = ["PublishPlan", "Publication", "PublishResult", "plan_publication", "publish"]

PUBLISHABLE = ("lora", "lycoris", "textual_inversion", "controlnet")
#: Preview images sent with a card, at most (the Hub's gallery shows a handful).
MAX_PREVIEWS = 6


@dataclass
class StagedFile:
    """One file of the commit: where it is in the repo and where its bytes are now."""

    path_in_repo: str
    local: Path

    @property
    def size(self) -> int:
        return self.local.stat().st_size

    @cached_property
    def sha256(self) -> str:
        """The sha256 of the bytes sent (the card's hashes and the Hub's LFS ids are of these)."""
        return sha256_file(self.local)


@dataclass
class PublishPlan:
    """What a publication would send: the card and the files (staged in ``folder``)."""

    repo: str
    artifact: Artifact
    card: str
    files: list[StagedFile]
    private: bool = False


@dataclass
class PublishResult:
    """What :func:`publish` did.

    Attributes:
        changed: a commit was made (False: the repo already held exactly these files).
        commit: the repo's head commit afterwards (None for a dry run).
        url: the repo's page.
    """

    repo: str
    artifact_id: int
    artifact_name: str
    files: list[dict[str, Any]]
    card: str
    dry_run: bool = False
    changed: bool = False
    commit: str | None = None
    url: str | None = None
    previews: int = 0
    timings: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Staging


def _stage_weights(artifact: Artifact, folder: Path) -> list[StagedFile]:
    """The artifact's weights as safetensors: a safetensors file as it is (byte for byte), a
    pickle converted (read with weights_only=True; never uploaded as a pickle)."""
    path = Path(artifact.path)
    if path.is_dir():
        return [
            f
            for sub in sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors", ".bin", ".pt")
            )
            for f in _stage_file(sub, sub.relative_to(path).as_posix(), artifact, folder)
        ]
    return _stage_file(path, path.name, artifact, folder)


def _stage_file(path: Path, name: str, artifact: Artifact, folder: Path) -> list[StagedFile]:
    if path.suffix == ".json" or path.suffix == ".safetensors":
        return [StagedFile(name, path)]
    from loradex.adapters.io.weights import open_weights
    from loradex.adapters.io.writer import save_tensors

    with open_weights(path) as src:
        tensors = {key: src.get(key).contiguous() for key in src.keys()}
    if artifact.kind == "textual_inversion" and artifact.format == "a1111_embedding":
        # diffusers' load_textual_inversion reads a safetensors embedding from its emb_params key.
        key = next((k for k in tensors if k.startswith("string_to_param.") or k == "emb_params"), None)
        if key is None:
            raise UnsupportedError("no embedding vectors found to convert", path=path)
        tensors = {"emb_params": tensors[key]}
    target = folder / Path(name).with_suffix(".safetensors")
    target.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(target, tensors)
    return [StagedFile(Path(name).with_suffix(".safetensors").as_posix(), target)]


def _previews(session: Any, artifact: Artifact) -> list[Preview]:
    """The gallery: images of this adapter alone on a base of the card's family (not a scale-0
    image, which is the base alone; not one made with other adapters too, which shows them as
    much as this one; not an image whose making is not recorded)."""
    family = artifact.base_override or artifact.base
    assert artifact.id is not None  # the artifact is a row read from the catalog
    rows = session.exec(select(Preview).where(col(Preview.artifact_id) == artifact.id).order_by(col(Preview.id))).all()
    return [p for p in rows if shows_only(p, artifact.id, family) and Path(p.path).is_file()][:MAX_PREVIEWS]


def _recipe_of(artifact: Artifact, folder: Path) -> tuple[Any, StagedFile | None]:
    from loradex.adapters.ops.recipe_sources import read_recipe

    try:
        recipe = read_recipe(artifact.path)
    except (LoradexError, OSError):
        return None, None
    # Inputs by file name: the local folders they came from are nobody's business on the Hub.
    recipe.inputs = [i.model_copy(update={"ref": Path(i.ref).name}) for i in recipe.inputs]
    target = folder / "recipe.toml"
    target.write_text(recipe.to_toml(), encoding="utf-8")
    return recipe, StagedFile("recipe.toml", target)


def plan_publication(
    engine: Engine, ref: str, repo: str, folder: Path, *, private: bool = False, license: str | None = None
) -> PublishPlan:
    """Stage everything a publication of ``ref`` to ``repo`` sends, in ``folder``; no request is made.

    Raises:
        RefNotFoundError: no such artifact. LicenseError: not a Hub license id. UnsupportedError: a
        kind that is not published, or an invalid card (front matter).
    """
    if license is not None:
        check_license(license)  # before the weights are staged: a typo is answered at once
    with open_session(engine) as session:
        artifact = orm.resolve(session, ref)
        if artifact.kind not in PUBLISHABLE:
            raise UnsupportedError(
                f"publish sends LoRA, LyCORIS, textual-inversion and ControlNet artifacts; "
                f"{artifact.name} is {artifact.kind}",
                path=artifact.path,
            )
        if artifact.status != "ok" or not Path(artifact.path).exists():
            raise UnsupportedError(f"{artifact.name} is {artifact.status}: rescan it first", path=artifact.path)
        previews = _previews(session, artifact)
        session.expunge(artifact)
    files = _stage_weights(artifact, folder)
    recipe, recipe_file = _recipe_of(artifact, folder)
    images = [StagedFile(f"images/{i:02d}-{Path(p.path).name}", Path(p.path)) for i, p in enumerate(previews)]
    weights = next((f for f in files if f.path_in_repo.endswith(".safetensors")), files[0])
    facts = CardFacts(
        repo=repo,
        name=artifact.name,
        kind=artifact.kind,
        family=artifact.base_override or artifact.base,
        size=artifact.base_size or "",
        # The staged file's own hashes, not the catalog's: a converted pickle or a folder's
        # weights file has other bytes than the artifact the catalog hashed.
        weights_file=weights.path_in_repo,
        sha256=weights.sha256,
        autov2=weights.sha256[:10],
        base_model=base_model(
            artifact.base_override or artifact.base,
            artifact.base_claims or {},
            artifact.training_metadata or {},
            artifact.base_size or "",
        ),
        trigger_words=list(artifact.trigger_words or []),
        license=license,
        training={k: v for k, v in (artifact.training_metadata or {}).items() if k.startswith("ss_")},
        previews=[
            (img.path_in_repo, p.prompt or (artifact.trigger_words or [artifact.name])[0])
            for img, p in zip(images, previews, strict=True)
        ],
        algorithms=list(artifact.algorithms or []),
        ranks=list(artifact.ranks or []),
    )
    if recipe is not None:
        facts.recipe_op, facts.recipe_params = recipe.op, dict(recipe.params)
        facts.recipe_inputs = [CardInput(i.ref, i.sha256, i.weight, i.role) for i in recipe.inputs]
        facts.recipe_file = recipe_file.path_in_repo if recipe_file else None
    card = render_card(facts)
    readme = folder / "README.md"
    readme.write_text(card, encoding="utf-8")
    staged = [StagedFile("README.md", readme), *files, *([recipe_file] if recipe_file else []), *images]
    return PublishPlan(repo, artifact, card, staged, private)


# ---------------------------------------------------------------------------------------
# Sending


def _git_blob_id(path: Path) -> str:
    h = hashlib.sha1()
    h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unchanged(info: Any, files: list[StagedFile]) -> bool:
    """Whether the repo at ``info`` (model_info with files_metadata) holds exactly these bytes."""
    remote = {s.rfilename: s for s in (info.siblings or [])}
    for f in files:
        sibling = remote.get(f.path_in_repo)
        if sibling is None or sibling.size != f.size:
            return False
        lfs = getattr(sibling, "lfs", None)
        if lfs is not None:
            if getattr(lfs, "sha256", None) != f.sha256:
                return False
        elif getattr(sibling, "blob_id", None) != _git_blob_id(f.local):
            return False
    return True


def publish(
    engine: Engine,
    ref: str,
    repo: str,
    *,
    private: bool = False,
    license: str | None = None,
    dry_run: bool = False,
    endpoint: str | None = None,
    token: str | None = None,
) -> PublishResult:
    """Publish ``ref`` to ``repo`` in one commit and record it (``publication`` rows, ``loradex show``).

    The token comes from huggingface_hub's own resolution (``HF_TOKEN``, the login cache)
    unless given; it is never written anywhere. ``dry_run`` stages and returns the card and
    file list without one request.

    Raises:
        HubError: one line naming the repo and the cause (no token, no write access, network
            down, not found, rate limit, the card refused); nothing is recorded then.
    """
    with _staging() as folder:
        plan = plan_publication(engine, ref, repo, folder, private=private, license=license)
        result = PublishResult(
            repo,
            plan.artifact.id or 0,
            plan.artifact.name,
            [{"path_in_repo": f.path_in_repo, "size": f.size} for f in plan.files],
            plan.card,
            dry_run=dry_run,
            previews=sum(f.path_in_repo.startswith("images/") for f in plan.files),
        )
        if dry_run:
            return result
        client = api(endpoint, token)
        where = client.endpoint
        secret = token_of(client)
        with hub_errors(repo, token=secret, endpoint=where):
            if not secret:
                raise HubError(f"{repo}: no Hugging Face token; set HF_TOKEN or run `hf auth login`")
            info = _existing(client, repo)
            if info is None:
                # Not create_repo(exist_ok=True): on another user's repo it fails with a URL error
                # (huggingface_hub 2.4) instead of the 403 that says what is wrong.
                client.create_repo(repo, private=private, repo_type="model")
                info = client.model_info(repo, files_metadata=True)
            if info.sha and _unchanged(info, plan.files):
                result.commit = info.sha
            else:
                commit = client.create_commit(
                    repo,
                    operations=_operations(plan.files),
                    repo_type="model",
                    commit_message=f"loradex publish {plan.artifact.name}",
                )
                result.commit, result.changed = commit.oid, True
        result.url = f"{where.rstrip('/')}/{repo}"
    _record(engine, result)
    return result


def _existing(client: Any, repo: str) -> Any | None:
    """The repo's model_info with file metadata, or None when there is no such repo."""
    from huggingface_hub import errors

    try:
        return client.model_info(repo, files_metadata=True)
    except errors.RepositoryNotFoundError as exc:
        if getattr(exc.response, "status_code", None) == 401 and not client.token:
            raise
        return None


def _operations(files: list[StagedFile]) -> list[Any]:
    from huggingface_hub import CommitOperationAdd

    return [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.local)) for f in files]


@contextmanager
def _staging() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loradex-publish-") as tmp:
        yield Path(tmp)


def _record(engine: Engine, result: PublishResult) -> None:
    with open_session(engine) as session:
        known = session.exec(
            select(Publication).where(
                col(Publication.artifact_id) == result.artifact_id,
                col(Publication.repo) == result.repo,
                col(Publication.commit) == result.commit,
            )
        ).first()
        if known is None:
            session.add(
                Publication(artifact_id=result.artifact_id, repo=result.repo, commit=result.commit, url=result.url)
            )
            session.commit()
