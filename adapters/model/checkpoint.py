"""Where each canonical layer lives in a checkpoint (single file or diffusers folder).

Shared by bake (which patches those tensors), extract (which diffs them) and mix (which
needs a DoRA's base weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from loradex.adapters.io.reader import SafetensorsFile
from loradex.adapters.io.sources import WeightSource
from loradex.adapters.io.weights import open_weights

from .artifact import ArtifactInfo
from .layermap import layer_map, rows_shape
from .single_file_names import Segments, row_pieces


@dataclass
class Location:
    """Where one canonical layer's weight lives in a checkpoint."""

    file: Path  # the weights file holding the tensor (a shard of a folder, or the single file)
    key: str
    shape: tuple[int, ...]
    #: The layer's rows of a fused or reordered stored weight (:attr:`..layermap.Layer.ldm_rows`).
    rows: Segments = ()
    transposed: bool = False


def layer_locations(base: Path, info: ArtifactInfo) -> dict[str, Location]:
    """Canonical layer → where its weight lives in the base."""
    lm = layer_map(info.base, info.base_size)
    targets: dict[str, Location] = {}
    if base.is_dir():
        for f in sorted(base.rglob("*.safetensors")):
            prefix = ".".join(f.relative_to(base).parent.parts)
            with SafetensorsFile(f) as sf:
                for key, t in sf.tensors.items():
                    if key.endswith(".weight") and (name := lm.resolve(f"{prefix}.{key[:-7]}" if prefix else key[:-7])):
                        targets[name] = Location(f, key, t.shape)
        return targets
    with open_weights(base) as src:  # a .safetensors or a pickled .ckpt single file
        for key, layers in lm.single_file_layers(set(src.keys())).items():
            for layer in layers:
                targets[layer.name] = Location(base, key, src.shape(key), layer.ldm_rows, layer.ldm_transposed)
    return targets


def delta_shape(t: Location) -> tuple[int, ...]:
    """Shape of the layer's weight as a delta sees it (its rows of a fused weight, untransposed)."""
    return tuple(reversed(t.shape)) if t.transposed else rows_shape(t.rows, t.shape)


def take_rows(weight: torch.Tensor, rows: Segments) -> torch.Tensor:
    """The ``rows`` of ``weight`` in their order: a view for one segment, a copy for a reordering."""
    if not rows:
        return weight
    if len(rows) == 1:
        return weight[rows[0][0] : rows[0][1]]
    return torch.cat([weight[a:b] for a, b in rows])


def put_rows(weight: torch.Tensor, rows: Segments, part: torch.Tensor) -> None:
    """Write ``part`` back over the ``rows`` of ``weight`` it was taken from (:func:`take_rows`)."""
    for stored, piece in row_pieces(rows):
        weight[stored] = part[piece]


def layer_view(weight: torch.Tensor, loc: Location) -> torch.Tensor:
    """The layer's part of a stored tensor (its rows of a fused weight, or transposed)."""
    return weight.T if loc.transposed else take_rows(weight, loc.rows)


class LayerWeights:
    """A checkpoint's weights by canonical layer, read when asked (float32, in the layer's
    orientation), each weights file opened once. Use as a context manager."""

    def __init__(self, path: Path, info: ArtifactInfo) -> None:
        self.path = path
        self.locations = layer_locations(path, info)
        self._sources: dict[Path, WeightSource] = {}

    def weight(self, name: str) -> torch.Tensor | None:
        """The weight of canonical layer ``name``, or None when the checkpoint has no such layer."""
        loc = self.locations.get(name)
        if loc is None:
            return None
        if loc.file not in self._sources:
            self._sources[loc.file] = open_weights(loc.file)
        return layer_view(self._sources[loc.file].get(loc.key).float(), loc)

    def close(self) -> None:
        for src in self._sources.values():
            src.close()

    def __enter__(self) -> LayerWeights:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
