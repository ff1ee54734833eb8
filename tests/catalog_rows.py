"""Catalog rows written straight through the ORM and the scanner's own record functions,
so query tests do not depend on the scanner's file walking."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from loradex.adapters import ArtifactInfo
from loradex.registry.models import Artifact, Module
from loradex.registry.records import apply_probe, layer_set_for


def add_artifact(session, name: str, *, kind: str = "lora", format: str = "kohya", base: str = "sd1",
                 layers: Mapping[str, str] | None = None, modules: list[dict] | None = None,
                 sha256: str | None = None, path: str | None = None, **fields) -> Artifact:
    """An artifact row with its layer set and module rows (``rank``/``status``/… via fields)."""
    sha256 = sha256 or hashlib.sha256(name.encode()).hexdigest()
    fields.setdefault("search_text", name.lower())
    layer_set = layer_set_for(session, layers) if layers else None
    artifact = Artifact(name=name, kind=kind, format=format, base=base, sha256=sha256, autov2=sha256[:10],
                        path=path or f"/catalog-test/{name}.safetensors",
                        layer_set_id=layer_set.id if layer_set else None, **fields)
    session.add(artifact)
    session.flush()
    for m in modules or []:
        session.add(Module(artifact_id=artifact.id, **m))
    session.commit()
    return artifact


def add_probed(session, info: ArtifactInfo, name: str) -> Artifact:
    """The row a scan writes for a probed file (hashes aside)."""
    sha256 = hashlib.sha256(str(info.path).encode()).hexdigest()
    artifact = Artifact(name=name, path=str(info.path), kind=info.kind, format=info.format, base=info.base,
                        sha256=sha256, autov2=sha256[:10])
    apply_probe(session, artifact, info)
    session.commit()
    return artifact
