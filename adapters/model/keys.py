"""Splitting adapter tensor keys into a layer stem and the factor it holds.

Every convention appends a fixed suffix to the adapted module's name; the suffix says which
factor the tensor is. Parts are normalised (PEFT ``lora_A`` and legacy ``.down`` are both
``lora_down``) so the math never sees a naming convention.
"""

from __future__ import annotations

#: File suffix → normalised part. Longest suffixes first, so ``.lora_down.weight`` wins
#: over ``.down.weight``.
_SUFFIXES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            ".lora_down.weight": "lora_down",
            ".lora_up.weight": "lora_up",
            ".lora_mid.weight": "lora_mid",
            ".lora_A.weight": "lora_down",
            ".lora_B.weight": "lora_up",
            ".lora.down.weight": "lora_down",
            ".lora.up.weight": "lora_up",
            ".lora_linear_layer.down.weight": "lora_down",
            ".lora_linear_layer.up.weight": "lora_up",
            ".down.weight": "lora_down",
            ".up.weight": "lora_up",
            ".lora_magnitude_vector": "magnitude",
            ".lora_magnitude_vector.weight": "magnitude",
            ".alpha": "alpha",
            ".dora_scale": "dora_scale",
            ".hada_w1_a": "hada_w1_a",
            ".hada_w1_b": "hada_w1_b",
            ".hada_w2_a": "hada_w2_a",
            ".hada_w2_b": "hada_w2_b",
            ".hada_t1": "hada_t1",
            ".hada_t2": "hada_t2",
            ".lokr_w1": "lokr_w1",
            ".lokr_w1_a": "lokr_w1_a",
            ".lokr_w1_b": "lokr_w1_b",
            ".lokr_w2": "lokr_w2",
            ".lokr_w2_a": "lokr_w2_a",
            ".lokr_w2_b": "lokr_w2_b",
            ".lokr_t2": "lokr_t2",
            ".diff": "diff",
            ".diff_b": "diff_b",
        }.items(),
        key=lambda kv: -len(kv[0]),
    )
)

#: Parts that carry an adapted layer's weights (alpha/scale parts only qualify them).
WEIGHT_PARTS = frozenset(
    {
        "lora_down",
        "lora_up",
        "lora_mid",
        "hada_w1_a",
        "hada_w1_b",
        "hada_w2_a",
        "hada_w2_b",
        "hada_t1",
        "hada_t2",
        "lokr_w1",
        "lokr_w1_a",
        "lokr_w1_b",
        "lokr_w2",
        "lokr_w2_a",
        "lokr_w2_b",
        "lokr_t2",
        "diff",
    }
)


_BY_SUFFIX = {suffix[1:]: part for suffix, part in _SUFFIXES}
_MAX_DOTS = max(suffix.count(".") for suffix, _ in _SUFFIXES)


def split_key(key: str) -> tuple[str, str] | None:
    """``(stem, part)`` for an adapter tensor key, or None if the key is not one.

    Tried on the last three, two, then one dotted components (longest suffix wins), so a
    probe of a thousand-layer file does a few dict lookups per key, not a scan of suffixes.

    >>> split_key("lora_unet_conv_in.lora_down.weight")
    ('lora_unet_conv_in', 'lora_down')
    >>> split_key("unet.conv_in.lora_A.weight")
    ('unet.conv_in', 'lora_down')
    """
    pieces = key.split(".")
    for n in range(min(_MAX_DOTS, len(pieces) - 1), 0, -1):
        part = _BY_SUFFIX.get(".".join(pieces[-n:]))
        if part is not None:
            return ".".join(pieces[:-n]), part
    return None


def algorithm_of(parts: set[str]) -> str | None:
    """The adapter algorithm a layer's parts spell, or None if they spell none."""
    if parts & {"hada_w1_a", "hada_w1_b"}:
        return "loha"
    if parts & {"lokr_w1", "lokr_w1_a", "lokr_w2", "lokr_w2_a"}:
        return "lokr"
    if "diff" in parts:
        return "full"
    if {"lora_down", "lora_up"} <= parts:
        return "dora" if parts & {"dora_scale", "magnitude"} else "lora"
    return None
