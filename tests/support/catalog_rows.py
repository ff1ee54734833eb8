"""Catalog rows written straight through the ORM and the scanner's own record functions,
so query tests do not depend on the scanner's file walking."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlalchemy import func, insert, select

from loradex.adapters import ArtifactInfo
from loradex.registry.services.records import apply_probe, layer_set_for
from loradex.registry.store.models import Artifact, ArtifactTag, Module, Tag


def add_artifact(
    session,
    name: str,
    *,
    kind: str = "lora",
    format: str = "kohya",
    base: str = "sd1",
    layers: Mapping[str, str] | None = None,
    modules: list[dict] | None = None,
    sha256: str | None = None,
    path: str | None = None,
    **fields,
) -> Artifact:
    """An artifact row with its layer set and module rows (``rank``/``status``/… via fields)."""
    sha256 = sha256 or hashlib.sha256(name.encode()).hexdigest()
    fields.setdefault("search_text", name.lower())
    layer_set = layer_set_for(session, layers) if layers else None
    artifact = Artifact(
        name=name,
        kind=kind,
        format=format,
        base=base,
        sha256=sha256,
        autov2=sha256[:10],
        path=path or f"/catalog-test/{name}.safetensors",
        layer_set_id=layer_set.id if layer_set else None,
        **fields,
    )
    session.add(artifact)
    session.flush()
    for m in modules or []:
        session.add(Module(artifact_id=artifact.id, **m))
    session.commit()
    return artifact


def add_probed(session, info: ArtifactInfo, name: str) -> Artifact:
    """The row a scan writes for a probed file (hashes aside)."""
    sha256 = hashlib.sha256(str(info.path).encode()).hexdigest()
    artifact = Artifact(
        name=name,
        path=str(info.path),
        kind=info.kind,
        format=info.format,
        base=info.base,
        sha256=sha256,
        autov2=sha256[:10],
    )
    apply_probe(session, artifact, info)
    session.commit()
    return artifact


def add_many(engine, n: int, *, tag: str = "many", every: int = 7) -> list[int]:
    """``n`` LoRA rows (names ``lora-00001`` …, training metadata included) by one bulk INSERT;
    every ``every``-th is tagged ``tag``. Returns the ids, in name order."""
    with engine.begin() as conn:
        first = (conn.execute(select(func.max(Artifact.id))).scalar() or 0) + 1
        ids = list(range(first, first + n))
        conn.execute(
            insert(Artifact),
            [
                dict(
                    id=i,
                    name=f"lora-{i:05d}",
                    path=f"/catalog-test/many/lora-{i:05d}.safetensors",
                    kind="lora",
                    format="kohya",
                    base="sd1",
                    sha256=f"{i:064x}",
                    rank_min=8,
                    rank_max=8,
                    ranks=[8],
                    training_metadata={"ss_output_name": f"lora-{i:05d}", "ss_tag_frequency": "x" * 1000},
                    sources=[],
                    search_text=f"lora-{i:05d}",
                )
                for i in ids
            ],
        )
        tag_id = conn.execute(insert(Tag).values(name=tag)).inserted_primary_key[0]
        conn.execute(insert(ArtifactTag), [{"artifact_id": i, "tag_id": tag_id} for i in ids[::every]])
    return ids
