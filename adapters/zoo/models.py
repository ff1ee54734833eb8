"""Tiny random-weight base models for the zoo (their single-file layout: :mod:`.single_files`).

The tiny architectures keep what identifies a family (cross-attention width 768 / 1024 /
2048, text widths 768 / 1024 / 1280, the block layout that gives layers their names) and
shrink everything else, so every layer name of a tiny model is also a layer name of the
full-size model. The DiTs (SD3, Flux.1) keep only their names: a width that identifies them
(Flux's 3072) would make even one block hundreds of MB, so their tiny LoRAs fit no full-size
shape. Weights are random but deterministic: everything is drawn inside
``torch.random.fork_rng`` from a seed, so the caller's RNG state is left alone.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, Union, cast

import torch

from loradex.adapters.model.architectures import Architecture, TextEncoderSpec, architecture

from .tokenizer import BOS_ID, EOS_ID, T5_VOCAB_SIZE, TEXT_VOCAB_SIZE, clip_tokenizer, t5_tokenizer

if TYPE_CHECKING:
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.controlnets.controlnet import ControlNetModel
    from diffusers.models.transformers.transformer_flux import FluxTransformer2DModel
    from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

_M = TypeVar("_M", bound=torch.nn.Module)
Denoiser = Union["UNet2DConditionModel", "SD3Transformer2DModel", "FluxTransformer2DModel"]

# ---------------------------------------------------------------------------------------
# Tiny architectures


def _clip(hidden: int, heads: int, act: str, projection: int) -> dict:
    return dict(
        hidden_size=hidden,
        intermediate_size=64,
        num_attention_heads=heads,
        num_hidden_layers=2,
        projection_dim=projection,
        hidden_act=act,
        vocab_size=TEXT_VOCAB_SIZE,
        max_position_embeddings=77,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=EOS_ID,
    )


def _t5(d_model: int) -> dict:
    return dict(
        d_model=d_model,
        d_ff=2 * d_model,
        d_kv=8,
        num_heads=d_model // 8,
        num_layers=2,
        relative_attention_num_buckets=8,
        vocab_size=T5_VOCAB_SIZE,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
    )


def _tiny_encoder(base: str, component: str, config: dict) -> TextEncoderSpec:
    """The family's text encoder (its layout and kohya names) with a tiny config."""
    return dataclasses.replace(architecture(base).text_encoders[component], config=config)


_UNET_COMMON = dict(
    sample_size=8,
    in_channels=4,
    out_channels=4,
    layers_per_block=2,
    block_out_channels=(32, 64),
    norm_num_groups=32,
)

TINY: dict[str, Architecture] = {
    "sd1": Architecture(
        "sd1",
        dict(
            _UNET_COMMON,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768,
            attention_head_dim=8,
        ),
        {"text_encoder": _tiny_encoder("sd1", "text_encoder", _clip(768, 12, "quick_gelu", 768))},
    ),
    "sd2": Architecture(
        "sd2",
        dict(
            _UNET_COMMON,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=1024,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
        ),
        {"text_encoder": _tiny_encoder("sd2", "text_encoder", _clip(1024, 16, "gelu", 1024))},
    ),
    "sdxl": Architecture(
        "sdxl",
        dict(
            _UNET_COMMON,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            cross_attention_dim=2048,
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=1280 + 6 * 8,
        ),
        {
            "text_encoder": _tiny_encoder("sdxl", "text_encoder", _clip(768, 12, "quick_gelu", 768)),
            "text_encoder_2": _tiny_encoder("sdxl", "text_encoder_2", _clip(1280, 20, "gelu", 1280)),
        },
    ),
    # SD3.5 Medium's layout: joint blocks, the first with its second attention (attn2) and q/k norms.
    # The CLIP widths add up to T5's, as SD3's pipeline pads the CLIP embeddings to T5's width.
    "sd3": Architecture(
        "sd3",
        dict(
            sample_size=16,
            patch_size=2,
            in_channels=16,
            out_channels=16,
            num_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=64,
            caption_projection_dim=32,
            pooled_projection_dim=64,
            pos_embed_max_size=64,
            dual_attention_layers=(0,),
            qk_norm="rms_norm",
        ),
        {
            "text_encoder": _tiny_encoder("sd3", "text_encoder", _clip(32, 2, "quick_gelu", 32)),
            "text_encoder_2": _tiny_encoder("sd3", "text_encoder_2", _clip(32, 2, "gelu", 32)),
            "text_encoder_3": _tiny_encoder("sd3", "text_encoder_3", _t5(64)),
        },
        "SD3Transformer2DModel",
    ),
    # FLUX.1 [dev]'s layout: double and single blocks, the guidance embedder; rotary axes that add
    # up to the head width, as Flux's (16, 56, 56) add up to 128.
    "flux": Architecture(
        "flux",
        dict(
            patch_size=1,
            in_channels=64,
            num_layers=2,
            num_single_layers=2,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            guidance_embeds=True,
            axes_dims_rope=(4, 6, 6),
        ),
        {
            "text_encoder": _tiny_encoder("flux", "text_encoder", _clip(32, 2, "quick_gelu", 32)),
            "text_encoder_2": _tiny_encoder("flux", "text_encoder_2", _t5(32)),
        },
        "FluxTransformer2DModel",
    ),
}

TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 2,
    up_block_types=("UpDecoderBlock2D",) * 2,
    block_out_channels=(32, 32),
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=16,
)
#: SD3's and Flux's VAE: 16 latent channels, no quant convs, their scaling and shift factors.
_DIT_VAE = dict(TINY_VAE, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False)
_DIT_VAE_FACTORS = {"sd3": (1.5305, 0.0609), "flux": (0.3611, 0.1159)}
SCHEDULER = dict(
    beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
)
#: The flow-matching schedulers of stabilityai/stable-diffusion-3.5-medium and FLUX.1-dev.
FLOW_SCHEDULERS: dict[str, dict] = {
    "sd3": dict(num_train_timesteps=1000, shift=3.0),
    "flux": dict(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    ),
}
#: As kohya's sd-scripts names each family in ``modelspec.architecture``.
MODELSPEC_ARCHITECTURE = {
    "sd1": "stable-diffusion-v1",
    "sd2": "stable-diffusion-v2-768-v",
    "sdxl": "stable-diffusion-xl-v1-base",
    "sd3": "stable-diffusion-3.5-medium",
    "flux": "flux-1-dev",
}

# ---------------------------------------------------------------------------------------
# Models


@dataclass
class TinyModels:
    """The random-weight modules of one tiny base (text encoders in component order)."""

    base: str
    #: The UNet, or the transformer of a DiT (``component`` says which).
    denoiser: Denoiser
    vae: AutoencoderKL
    text_encoders: dict[str, torch.nn.Module] = field(default_factory=dict)

    @property
    def component(self) -> str:
        """``unet`` or ``transformer``, as diffusers folders and canonical layer names call it."""
        return TINY[self.base].denoiser_component

    def weights(self) -> dict[str, torch.Tensor]:
        """Canonical layer name (as in :mod:`.layermap`) → weight, for every adaptable layer."""
        out = {}
        for component, sd in self.state_dicts().items():
            if component == "vae":
                continue
            for key, tensor in sd.items():
                if key.endswith(".weight") and tensor.ndim in (2, 4):
                    out[f"{component}.{key.removesuffix('.weight')}"] = tensor
        return out

    def state_dicts(self) -> dict[str, dict[str, torch.Tensor]]:
        """Per component, the state dict under the names diffusers folders use."""
        out = {self.component: self.denoiser.state_dict(), "vae": self.vae.state_dict()}
        for component, model in self.text_encoders.items():
            sd = model.state_dict()
            clip = TINY[self.base].text_encoders[component].model == "clip"
            out[component] = {canonical_text_key(k): v for k, v in sd.items()} if clip else sd
        return out


def canonical_text_key(key: str) -> str:
    """transformers 5 drops ``text_model.`` from ``CLIPTextModel``; canonical names keep it."""
    return key if key.startswith(("text_model.", "text_projection")) else "text_model." + key


def _jitter(model: _M, scale: float = 0.02) -> _M:
    """Perturb every parameter, so no two tensors (norms and zero biases included) are equal."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model.eval()


def _cast(model: _M, dtype: torch.dtype) -> _M:
    # nn.Module.to, not diffusers' override, which warns about fp32 modules these models lack.
    return torch.nn.Module.to(model, dtype)


def _text_encoder(spec: TextEncoderSpec) -> torch.nn.Module:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    if spec.model == "t5":
        return T5EncoderModel(T5Config(**spec.config))
    cls = CLIPTextModelWithProjection if spec.with_projection else CLIPTextModel
    return cls(CLIPTextConfig(**spec.config))


def build_models(base: str, seed: int = 0, dtype: torch.dtype = torch.float32) -> TinyModels:
    """Random-weight denoiser, text encoder(s) and VAE of ``TINY[base]``, the same for a seed.

    Weights are drawn in fp32 and then cast to ``dtype``.
    """
    # From its module, as in Architecture.meta_denoiser (the top-level names type as placeholders).
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL

    arch = TINY[base]
    vae_config = TINY_VAE
    if base in _DIT_VAE_FACTORS:
        scaling, shift = _DIT_VAE_FACTORS[base]
        vae_config = dict(_DIT_VAE, scaling_factor=scaling, shift_factor=shift)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1009 + list(TINY).index(base))
        denoiser = cast(Denoiser, _jitter(arch.denoiser_type()(**arch.denoiser)))
        vae = _jitter(AutoencoderKL(**vae_config))
        encoders = {c: _cast(_jitter(_text_encoder(spec)), dtype) for c, spec in arch.text_encoders.items()}
    return TinyModels(base, _cast(denoiser, dtype), _cast(vae, dtype), encoders)


def save_pipeline(models: TinyModels, folder: Path) -> Path:
    """Save ``models`` as a diffusers pipeline folder (safetensors, in the models' dtype)."""
    # The pipelines from their modules, as in build_models (the top-level names type as placeholders).
    from diffusers import EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.flux.pipeline_flux import FluxPipeline
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
    from diffusers.pipelines.stable_diffusion_3.pipeline_stable_diffusion_3 import StableDiffusion3Pipeline
    from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import StableDiffusionXLPipeline

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = clip_tokenizer(Path(tmp))
    encoders: dict = models.text_encoders
    pipe: StableDiffusionPipeline | StableDiffusionXLPipeline | StableDiffusion3Pipeline | FluxPipeline
    if models.base in FLOW_SCHEDULERS:
        flow = dict(
            transformer=models.denoiser,
            vae=models.vae,
            scheduler=FlowMatchEulerDiscreteScheduler(**FLOW_SCHEDULERS[models.base]),
            tokenizer=tokenizer,
            text_encoder=encoders["text_encoder"],
        )
        if models.base == "flux":
            pipe = FluxPipeline(**flow, text_encoder_2=encoders["text_encoder_2"], tokenizer_2=t5_tokenizer())
        else:
            pipe = StableDiffusion3Pipeline(
                **flow,
                text_encoder_2=encoders["text_encoder_2"],
                tokenizer_2=tokenizer,
                text_encoder_3=encoders["text_encoder_3"],
                tokenizer_3=t5_tokenizer(),
            )
        pipe.save_pretrained(folder, safe_serialization=True)
        return Path(folder)
    parts = dict(
        vae=models.vae,
        unet=models.denoiser,
        scheduler=EulerDiscreteScheduler(**SCHEDULER),
        tokenizer=tokenizer,
        text_encoder=encoders["text_encoder"],
    )
    if models.base == "sd1":
        # diffusers annotates these two as required, yet takes None (with requires_safety_checker=False).
        pipe = StableDiffusionPipeline(
            **parts,
            safety_checker=None,  # type: ignore[arg-type]
            feature_extractor=None,  # type: ignore[arg-type]
            requires_safety_checker=False,
        )
    elif models.base == "sdxl":
        pipe = StableDiffusionXLPipeline(**parts, text_encoder_2=encoders["text_encoder_2"], tokenizer_2=tokenizer)
    else:
        raise ValueError(f"no tiny diffusers pipeline for {models.base!r} (sd1, sdxl, sd3 or flux)")
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_controlnet(models: TinyModels, seed: int = 0, dtype: torch.dtype = torch.float32) -> ControlNetModel:
    """A ControlNet initialised from the tiny UNet (``ControlNetModel.from_unet``), then trained
    for zero steps but jittered so its zero convolutions are not zero.

    Its conditioning embedding downsamples the control image as much as the tiny VAE downsamples
    a picture (SD's 8× uses four channel widths; the tiny VAE's 2× uses two), so the control
    features land on the latent grid and the ControlNet runs on its base at any render size."""
    from diffusers.models.controlnets.controlnet import ControlNetModel  # from its module: see build_models
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    assert isinstance(models.denoiser, UNet2DConditionModel), "ControlNets are made for the UNet families"
    widths = (16, 32, 96, 256)[: len(models.vae.config["block_out_channels"])]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 1009 + 17)
        controlnet = _jitter(ControlNetModel.from_unet(models.denoiser, conditioning_embedding_out_channels=widths))
    return _cast(controlnet, dtype)
