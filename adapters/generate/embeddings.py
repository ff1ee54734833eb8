"""Textual-inversion embeddings loaded into a pipeline's tokenizers and text encoders.

The file is read by loradex's own safe reader (a pickle only with ``weights_only=True``) and
handed to diffusers' ``load_textual_inversion`` as tensors, one call per text encoder: SDXL
files carry ``clip_l`` (text_encoder / tokenizer) and ``clip_g`` (text_encoder_2 / tokenizer_2).
Loading a token that is already there replaces it (diffusers would refuse).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from loradex.adapters.errors import IncompatibleError, UnsupportedError
from loradex.adapters.io.weights import open_weights
from loradex.adapters.model.probe import probe

from .base import check_family


@dataclass
class LoadedEmbedding:
    """A textual inversion in the pipeline: its token and how many vectors it expands to."""

    path: Path
    token: str
    vectors: int


def _vectors(path: Path, fmt: str) -> dict[str, torch.Tensor]:
    """Component → embedding matrix (n, dim) as stored in the file."""
    with open_weights(path) as src:
        keys = src.keys()
        if fmt == "sdxl_embedding":
            return {"text_encoder": src.get("clip_l"), "text_encoder_2": src.get("clip_g")}
        key = (
            "emb_params"
            if "emb_params" in keys
            else next((k for k in keys if k.startswith("string_to_param.")), keys[0])
        )
        t = src.get(key)
    return {"text_encoder": t.reshape(-1, t.shape[-1])}


def load_embedding(
    pipe: Any, family: str, path: Path, token: str | None = None, known: dict[str, LoadedEmbedding] | None = None
) -> LoadedEmbedding:
    """Load the embedding at ``path`` under ``token`` (default: the file's own token).

    Raises:
        UnsupportedError: not a textual-inversion file.
        IncompatibleError: made for another base, or its width is not the text encoder's.
    """
    info = probe(path)
    if info.kind != "textual_inversion":
        raise UnsupportedError(f"not a textual-inversion embedding (it is {info.kind})", path=path)
    check_family(info.base, family, path)
    token = token or info.trigger_words[0]
    parts = _vectors(path, info.format)
    for component, t in parts.items():
        encoder = getattr(pipe, component, None)
        width = encoder.get_input_embeddings().weight.shape[1] if encoder is not None else None
        if width != t.shape[-1]:
            raise IncompatibleError(
                f"its {component} vectors are {t.shape[-1]} wide, the base's text encoder "
                f"takes {width}: it was made for another base",
                path=path,
            )
    if known is not None and token in known:
        unload_embedding(pipe, known.pop(token))
    for component, t in parts.items():
        suffix = "" if component == "text_encoder" else "_2"
        encoder = getattr(pipe, component)
        pipe.load_textual_inversion(
            {token: t.to(encoder.dtype)},
            token=token,
            tokenizer=getattr(pipe, f"tokenizer{suffix}"),
            text_encoder=encoder,
        )
    # The most vectors of any encoder: unloading removes every token_i that any of them added.
    loaded = LoadedEmbedding(Path(path), token, max(int(t.shape[0]) for t in parts.values()))
    if known is not None:
        known[token] = loaded
    return loaded


def unload_embedding(pipe: Any, embedding: LoadedEmbedding) -> None:
    """Take the embedding's token(s) out of every tokenizer and text encoder it was loaded into."""
    for suffix in ("", "_2"):
        tokenizer = getattr(pipe, f"tokenizer{suffix}", None)
        if tokenizer is None:
            continue
        # A multi-vector embedding went in as token, token_1, …; diffusers removes only the
        # tokens it is given, and a stray token_1 would make the next load of the token fail.
        vocab = tokenizer.get_vocab()
        tokens = [t for t in _token_names(embedding) if t in vocab]
        if tokens:
            pipe.unload_textual_inversion(
                tokens, tokenizer=tokenizer, text_encoder=getattr(pipe, f"text_encoder{suffix}")
            )


def _token_names(embedding: LoadedEmbedding) -> list[str]:
    """The tokens diffusers adds for ``embedding``: the token, then ``token_1`` … per extra vector."""
    return [embedding.token] + [f"{embedding.token}_{i}" for i in range(1, embedding.vectors)]
