"""The model families loradex knows, as diffusers/transformers configs.

Key names and shapes are never typed by hand: they come from instantiating these configs
on the ``meta`` device (no memory, no weights), so they are exactly what diffusers and
transformers build. The same :class:`Architecture` type describes the tiny test bases of
the zoo, which keep the real widths that identify a family (cross-attention 768 / 1024 /
2048, text widths 768 / 1024 / 1280) and shrink everything else.

torch, diffusers and transformers are imported only when a meta model is built, so the
tables here cost nothing to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

BASES = ("sd1", "sd2", "sdxl")

#: Where each component's tensors live in an original (LDM/SGM) single-file checkpoint.
LDM_PREFIXES: dict[str, dict[str, str]] = {
    "sd1": {
        "unet": "model.diffusion_model.",
        "text_encoder": "cond_stage_model.transformer.",
        "vae": "first_stage_model.",
    },
    "sd2": {
        "unet": "model.diffusion_model.",
        "text_encoder": "cond_stage_model.model.",
        "vae": "first_stage_model.",
    },
    "sdxl": {
        "unet": "model.diffusion_model.",
        "text_encoder": "conditioner.embedders.0.transformer.",
        "text_encoder_2": "conditioner.embedders.1.model.",
        "vae": "first_stage_model.",
    },
}


@dataclass(frozen=True)
class TextEncoderSpec:
    """A CLIP text encoder: its transformers config and how single files store it."""

    config: dict[str, Any]
    with_projection: bool = False
    #: OpenCLIP layout in single files (fused ``in_proj_weight``), as in SD2 and SDXL te2.
    open_clip: bool = False


@dataclass(frozen=True)
class Architecture:
    """One model family at one size."""

    base: str
    unet: dict[str, Any]
    text_encoders: dict[str, TextEncoderSpec] = field(default_factory=dict)

    @property
    def components(self) -> tuple[str, ...]:
        return ("unet", *self.text_encoders)

    def meta_unet(self) -> UNet2DConditionModel:
        import torch

        # From its module: mypy reads diffusers' top-level name as the placeholder class it
        # exports when torch is missing, which is no torch.nn.Module.
        from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

        with torch.device("meta"):
            return UNet2DConditionModel(**self.unet)

    def meta_text_encoder(self, component: str) -> CLIPTextModel | CLIPTextModelWithProjection:
        import torch
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

        spec = self.text_encoders[component]
        cls = CLIPTextModelWithProjection if spec.with_projection else CLIPTextModel
        with torch.device("meta"):
            return cls(CLIPTextConfig(**spec.config))


_CLIP_L = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_attention_heads=12,
    num_hidden_layers=12,
    projection_dim=768,
    hidden_act="quick_gelu",
    vocab_size=49408,
    max_position_embeddings=77,
)
_OPEN_CLIP_H = dict(
    hidden_size=1024,
    intermediate_size=4096,
    num_attention_heads=16,
    num_hidden_layers=23,
    projection_dim=512,
    hidden_act="gelu",
    vocab_size=49408,
    max_position_embeddings=77,
)
_OPEN_CLIP_BIGG = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_attention_heads=20,
    num_hidden_layers=32,
    projection_dim=1280,
    hidden_act="gelu",
    vocab_size=49408,
    max_position_embeddings=77,
)

_SD1_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=768,
    attention_head_dim=8,
)
_SD2_UNET = dict(
    _SD1_UNET,
    sample_size=96,
    cross_attention_dim=1024,
    attention_head_dim=(5, 10, 20, 20),
    use_linear_projection=True,
)
_SDXL_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(320, 640, 1280),
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2, 10),
    cross_attention_dim=2048,
    attention_head_dim=(5, 10, 20),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
)

FULL_SIZE: dict[str, Architecture] = {
    "sd1": Architecture("sd1", _SD1_UNET, {"text_encoder": TextEncoderSpec(_CLIP_L)}),
    "sd2": Architecture("sd2", _SD2_UNET, {"text_encoder": TextEncoderSpec(_OPEN_CLIP_H, open_clip=True)}),
    "sdxl": Architecture(
        "sdxl",
        _SDXL_UNET,
        {
            "text_encoder": TextEncoderSpec(_CLIP_L),
            "text_encoder_2": TextEncoderSpec(_OPEN_CLIP_BIGG, with_projection=True, open_clip=True),
        },
    ),
}

#: Input width of a cross-attention ``attn2.to_k`` per family: the strongest evidence of a base.
CROSS_ATTENTION_DIM = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
#: Hidden width of the (first) text encoder per family.
TEXT_WIDTH = {768: "sd1", 1024: "sd2", 1280: "sdxl"}


def architecture(base: str) -> Architecture:
    """The full-size architecture of ``base`` (one of :data:`BASES`)."""
    return FULL_SIZE[base]
