"""LoRA Block Weight's vector layouts and presets, as data (hako-mikan's sd-webui-lora-block-weight,
"LBW", and the SDXL presets of ComfyUI Inspire Pack, which use LBW's 12-value layout).

A block-weight vector is one number per position of a layout, the layout told by the vector's
length. Each position is named as LBW names it; :data:`POSITION_BLOCKS` says which loradex block
labels it weighs. LBW gives a block its layout does not name 0 (its vectors are widened to the full
26 with zeros), a layer outside every block (a UNet's time embedding, ``conv_out``) 1.

Plain data: the command line reads it at start-up.
"""

from __future__ import annotations

_IN = tuple(f"IN{i:02d}" for i in range(12))
_OUT = tuple(f"OUT{i:02d}" for i in range(12))

#: Vector length → the LBW block of each position. 17 and 26: SD1/SD2 (attention blocks; every
#: block, for LoCon/LyCORIS); 12 and 20: SDXL; 61: Flux.1 (``CLIP``, ``T5``, the embedders, 19 double
#: and 38 single blocks, the head).
LAYOUTS: dict[int, tuple[str, ...]] = {
    12: ("BASE", "IN04", "IN05", "IN07", "IN08", "M00", *_OUT[:6]),
    17: ("BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00", *_OUT[3:]),
    20: ("BASE", *_IN[:9], "M00", *_OUT[:9]),
    26: ("BASE", *_IN, "M00", *_OUT),
    61: ("CLIP", "T5", "IN", *(f"D{i:02d}" for i in range(19)), *(f"S{i:02d}" for i in range(38)), "OUT"),
}

#: Family → the vector lengths it takes, its own first. SDXL takes LBW's full 26 too (whose IN09–IN11
#: and OUT09–OUT11 it has not); the SD1 layouts on SDXL (or SDXL's on SD1) name other blocks than a
#: user means, so they are refused.
FAMILY_LAYOUTS: dict[str, tuple[int, ...]] = {"sd1": (17, 26), "sd2": (17, 26), "sdxl": (12, 20, 26), "flux": (61,)}

#: LBW position → the loradex labels it weighs, where the names differ: LBW's BASE is the text
#: encoders (all of them), ``M00`` the middle block, Flux's ``CLIP``/``T5`` the two encoders and its
#: two-digit blocks loradex's ``D0``…; every other position is the loradex label of its name.
POSITION_BLOCKS: dict[str, tuple[str, ...]] = {
    "BASE": ("TE", "TE2", "TE3"),
    "M00": ("MID",),
    "CLIP": ("TE",),
    "T5": ("TE3",),
    **{f"{kind}{i:02d}": (f"{kind}{i}",) for kind, n in (("D", 19), ("S", 38)) for i in range(n)},
}

#: Preset name → vector, per layout family. ``sd``: LBW's default presets (17 values); ``sdxl``:
#: Inspire Pack's ``SDXL-*`` presets (12 values); ``flux``: LBW's ``FLUXALL`` (61 values).
PRESETS: dict[str, dict[str, tuple[float, ...]]] = {
    "sd": {
        "NONE": (0,) * 17,
        "ALL": (1,) * 17,
        "INS": (1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "IND": (1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "INALL": (1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        "MIDD": (1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0),
        "OUTD": (1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0),
        "OUTS": (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1),
        "OUTALL": (1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1),
        "ALL0.5": (0.5,) * 17,
    },
    "sdxl": {
        "NONE": (0,) * 12,
        "ALL": (1,) * 12,
        "INALL": (1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
        "MIDALL": (1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0),
        "OUTALL": (1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1),
    },
    "flux": {"FLUXALL": (1,) * 61},
}

#: Family → its presets' table; Inspire Pack's prefixes (``SD-INS``, ``SDXL-OUTALL``) name a table.
FAMILY_PRESETS = {"sd1": "sd", "sd2": "sd", "sdxl": "sdxl", "flux": "flux"}
PREFIXES = {"SD-": "sd", "SDXL-": "sdxl"}
#: How each table's families are named in messages.
TABLE_FAMILIES = {"sd": "SD1/SD2", "sdxl": "SDXL", "flux": "Flux.1"}
