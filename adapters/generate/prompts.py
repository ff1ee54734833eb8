"""A1111's prompt syntax: ``<lora:name:weight>`` tags and ``(word:1.2)`` emphasis, and the prompt
embeddings that honour it (and A1111's Clip skip).

Users paste prompts from A1111 and Civitai, where ``<lora:name:0.8>`` applies a LoRA and
``(word:1.2)`` / ``[word]`` weight words. :func:`split_lora_tags` takes the tags out (the caller
applies those LoRAs); :func:`parse_attention` is A1111's own ``parse_prompt_attention``; and
:func:`encode` builds the embeddings the way A1111 does — each token's hidden state multiplied by
its weight, then the whole scaled back to the original mean — so an emphasised prompt renders
as A1111 renders it. Without emphasis or Clip skip the pipeline's own ``encode_prompt`` runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradex.adapters.errors import UnsupportedError

#: A1111's extra-network tag (modules/extra_networks.py: ``<(\w+):([^>]+)>``).
_EXTRA_NETWORK = re.compile(r"\s*<(\w+):([^>]+)>")
#: The tag kinds that name a LoRA: ``lyco`` is the old LyCORIS extension's spelling.
_LORA_TAGS = ("lora", "lyco")

# A1111's modules/prompt_parser.py, re_attention, token for token.
_ATTENTION = re.compile(
    r"""
\\\(|
\\\)|
\\\[|
\\]|
\\\\|
\\|
\(|
\[|
:\s*([+-]?[.\d]+)\s*\)|
\)|
]|
[^\\()\[\]:]+|
:
""",
    re.X,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
#: A1111: ``(x)`` multiplies by 1.1, ``[x]`` divides by it.
_ROUND, _SQUARE = 1.1, 1 / 1.1


@dataclass(frozen=True)
class LoraTag:
    """``<lora:name:weight>`` in a prompt: the name as written and the weight (A1111's default 1)."""

    name: str
    weight: float


def split_lora_tags(prompt: str) -> tuple[str, list[LoraTag]]:
    """The prompt without its ``<lora:…>`` tags (what the text encoder gets), and the tags.

    Raises:
        UnsupportedError: another extra network (``<hypernet:…>``), per-part weights
            (``<lora:x:0.8:0.5>``, ``te=``/``unet=``/``dyn=``) or a weight that is not a number.
    """
    tags: list[LoraTag] = []

    def take(match: re.Match) -> str:
        kind, args = match[1], match[2].split(":")
        if kind not in _LORA_TAGS:
            raise UnsupportedError(f"prompt: <{kind}:…> is not supported; quick-test applies <lora:NAME:WEIGHT> tags")
        if len(args) > 2 or any("=" in a for a in args):
            raise UnsupportedError(
                f"prompt: {match[0].strip()}: only <lora:NAME> and <lora:NAME:WEIGHT> are "
                "supported (no separate text-encoder/UNet weights)"
            )
        try:
            weight = float(args[1]) if len(args) == 2 else 1.0
        except ValueError:
            raise UnsupportedError(f"prompt: {match[0].strip()}: the weight is not a number") from None
        tags.append(LoraTag(args[0].strip(), weight))
        return ""

    return _EXTRA_NETWORK.sub(take, prompt), tags


def tagged_loras(
    tags: Sequence[LoraTag], resolve: Callable[[str], str | Path] | None
) -> list[tuple[str | Path, float]]:
    """The LoRAs a prompt's ``<lora:NAME:WEIGHT>`` tags name, as ``(file, weight)``."""
    if not tags:
        return []
    if resolve is None:
        raise UnsupportedError(
            f"the prompt names <lora:{tags[0].name}>, but no catalog or resolver is given to "
            "find it; give the file as an adapter instead"
        )
    return [(resolve(tag.name), tag.weight) for tag in tags]


def parse_attention(text: str) -> list[tuple[str, float]]:
    """A1111's ``parse_prompt_attention``: the text in runs of equal weight.

    ``(x)`` ×1.1, ``[x]`` ÷1.1, ``(x:1.3)`` ×1.3, nested brackets multiply, unbalanced ones close
    at the end, ``\\(`` is a literal bracket; runs of the same weight are merged.

    Raises:
        UnsupportedError: ``BREAK`` (A1111 starts a new 75-token chunk there; quick-test
            encodes one chunk).
    """
    res: list[list[Any]] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []

    def multiply_range(start: int, multiplier: float) -> None:
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in _ATTENTION.finditer(text):
        part, weight = m.group(0), m.group(1)
        if part.startswith("\\"):
            res.append([part[1:], 1.0])
        elif part == "(":
            round_brackets.append(len(res))
        elif part == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif part == ")" and round_brackets:
            multiply_range(round_brackets.pop(), _ROUND)
        elif part == "]" and square_brackets:
            multiply_range(square_brackets.pop(), _SQUARE)
        else:
            if _BREAK.search(part):
                raise UnsupportedError("prompt: BREAK is not supported (quick-test encodes one 75-token chunk)")
            res.append([part, 1.0])
    for pos in round_brackets:
        multiply_range(pos, _ROUND)
    for pos in square_brackets:
        multiply_range(pos, _SQUARE)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return [(part, float(weight)) for part, weight in res]


def emphasised(text: str) -> bool:
    """Whether ``text`` uses A1111's emphasis or escapes (it does not encode as written)."""
    return parse_attention(text) != [(text, 1.0)]


def own_encoding(prompt: str, negative: str, clip_skip: int | None) -> bool:
    """Whether the embeddings must come from :func:`encode` rather than the pipeline's own
    ``encode_prompt`` (which reads brackets as words, and whose Clip skip breaks on transformers 5)."""
    return (clip_skip or 1) > 1 or emphasised(prompt) or emphasised(negative)


def encode(pipe: Any, prompt: str, negative: str, *, clip_skip: int | None = None) -> dict[str, Any]:
    """The pipeline's embedding keyword arguments (``prompt_embeds``, ``negative_prompt_embeds``
    and, for SDXL, the pooled ones) for ``prompt`` and ``negative`` in A1111's syntax.

    ``clip_skip`` is A1111's: 1 the last layer, 2 the penultimate… (diffusers' ``clip_skip`` is
    one less). SD1/SD2 take that layer through the final layer norm; SDXL takes its second-to-last
    layer and ``clip_skip - 1`` more, without it, as diffusers does. Both prompts get it, as in A1111.

    Raises:
        UnsupportedError: ``clip_skip`` beyond the text encoder's layers, or ``BREAK``.
    """
    import torch

    check_clip_skip(pipe, clip_skip)
    sdxl = _sdxl(pipe)
    skip = clip_skip or 1
    out: dict[str, Any] = {}
    for key, text in (("prompt_embeds", prompt), ("negative_prompt_embeds", negative)):
        fragments = parse_attention(text)
        with torch.inference_mode():
            parts = [
                _encode_one(pipe, tokenizer, encoder, fragments, skip, sdxl) for tokenizer, encoder in _encoders(pipe)
            ]
        out[key] = torch.cat([z for z, _ in parts], dim=-1)
        if sdxl:
            out[key.replace("prompt", "pooled_prompt")] = parts[-1][1]
    return out


def _sdxl(pipe: Any) -> bool:
    return getattr(pipe, "text_encoder_2", None) is not None


def _encoders(pipe: Any) -> list[tuple[Any, Any]]:
    return [(pipe.tokenizer, pipe.text_encoder)] + ([(pipe.tokenizer_2, pipe.text_encoder_2)] if _sdxl(pipe) else [])


def check_clip_skip(pipe: Any, clip_skip: int | None) -> None:
    """Refuse a Clip skip that would reach below the text encoder's first layer."""
    layers = min(encoder.config.num_hidden_layers for _, encoder in _encoders(pipe))
    if (clip_skip or 1) > layers - (1 if _sdxl(pipe) else 0):  # SDXL starts from the penultimate layer
        raise UnsupportedError(f"--clip-skip {clip_skip}: the base's text encoder has only {layers} layers")


def _encode_one(
    pipe: Any, tokenizer: Any, encoder: Any, fragments: list[tuple[str, float]], skip: int, sdxl: bool
) -> tuple[Any, Any]:
    """One text encoder's hidden states for the weighted ``fragments`` (A1111's process_tokens:
    z·weights, then rescaled to z's original mean), and its pooled output."""
    import torch

    ids, weights = [], []
    for part, weight in fragments:
        if hasattr(pipe, "maybe_convert_prompt"):  # a multi-vector embedding's token → token token_1 …
            part = pipe.maybe_convert_prompt(part, tokenizer)
        tokens = tokenizer(part, add_special_tokens=False, truncation=False)["input_ids"]
        ids += tokens
        weights += [weight] * len(tokens)
    room = tokenizer.model_max_length - 2  # 75: the tokens between the start and end markers
    ids = [tokenizer.bos_token_id, *ids[:room], tokenizer.eos_token_id]
    weights = [1.0, *weights[:room], 1.0]
    padding = tokenizer.model_max_length - len(ids)
    ids += [tokenizer.pad_token_id] * padding
    weights += [1.0] * padding
    device = encoder.device
    output = encoder(torch.tensor([ids], device=device), output_hidden_states=True)
    if sdxl:
        z = output.hidden_states[-(skip + 1)]
    else:
        # transformers 5's CLIPTextModel holds final_layer_norm itself; 4.x under text_model
        # (diffusers 0.42's clip_skip still looks there, and fails on 5).
        z = getattr(encoder, "text_model", encoder).final_layer_norm(output.hidden_states[-skip])
    pooled = output[0] if output[0].ndim == 2 else None
    multipliers = torch.tensor(weights, dtype=z.dtype, device=device)
    if bool((multipliers != 1).any()):
        original_mean = z.mean()
        z = z * multipliers.reshape(1, -1, 1)
        z = z * (original_mean / z.mean())
    return z, pooled
