"""The model families loradex knows, each one declarative entry: its denoiser's diffusers class and
config per size, its text encoders, where a single file stores each component, and how kohya names
them.

Key names and shapes are never typed by hand: they come from instantiating these configs on the
``meta`` device (no memory, no weights), so they are exactly what diffusers and transformers build.
The same :class:`Architecture` type describes the tiny test bases of the zoo, which keep the real
widths that identify a family and shrink everything else. Adding a family is one entry in
:data:`FAMILY_SIZES` (plus its single-file names in :mod:`.single_file_names` and its oracle test).

torch, diffusers and transformers are imported only when a meta model is built, so the tables here
cost nothing to import.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Where each diffusers denoiser class lives (imported from its module: mypy reads diffusers'
#: top-level names as the placeholders it exports when torch is missing).
_DENOISER_MODULES = {
    "UNet2DConditionModel": "diffusers.models.unets.unet_2d_condition",
    "SD3Transformer2DModel": "diffusers.models.transformers.transformer_sd3",
    "FluxTransformer2DModel": "diffusers.models.transformers.transformer_flux",
    "Flux2Transformer2DModel": "diffusers.models.transformers.transformer_flux2",
}


@dataclass(frozen=True)
class TextEncoderSpec:
    """A text encoder: its transformers model and config, and how single files and kohya name it."""

    config: dict[str, Any]
    with_projection: bool = False
    #: OpenCLIP layout in single files (fused ``in_proj_weight``), as in SD2 and SDXL te2.
    open_clip: bool = False
    #: ``clip`` (CLIPTextModel / WithProjection) or ``t5`` (T5EncoderModel).
    model: str = "clip"
    #: The kohya prefixes of its layers; the first is the one loradex writes.
    kohya: tuple[str, ...] = ("lora_te_", "lora_te1_")


@dataclass(frozen=True)
class Architecture:
    """One model family at one size."""

    base: str
    denoiser: dict[str, Any]
    text_encoders: dict[str, TextEncoderSpec] = field(default_factory=dict)
    denoiser_class: str = "UNet2DConditionModel"
    #: The size's name (``medium``, ``large``, ``klein-4b`` …); empty for a family of one size.
    size: str = ""
    #: The diffusers text-to-image pipeline class that runs the family.
    pipeline: str = ""
    #: The reference model of this size on the Hub (a diffusers repo), for a base named by family alone.
    hub_model: str = ""

    @property
    def denoiser_component(self) -> str:
        """``unet`` for the UNet families, ``transformer`` for the DiTs (as diffusers folders name it)."""
        return "unet" if self.denoiser_class == "UNet2DConditionModel" else "transformer"

    @property
    def components(self) -> tuple[str, ...]:
        return (self.denoiser_component, *self.text_encoders)

    def denoiser_type(self) -> type[torch.nn.Module]:
        """The diffusers class of the denoiser (imported from its module)."""
        return getattr(importlib.import_module(_DENOISER_MODULES[self.denoiser_class]), self.denoiser_class)

    def meta_denoiser(self) -> torch.nn.Module:
        import torch

        with torch.device("meta"):
            return self.denoiser_type()(**self.denoiser)

    def meta_text_encoder(self, component: str) -> torch.nn.Module:
        import torch
        import transformers

        spec = self.text_encoders[component]
        cls: Any
        config: Any
        if spec.model == "t5":
            cls, config = transformers.T5EncoderModel, transformers.T5Config(**spec.config)
        else:
            cls = transformers.CLIPTextModelWithProjection if spec.with_projection else transformers.CLIPTextModel
            config = transformers.CLIPTextConfig(**spec.config)
        with torch.device("meta"):
            return cls(config)


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
_T5_XXL = dict(
    d_model=4096,
    d_ff=10240,
    d_kv=64,
    num_heads=64,
    num_layers=24,
    vocab_size=32128,
    feed_forward_proj="gated-gelu",
    is_encoder_decoder=False,
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
#: SD3.5 (stabilityai/stable-diffusion-3.5-medium and -large transformer configs). SD3.0 Medium is
#: 3.5 Medium without the second attention (``attn2``) and the q/k norms, so its layers are a subset.
_SD35_MEDIUM = dict(
    sample_size=128,
    patch_size=2,
    in_channels=16,
    out_channels=16,
    num_layers=24,
    attention_head_dim=64,
    num_attention_heads=24,
    joint_attention_dim=4096,
    caption_projection_dim=1536,
    pooled_projection_dim=2048,
    pos_embed_max_size=384,
    dual_attention_layers=tuple(range(13)),
    qk_norm="rms_norm",
)
_SD35_LARGE = dict(
    _SD35_MEDIUM,
    num_layers=38,
    num_attention_heads=38,
    caption_projection_dim=2432,
    pos_embed_max_size=192,
    dual_attention_layers=(),
)
#: FLUX.1 [dev] (black-forest-labs/FLUX.1-dev); [schnell] is the same without the guidance embedder.
_FLUX1_DEV = dict(
    patch_size=1,
    in_channels=64,
    num_layers=19,
    num_single_layers=38,
    attention_head_dim=128,
    num_attention_heads=24,
    joint_attention_dim=4096,
    pooled_projection_dim=768,
    guidance_embeds=True,
)
#: FLUX.2 [dev] (the class's defaults) and [klein] 4B / 9B.
_FLUX2_DEV = dict(
    patch_size=1,
    in_channels=128,
    num_layers=8,
    num_single_layers=48,
    attention_head_dim=128,
    num_attention_heads=48,
    joint_attention_dim=15360,
    guidance_embeds=True,
)
_FLUX2_KLEIN = dict(_FLUX2_DEV, guidance_embeds=False)
_FLUX2_KLEIN_4B = dict(
    _FLUX2_KLEIN, num_layers=5, num_single_layers=20, num_attention_heads=24, joint_attention_dim=7680
)
_FLUX2_KLEIN_9B = dict(
    _FLUX2_KLEIN, num_layers=8, num_single_layers=24, num_attention_heads=32, joint_attention_dim=12288
)

_CLIP_L_TE1 = TextEncoderSpec(_CLIP_L, kohya=("lora_te1_", "lora_te_"))
_SD3_ENCODERS = {
    # SD3 pools both CLIPs through their projections (diffusers: CLIPTextModelWithProjection twice).
    "text_encoder": TextEncoderSpec(_CLIP_L, with_projection=True, kohya=_CLIP_L_TE1.kohya),
    "text_encoder_2": TextEncoderSpec(_OPEN_CLIP_BIGG, with_projection=True, kohya=("lora_te2_",)),
    "text_encoder_3": TextEncoderSpec(_T5_XXL, model="t5", kohya=("lora_te3_",)),
}
_FLUX_ENCODERS = {
    "text_encoder": _CLIP_L_TE1,
    # sd-scripts numbers T5 as SD3's third encoder; OneTrainer as Flux's second
    "text_encoder_2": TextEncoderSpec(_T5_XXL, model="t5", kohya=("lora_te3_", "lora_te2_")),
}

#: Every family at every size, the first size of each being the one a bare family name means.
#: FLUX.2's text encoders (Mistral Small 3.1 for [dev], Qwen3 for [klein]) are not listed: no
#: producer trains LoRAs on them, so their layers would only slow every probe.
FAMILY_SIZES: dict[str, tuple[Architecture, ...]] = {
    "sd1": (
        Architecture(
            "sd1",
            _SD1_UNET,
            {"text_encoder": TextEncoderSpec(_CLIP_L)},
            pipeline="StableDiffusionPipeline",
            hub_model="stable-diffusion-v1-5/stable-diffusion-v1-5",
        ),
    ),
    "sd2": (
        Architecture(
            "sd2",
            _SD2_UNET,
            {"text_encoder": TextEncoderSpec(_OPEN_CLIP_H, open_clip=True)},
            pipeline="StableDiffusionPipeline",
            hub_model="stabilityai/stable-diffusion-2-1",
        ),
    ),
    "sdxl": (
        Architecture(
            "sdxl",
            _SDXL_UNET,
            {
                "text_encoder": _CLIP_L_TE1,
                "text_encoder_2": TextEncoderSpec(
                    _OPEN_CLIP_BIGG, with_projection=True, open_clip=True, kohya=("lora_te2_",)
                ),
            },
            pipeline="StableDiffusionXLPipeline",
            hub_model="stabilityai/stable-diffusion-xl-base-1.0",
        ),
    ),
    "sd3": (
        Architecture(
            "sd3",
            _SD35_MEDIUM,
            _SD3_ENCODERS,
            "SD3Transformer2DModel",
            "medium",
            pipeline="StableDiffusion3Pipeline",
            hub_model="stabilityai/stable-diffusion-3.5-medium",
        ),
        Architecture(
            "sd3",
            _SD35_LARGE,
            _SD3_ENCODERS,
            "SD3Transformer2DModel",
            "large",
            pipeline="StableDiffusion3Pipeline",
            hub_model="stabilityai/stable-diffusion-3.5-large",
        ),
    ),
    "flux": (
        Architecture(
            "flux",
            _FLUX1_DEV,
            _FLUX_ENCODERS,
            "FluxTransformer2DModel",
            pipeline="FluxPipeline",
            hub_model="black-forest-labs/FLUX.1-dev",
        ),
    ),
    # [klein] has its own pipeline in diffusers (Qwen3 as its text encoder, no guidance embedder).
    "flux2": (
        Architecture(
            "flux2",
            _FLUX2_DEV,
            {},
            "Flux2Transformer2DModel",
            "dev",
            pipeline="Flux2Pipeline",
            hub_model="black-forest-labs/FLUX.2-dev",
        ),
        Architecture(
            "flux2",
            _FLUX2_KLEIN_4B,
            {},
            "Flux2Transformer2DModel",
            "klein-4b",
            pipeline="Flux2KleinPipeline",
            hub_model="black-forest-labs/FLUX.2-klein-4B",
        ),
        Architecture(
            "flux2",
            _FLUX2_KLEIN_9B,
            {},
            "Flux2Transformer2DModel",
            "klein-9b",
            pipeline="Flux2KleinPipeline",
            hub_model="black-forest-labs/FLUX.2-klein-9B",
        ),
    ),
}
BASES = tuple(FAMILY_SIZES)
#: The families whose denoiser is a DiT (``transformer.`` in diffusers folders and LoRAs).
DIT_BASES = tuple(b for b, sizes in FAMILY_SIZES.items() if sizes[0].denoiser_component == "transformer")

#: Where each component's tensors live in an original single-file checkpoint (LDM/SGM for the
#: UNets; for the DiTs the ComfyUI all-in-one layout, whose denoiser keys are the original BFL/SAI
#: names that bare denoiser files store without the prefix).
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
    "sd3": {
        "transformer": "model.diffusion_model.",
        "text_encoder": "text_encoders.clip_l.transformer.",
        "text_encoder_2": "text_encoders.clip_g.transformer.",
        "text_encoder_3": "text_encoders.t5xxl.transformer.",
        "vae": "first_stage_model.",
    },
    "flux": {
        "transformer": "model.diffusion_model.",
        "text_encoder": "text_encoders.clip_l.transformer.",
        "text_encoder_2": "text_encoders.t5xxl.transformer.",
        "vae": "vae.",
    },
    "flux2": {"transformer": "model.diffusion_model.", "vae": "vae."},
}

#: Input width of a cross-attention ``attn2.to_k`` per family: the strongest evidence of a base.
CROSS_ATTENTION_DIM = {768: "sd1", 1024: "sd2", 2048: "sdxl"}
#: Hidden width of the (first) text encoder per family.
TEXT_WIDTH = {768: "sd1", 1024: "sd2", 1280: "sdxl"}


def architecture(base: str, size: str = "") -> Architecture:
    """The full-size architecture of ``base`` (one of :data:`BASES`) at ``size`` (default: its first)."""
    sizes = FAMILY_SIZES[base]
    return next((a for a in sizes if a.size == size), sizes[0])
