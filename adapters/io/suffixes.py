"""The file name suffixes of weights, apart from the readers: the catalog's look-ups and the
scan's walk sort names by them without loading any reader."""

from __future__ import annotations

__all__ = ["GGUF_SUFFIX", "PICKLE_SUFFIXES", "WEIGHT_SUFFIXES"]

PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt"})
#: ComfyUI-GGUF's quantised denoisers and llama.cpp's files (single files: never part of a folder's weights).
GGUF_SUFFIX = ".gguf"
WEIGHT_SUFFIXES = frozenset({".safetensors", GGUF_SUFFIX}) | PICKLE_SUFFIXES
