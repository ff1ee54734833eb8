"""The block labels of a family (what ``--block-weights`` may name), their order, and their groups.

A label is what :func:`.layermap.block_label` gives a layer; a family's labels are those of every
layer in its map, so they are as derived as the map is. Labels sort by their place in the network
(``D2`` before ``D10``, the input blocks before the middle before the output blocks, the text
encoders last), not as text.
"""

from __future__ import annotations

import re

from .architectures import architecture
from .layermap import block_label, layer_map

#: Where each kind of label sits: embedders and input blocks first, the text encoders last.
_PLACE = {"BASE": 0, "IN": 1, "MID": 2, "D": 3, "J": 3, "S": 4, "OUT": 5, "TE": 7, "TE2": 8, "TE3": 9}
_LABEL = re.compile(r"(TE[23]?|[A-Z]+?)\.?(\d+)?")


def block_group(label: str) -> str:
    """The group a label belongs to (``IN04`` → ``IN``, ``TE2.05`` → ``TE2``, ``D10`` → ``D``)."""
    m = _LABEL.fullmatch(label)
    return m[1] if m else label


def block_order(label: str) -> tuple[int, int]:
    """A sort key that puts labels in network order: ``BASE``, the DiT embedders (``IN``), ``IN00``…,
    ``MID``, ``D0``/``J0``…, ``S0``…, ``OUT00``…, the DiT head (``OUT``), ``TE``, ``TE2``, ``TE3``,
    then anything else."""
    m = _LABEL.fullmatch(label)
    if not m or m[1] not in _PLACE:
        return (len(_PLACE) + 1, 0)
    place = _PLACE[m[1]]
    if m[1] == "OUT" and m[2] is None:
        place = 6  # a DiT's head comes after its last block
    return (place, -1 if m[2] is None else int(m[2]))


def family_blocks(family: str, size: str = "") -> list[str]:
    """Every block label of ``family`` at ``size``, in network order."""
    per = architecture(family, size).denoiser.get("layers_per_block", 2)
    labels = {block_label(name, layer.component, per, family) for name, layer in layer_map(family, size).layers.items()}
    return sorted(labels, key=block_order)


def blocks_text(labels: list[str]) -> str:
    """``labels`` (in network order) with runs of one kind written as ranges:
    ``BASE, IN00–IN11, MID, OUT00–OUT11, TE.00–TE.11``."""
    runs: list[list[str]] = []
    for label in labels:
        last = runs[-1][-1] if runs else ""
        if block_group(last) == block_group(label) and last != block_group(last) and label != block_group(label):
            runs[-1].append(label)
        else:
            runs.append([label])
    return ", ".join(run[0] if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs)
