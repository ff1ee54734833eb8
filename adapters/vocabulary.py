"""The words loradex's data is made of, as ``StrEnum``s: what kind of file, for which base family,
how it was read, what state a catalogued row is in, which storage dtype.

One home for each list of allowed values: the CLI's choices, the catalog's columns, the TUI's
filters and the recipes' checks all take them from here. A member *is* its string (``Kind.LORA ==
"lora"``, and it prints and serialises as ``lora``), so rows and JSON keep plain strings."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Dtype", "Family", "Kind", "Safety", "Status", "TargetFormat"]


class Kind(StrEnum):
    """What an artifact is."""

    LORA = "lora"
    LYCORIS = "lycoris"
    TEXTUAL_INVERSION = "textual_inversion"
    CONTROLNET = "controlnet"
    CONTROL_LORA = "control_lora"
    CHECKPOINT = "checkpoint"
    HYPERNETWORK = "hypernetwork"
    UNKNOWN = "unknown"


class Family(StrEnum):
    """The base-model family an artifact is for."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SD3 = "sd3"
    FLUX = "flux"
    FLUX2 = "flux2"
    UNKNOWN = "unknown"


class Safety(StrEnum):
    """How a file's weights could be read: safetensors, a pickle whose every global is a tensor or a
    container, a pickle refused for importing anything else, or not known (an unreadable file)."""

    SAFETENSORS = "safetensors"
    #: A GGUF file: tensors and typed metadata, read by loradex's bounded parser; no code path either.
    GGUF = "gguf"
    PICKLE_SAFE = "pickle-safe"
    PICKLE_REFUSED = "pickle-refused"
    UNKNOWN = "unknown"


class Status(StrEnum):
    """A catalogued row's state: read fine, unreadable, or its file gone."""

    OK = "ok"
    ERROR = "error"
    MISSING = "missing"


class TargetFormat(StrEnum):
    """The formats ``convert`` writes."""

    KOHYA = "kohya"
    DIFFUSERS = "diffusers"
    PEFT = "peft"


class Dtype(StrEnum):
    """Storage dtype options of the writers (the fp8 ones, spelled as ComfyUI's weight dtypes, for
    checkpoints only: :data:`~loradex.adapters.ops.options.FACTOR_DTYPES` are a LoRA's)."""

    FP16 = "fp16"
    BF16 = "bf16"
    FP32 = "fp32"
    FP8_E4M3FN = "fp8_e4m3fn"
    FP8_E5M2 = "fp8_e5m2"
