"""Block weights resolved for an adapter's family: labels checked against the family's blocks, LoRA
Block Weight vectors and presets mapped onto loradex's labels, and the multiplier of each layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from loradex.adapters.errors import IncompatibleError, UnsupportedError
from loradex.adapters.model.blocks import block_group, blocks_text, family_blocks

from .block_presets import FAMILY_LAYOUTS, FAMILY_PRESETS, LAYOUTS, POSITION_BLOCKS, PREFIXES, PRESETS, TABLE_FAMILIES
from .options import BlockWeights, parse_block_weights

#: Groups that hold a family's text encoders (LBW weighs them by its BASE, Flux's CLIP and T5).
_TEXT_ENCODERS = ("TE", "TE2", "TE3")


def block_multipliers(spec: BlockWeights, family: str, size: str = "", *, path: Path | None = None) -> dict[str, float]:
    """The multiplier of each block label (or group) ``spec`` names, for an adapter of ``family`` at
    ``size`` (what :func:`block_multiplier` reads).

    Labels must be the family's own blocks or groups. A vector (or a preset's) must have a length the
    family's LBW layouts have; its positions become loradex labels, and every denoiser block it does
    not name gets 0, as in LBW. ``path``: the adapter named in a refusal.

    Raises:
        UnsupportedError: text that :func:`~.options.parse_block_weights` refuses.
        IncompatibleError: a label, vector length or preset that is not the family's; one line naming
            what the family has.
    """
    if isinstance(spec, str):  # as typed: "IN=1,MID=0.5", "1,0,…" or a preset's name in any case
        try:
            spec = parse_block_weights(spec)
        except ValueError as exc:
            raise UnsupportedError(str(exc), path=path) from None
    labels = family_blocks(family, size)
    name = f"{family} {size}".strip()
    groups = {block_group(label) for label in labels}
    if isinstance(spec, dict):
        for label in spec:
            if label not in labels and label not in groups:
                others = sorted(groups - set(labels))
                also = f" (groups: {', '.join(others)})" if others else ""
                raise IncompatibleError(
                    f"block {label} is not a {name} block; {name} blocks: {blocks_text(labels)}{also}", path=path
                )
        return dict(spec)
    vector = spec if isinstance(spec, list) else _preset(spec, family, name, path)
    lengths = FAMILY_LAYOUTS.get(family, ())
    if not lengths:
        raise IncompatibleError(
            f"{name} has no LoRA Block Weight vector layout or presets; name its blocks ({blocks_text(labels)})",
            path=path,
        )
    if len(vector) not in lengths:
        raise IncompatibleError(
            f"a block-weight vector for {name} has {_either(lengths)} numbers, not {len(vector)}",
            path=path,
        )
    weights = {label: 0.0 for label in labels if block_group(label) not in ("BASE", *_TEXT_ENCODERS)}
    for position, value in zip(LAYOUTS[len(vector)], vector, strict=True):
        for label in POSITION_BLOCKS.get(position, (position,)):
            if label in weights or (label in _TEXT_ENCODERS and label in groups):
                weights[label] = float(value)
    return weights


def _preset(spec: str, family: str, name: str, path: Path | None) -> list[float]:
    """The vector of preset ``spec`` (as :func:`~.options.preset_name` spells it) for ``family``."""
    prefix = next((p for p in PREFIXES if spec.startswith(p)), "")
    own = FAMILY_PRESETS.get(family)
    table = PREFIXES[prefix] if prefix else own
    preset = spec.removeprefix(prefix)
    if table is None or table != own or preset not in PRESETS[table]:
        holders = [TABLE_FAMILIES[t] for t in PRESETS if preset in PRESETS[t] and (not prefix or t == table)]
        theirs = f"{name} presets: {', '.join(PRESETS[own])}" if own else f"{name} has no LoRA Block Weight presets"
        raise IncompatibleError(f"preset {spec} is for {' and '.join(holders)} LoRAs; {theirs}", path=path)
    return [float(v) for v in PRESETS[table][preset]]


def _either(lengths: tuple[int, ...]) -> str:
    """``(12, 20, 26)`` → ``"12, 20 or 26"``."""
    *first, last = map(str, lengths)
    return f"{', '.join(first)} or {last}" if first else last


def block_multiplier(block: str, weights: Mapping[str, float] | None) -> float:
    """The multiplier of a layer in ``block``: its label's weight, else its group's, else 1."""
    if not weights:
        return 1.0
    if block in weights:
        return weights[block]
    return weights.get(block_group(block), 1.0)
