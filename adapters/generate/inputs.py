"""The adapter files a workbench loads onto its base, kept across renders: probed and checked
against the base, hashed once for the records, ControlNets and embeddings loaded once."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradex.adapters.errors import UnsupportedError

from .base import LoadedBase, Placement
from .control import load_controlnet
from .embeddings import LoadedEmbedding, load_embedding, unload_embedding
from .loras import LoraSet
from .preflight import check_adapter
from .records import FileRef


@dataclass
class RenderInputs:
    """The adapters of one render as loaded: each with its weight at scale 1 and its record's reference."""

    loras: list[tuple[Any, float, FileRef]] = field(default_factory=list)
    embeddings: list[tuple[Path, float, FileRef]] = field(default_factory=list)
    controlnet: tuple[Any, float, FileRef] | None = None
    #: Each adapter's first trigger word, in order (the prompt when none is given).
    triggers: list[str] = field(default_factory=list)


class AdapterFiles:
    """The files loaded onto one base, by path: their references, ControlNets and embeddings."""

    def __init__(self, base: LoadedBase, placement: Placement, loras: LoraSet) -> None:
        self.base = base
        self.placement = placement
        self.loras = loras
        self.embeddings: dict[str, LoadedEmbedding] = {}
        self.controlnets: dict[Path, Any] = {}
        self.refs: dict[Path, FileRef] = {}

    def ref(self, path: Path, kind: str) -> FileRef:
        from loradex.adapters.io.hashing import cached_sha256, hash_file

        path = Path(os.path.abspath(path))
        if path not in self.refs:
            if kind == "checkpoint" and not path.is_dir():  # a multi-GB base: its sha256 is remembered
                sha = cached_sha256(path)
                short = sha[:10]  # A1111's "Model hash" (AutoV2)
            else:  # A1111's "Lora hashes" use the tensor-bytes hash
                h = hash_file(path)
                sha, short = h.sha256, (h.tensor_hash or h.sha256)[:12]
            self.refs[path] = FileRef(str(path), sha, kind, short_hash=short)
        return self.refs[path]

    def load(self, adapters: Sequence[tuple[str | Path, float]], control_config: str | Path | None) -> RenderInputs:
        from loradex.adapters.model.probe import probe

        inputs = RenderInputs()
        seen: set[Path] = set()
        for given, weight in adapters:
            path = Path(os.path.abspath(Path(given).expanduser()))
            if path in seen:
                raise UnsupportedError(
                    "given twice (on the command line and in a <lora:…> tag?); give it once", path=path
                )
            seen.add(path)
            if not math.isfinite(weight):
                raise UnsupportedError(f"weight {weight} is not a finite number", path=path)
            info = probe(path)
            # Checked now, not when first loaded: a grid starting at scale 0 would render and
            # save the base-alone images before an adapter for another base was refused.
            check_adapter(path, info, self.base.family)
            inputs.triggers += info.trigger_words[:1]
            if info.kind in ("lora", "lycoris"):
                lora = self.loras.load(path, info)
                inputs.loras.append((lora, weight, self.ref(path, info.kind)))
            elif info.kind == "textual_inversion":
                inputs.embeddings.append((path, weight, self.ref(path, info.kind)))
            elif info.kind == "controlnet":
                if inputs.controlnet is not None:
                    raise UnsupportedError("one ControlNet per render", path=path)
                if path not in self.controlnets:
                    self.controlnets[path] = load_controlnet(
                        path, self.base.family, self.placement, config=control_config
                    )
                inputs.controlnet = (self.controlnets[path], weight, self.ref(path, info.kind))
        return inputs

    def sync_embeddings(self, active: list[tuple[Path, FileRef]]) -> list[FileRef]:
        """Load exactly the ``active`` embeddings (an embedding's weight only switches it on or
        off); returns them with their tokens, for the record."""
        keep = {path for path, _ in active}
        for token, loaded in list(self.embeddings.items()):
            if loaded.path not in keep:
                unload_embedding(self.base.pipe, self.embeddings.pop(token))
        refs = []
        for path, ref in active:
            if not any(e.path == path for e in self.embeddings.values()):
                load_embedding(self.base.pipe, self.base.family, path, known=self.embeddings)
            token = next(e.token for e in self.embeddings.values() if e.path == path)
            refs.append(FileRef(ref.path, ref.sha256, ref.kind, short_hash=ref.short_hash, token=token))
        return refs
