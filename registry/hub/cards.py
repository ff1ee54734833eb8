"""The model card of a published artifact, built from what the catalog knows.

The front matter follows what diffusers' training scripts write (``base_model``,
``instance_prompt``, ``license``, ``library_name: diffusers``, tags with ``template:sd-lora``,
``widget`` entries that the Hub shows as a ``<Gallery />``). The card holds nothing that changes
between two runs on the same content — no dates, no absolute paths — so re-publishing
unchanged content changes no file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.model.architectures import BASES, DIT_BASES, architecture
from loradex.adapters.model.artifact import looks_like_hub_id

from .licenses import check_license

#: The Hub's tag for the family beside ``text-to-image`` (as diffusers' training scripts tag it).
_FAMILY_TAGS = {"sd1": "stable-diffusion", "sd2": "stable-diffusion", "sdxl": "stable-diffusion-xl"}
#: Training metadata worth a line on the card, in this order.
_TRAINING_KEYS = (
    ("ss_base_model_version", "base model version"),
    ("ss_sd_model_name", "trained on"),
    ("ss_network_module", "network"),
    ("ss_network_dim", "rank (dim)"),
    ("ss_network_alpha", "alpha"),
    ("ss_resolution", "resolution"),
    ("ss_num_train_images", "training images"),
    ("ss_num_epochs", "epochs"),
    ("ss_steps", "steps"),
    ("ss_batch_size_per_device", "batch size"),
    ("ss_learning_rate", "learning rate"),
    ("ss_unet_lr", "UNet learning rate"),
    ("ss_text_encoder_lr", "text-encoder learning rate"),
    ("ss_optimizer", "optimizer"),
    ("ss_lr_scheduler", "scheduler"),
    ("ss_mixed_precision", "precision"),
    ("ss_clip_skip", "clip skip"),
    ("ss_seed", "seed"),
)


@dataclass
class CardInput:
    """A recipe input as the card shows it: file name, sha256, weight as given, role."""

    name: str
    sha256: str
    weight: float
    role: str = "input"


@dataclass
class CardFacts:
    """What the card says, gathered from the catalog (no I/O here)."""

    repo: str
    name: str
    kind: str
    family: str
    #: The family's size (``large``, ``klein-4b`` …; empty for a family of one size).
    size: str
    weights_file: str
    sha256: str
    autov2: str
    base_model: str | None = None
    trigger_words: list[str] = field(default_factory=list)
    license: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    previews: list[tuple[str, str]] = field(default_factory=list)  # (path in repo, prompt)
    recipe_op: str | None = None
    recipe_params: dict[str, Any] = field(default_factory=dict)
    recipe_inputs: list[CardInput] = field(default_factory=list)
    recipe_file: str | None = None
    algorithms: list[str] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)


def base_model(family: str, claims: dict[str, Any], training: dict[str, Any], size: str = "") -> str:
    """The base's Hub id where a file or card says one, else the reference model of the family at ``size``."""
    for value in (claims.get("hub card base_model"), training.get("ss_sd_model_name")):
        if isinstance(value, str) and looks_like_hub_id(value):
            return value
    return architecture(family, size).hub_model if family in BASES else family


def _pipeline(facts: CardFacts) -> str:
    """The diffusers pipeline class that runs the family (at its size); SD's for an unknown one."""
    return architecture(facts.family, facts.size).pipeline if facts.family in BASES else "StableDiffusionPipeline"


def tags(facts: CardFacts) -> list[str]:
    out = ["text-to-image", _FAMILY_TAGS.get(facts.family, facts.family), "diffusers"]
    if facts.kind in ("lora", "lycoris"):
        out += [facts.kind, "template:sd-lora"]
    elif facts.kind == "textual_inversion":
        out += ["textual-inversion"]
    elif facts.kind == "controlnet":
        out += ["controlnet"]
    return out


def _usage(facts: CardFacts) -> str:
    pipeline = _pipeline(facts)
    # The DiTs are published and run in bfloat16 (float16 overflows in Flux's activations).
    dtype = "bfloat16" if facts.family in DIT_BASES else "float16"
    prompt = facts.trigger_words[0] if facts.trigger_words else "a photo"
    head = [
        f"from diffusers import {pipeline}",
        "import torch",
        "",
        f'pipe = {pipeline}.from_pretrained("{facts.base_model}", torch_dtype=torch.{dtype}).to("cuda")',
    ]
    if facts.kind in ("lora", "lycoris"):
        body = [
            f'pipe.load_lora_weights("{facts.repo}", weight_name="{facts.weights_file}")',
            f'image = pipe("{prompt}").images[0]',
        ]
    elif facts.kind == "textual_inversion":
        token = facts.trigger_words[0] if facts.trigger_words else "<token>"
        if facts.family == "sdxl":
            body = [
                "from huggingface_hub import hf_hub_download",
                "from safetensors.torch import load_file",
                "",
                f'state = load_file(hf_hub_download("{facts.repo}", "{facts.weights_file}"))',
                f'pipe.load_textual_inversion(state["clip_l"], token="{token}", text_encoder=pipe.text_encoder, '
                "tokenizer=pipe.tokenizer)",
                f'pipe.load_textual_inversion(state["clip_g"], token="{token}", text_encoder=pipe.text_encoder_2, '
                "tokenizer=pipe.tokenizer_2)",
            ]
        else:
            body = [f'pipe.load_textual_inversion("{facts.repo}", weight_name="{facts.weights_file}", token="{token}")']
        body.append(f'image = pipe("a photo of {token}").images[0]')
    else:  # controlnet
        cls = "StableDiffusionXLControlNetPipeline" if facts.family == "sdxl" else "StableDiffusionControlNetPipeline"
        head = [
            f"from diffusers import ControlNetModel, {cls}",
            "import torch",
            "",
            f'controlnet = ControlNetModel.from_pretrained("{facts.repo}", torch_dtype=torch.float16)',
            f'pipe = {cls}.from_pretrained("{facts.base_model}", controlnet=controlnet, '
            'torch_dtype=torch.float16).to("cuda")',
        ]
        body = ['image = pipe("a photo", image=control_image).images[0]']
    return "\n".join(["```python", *head, *body, "```"])


_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

{% if trigger %}## Trigger words

{{ trigger }}

{% endif %}<Gallery />

## Use it with diffusers

{{ usage }}

## Files

{{ files }}
{% if training %}
## Training

{{ training }}
{% endif %}{% if recipe %}
## How it was made

{{ recipe }}
{% endif %}
Published with loradex.
"""


def render_card(facts: CardFacts) -> str:
    """The README.md text: YAML front matter and a body (huggingface_hub's ModelCard)."""
    from huggingface_hub import ModelCard, ModelCardData

    what = {
        "lora": "A LoRA",
        "lycoris": "A LyCORIS adapter",
        "textual_inversion": "A textual-inversion embedding",
        "controlnet": "A ControlNet",
    }[facts.kind]
    shape = ""
    if facts.algorithms:
        shape = f" ({', '.join(facts.algorithms)}{', rank ' + '/'.join(map(str, facts.ranks)) if facts.ranks else ''})"
    data = ModelCardData(
        license=facts.license,
        library_name="diffusers",
        base_model=facts.base_model,
        instance_prompt=facts.trigger_words[0] if facts.trigger_words else None,
        tags=tags(facts),
        widget=[{"text": prompt, "output": {"url": path}} for path, prompt in facts.previews] or None,
    )
    training = "\n".join(
        f"- {label}: {facts.training[key]}" for key, label in _TRAINING_KEYS if facts.training.get(key)
    )
    recipe = ""
    if facts.recipe_op:
        params = ", ".join(f"{k} = {v}" for k, v in sorted(facts.recipe_params.items()) if v not in (None, {}, []))
        rows = "\n".join(f"| {i.role} | {i.name} | `{i.sha256}` | {i.weight:g} |" for i in facts.recipe_inputs)
        recipe = (
            f"`{facts.recipe_op}`" + (f" ({params})" if params else "") + " of:\n\n"
            "| role | file | sha256 | weight |\n|---|---|---|---|\n" + rows
        )
        if facts.recipe_file:
            recipe += (
                f"\n\nThe recipe file: [`{facts.recipe_file}`]({facts.recipe_file}) (`loradex rebuild` re-makes it)."
            )
    files = f"- `{facts.weights_file}`: sha256 `{facts.sha256}` (AutoV2 `{facts.autov2}`)"
    card = ModelCard.from_template(
        data,
        template_str=_TEMPLATE,
        title=facts.name,
        summary=f"{what} for {facts.base_model}{shape}.",
        trigger=", ".join(f"`{w}`" for w in facts.trigger_words[:10]),
        usage=_usage(facts),
        files=files,
        training=training,
        recipe=recipe,
    )
    text = str(card)
    check_front_matter(text)
    return text


def split_front_matter(text: str) -> tuple[str | None, str]:
    """A card's YAML front matter (between the ``---`` lines; None without one) and its Markdown body."""
    m = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    return (m[1], text[m.end() :]) if m else (None, text)


#: Nodes a card's front matter may hold once its aliases are expanded. YAML aliases share one
#: object, so a few nested ones ("billion laughs") make a structure that every walk over it
#: (huggingface_hub's card data included) multiplies out.
MAX_NODES = 100_000


def front_matter(text: str) -> dict[str, Any] | None:
    """A card's YAML front matter as a dict (None without one), read safely: plain YAML types
    only (no ``!!python/…`` tags), at most :data:`MAX_NODES` nodes with aliases expanded.

    Raises:
        UnsupportedError: one line saying why it is not valid.
    """
    import yaml

    front, _ = split_front_matter(text)
    if front is None:
        return None
    loader = yaml.SafeLoader(front)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise UnsupportedError(
                f"the model card's front matter expands to more than {MAX_NODES:,} values (nested YAML aliases)"
            )
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise UnsupportedError(
            f"the model card's front matter is not valid YAML ({' '.join(str(exc).split())})"
        ) from exc
    except RecursionError:
        raise UnsupportedError("the model card's front matter is nested too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise UnsupportedError("the model card's front matter is not a mapping")
    return data


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (each shared node sized once)."""
    if id(node) not in sizes:
        sizes[id(node)] = 0  # a recursive alias counts once (it is refused by the constructor anyway)
        children = node.value if isinstance(node.value, list) else []
        sizes[id(node)] = 1 + sum(
            _expanded_size(child, sizes)
            for pair in children
            for child in (pair if isinstance(pair, tuple) else (pair,))
        )
    return sizes[id(node)]


def check_front_matter(text: str) -> dict[str, Any]:
    """The card's YAML front matter as a dict, or one line saying why it is not valid."""
    data = front_matter(text)
    if data is None:
        raise UnsupportedError("the model card has no YAML front matter")
    if data.get("license") is not None:
        check_license(str(data["license"]))
    return data
