"""Tiny tokenizers for the tiny text encoders, built offline: CLIP's byte-level BPE over 256 byte
symbols with a few merges (the vocab and merges files transformers reads), and T5's unigram model
over a few word pieces and the letters (SentencePiece's scheme, as a ``tokenizer.json``)."""

from __future__ import annotations

import json
from pathlib import Path

_WORDS = (
    "a an the of in on with and photo picture painting drawing portrait style cat dog toy "
    "girl boy woman man orange red blue green fur hair sks ohwx best quality masterpiece "
    "landscape city night forest anime realistic"
).split()
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-character table."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _tokenizer_tables() -> tuple[list[str], list[str]]:
    """(vocabulary in id order, merges in rank order)."""
    chars = list(_bytes_to_unicode().values())
    vocab = chars + [c + "</w>" for c in chars]
    known, merges = set(vocab), []
    for word in _WORDS:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            merged = parts[0] + parts[1]
            if merged not in known:
                known.add(merged)
                vocab.append(merged)
                merges.append(f"{parts[0]} {parts[1]}")
            parts = [merged, *parts[2:]]
    return [*vocab, BOS, EOS], merges


_VOCAB, _MERGES = _tokenizer_tables()
BOS_ID, EOS_ID = len(_VOCAB) - 2, len(_VOCAB) - 1
TEXT_VOCAB_SIZE = 1000
assert len(_VOCAB) <= TEXT_VOCAB_SIZE


def write_clip_tokenizer(folder: Path) -> Path:
    """Write a tiny CLIP tokenizer (``vocab.json``, ``merges.txt``, config) into ``folder``.

    ``CLIPTokenizer(folder / "vocab.json", folder / "merges.txt")`` and
    ``CLIPTokenizer.from_pretrained(folder)`` both load it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(_VOCAB)}, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return folder


def clip_tokenizer(folder: Path):
    """The tokenizer of :func:`write_clip_tokenizer`, written into ``folder`` and loaded."""
    from transformers import CLIPTokenizer

    folder = write_clip_tokenizer(folder)
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


#: T5's ids: <pad> 0, </s> 1, <unk> 2, then the pieces (sentencepiece's order for T5).
T5_VOCAB_SIZE = 128
#: The longest prompt the pipelines give T5 (FluxPipeline's and SD3's ``max_sequence_length`` default).
T5_MAX_LENGTH = 512


def _t5_pieces() -> list[tuple[str, float]]:
    """(piece, log-probability): the specials, the words after a space, then single letters, so the
    unigram model prefers whole words and still spells any lower-case word."""
    words = [("\u2581" + w, -2.0 - i / 100) for i, w in enumerate(dict.fromkeys(_WORDS))]
    letters = [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789,."]
    return [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0), *words, *letters]


def t5_tokenizer():
    """A tiny T5 tokenizer (transformers' ``T5Tokenizer`` over the pieces above); a pipeline's
    ``save_pretrained`` writes it as ``tokenizer.json``, which ``from_pretrained`` loads again."""
    from transformers import T5Tokenizer

    pieces = _t5_pieces()
    assert len(pieces) <= T5_VOCAB_SIZE
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=T5_MAX_LENGTH)
