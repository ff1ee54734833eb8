"""The tiny bases' original single-file layout (LDM/SGM keys, OpenCLIP's fused attention): the
inverse of diffusers' own LDM → diffusers converters (``convert_ldm_unet_checkpoint``,
``convert_ldm_clip_checkpoint``, ``convert_open_clip_checkpoint``, ``convert_ldm_vae_checkpoint``,
``convert_controlnet_checkpoint``): running those over what is written here gives back the
diffusers state dicts tensor for tensor. For the UNet families only: diffusers reads an original
DiT file only with the configs of the full-size model from the Hub, so the tiny DiTs are folders.
"""

from __future__ import annotations

import re

import torch

from loradex.adapters.model.architectures import LDM_PREFIXES
from loradex.adapters.model.single_file_names import ldm_unet_path, open_clip_path

from .models import TINY, TinyModels


def _split(key: str) -> tuple[str, str]:
    path, _, suffix = key.rpartition(".")
    return path, suffix


def unet_to_ldm(sd: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """Diffusers UNet state dict → LDM UNet keys (no prefix)."""
    attention_up = {int(m[1]) for k in sd if (m := re.match(r"up_blocks\.(\d+)\.attentions\.", k))}
    out = {}
    for key, tensor in sd.items():
        path, suffix = _split(key)
        out[f"{ldm_unet_path(path, config, attention_up)}.{suffix}"] = tensor
    return out


_CONTROLNET_TO_LDM = (
    (r"controlnet_cond_embedding\.conv_in", lambda m: "input_hint_block.0"),
    (r"controlnet_cond_embedding\.blocks\.(\d+)", lambda m: f"input_hint_block.{2 * (int(m[1]) + 1)}"),
    (r"controlnet_cond_embedding\.conv_out", lambda m: "input_hint_block.14"),
    (r"controlnet_down_blocks\.(\d+)", lambda m: f"zero_convs.{m[1]}.0"),
    (r"controlnet_mid_block", lambda m: "middle_block_out.0"),
)


def controlnet_to_ldm(sd: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """Diffusers ControlNet state dict → original ControlNet keys (no ``control_model.``)."""
    out = {}
    for key, tensor in sd.items():
        path, suffix = _split(key)
        for pattern, new in _CONTROLNET_TO_LDM:
            if m := re.fullmatch(pattern, path):
                out[f"{new(m)}.{suffix}"] = tensor
                break
        else:
            out[f"{ldm_unet_path(path, config, set())}.{suffix}"] = tensor
    return out


def _vae_path(path: str, num_up: int) -> str:
    path = path.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    path = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", path)
    path = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", path)
    path = re.sub(r"up_blocks\.(\d+)\.resnets\.", lambda m: f"up.{num_up - 1 - int(m[1])}.block.", path)
    path = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0\.", lambda m: f"up.{num_up - 1 - int(m[1])}.upsample.", path)
    path = re.sub(r"mid_block\.resnets\.(\d+)", lambda m: f"mid.block_{int(m[1]) + 1}", path)
    path = path.replace("mid_block.attentions.0.", "mid.attn_1.")
    for new, old in (("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")):
        path = re.sub(rf"attn_1\.{re.escape(new)}$", f"attn_1.{old}", path)
    return path


def vae_to_ldm(sd: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """Diffusers AutoencoderKL state dict → LDM VAE keys (attention as 1×1 convs)."""
    out = {}
    for key, tensor in sd.items():
        path, suffix = _split(key)
        if ".attn_1." in (ldm := _vae_path(path, len(config["up_block_types"]))) and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]
        out[f"{ldm}.{suffix}"] = tensor
    return out


def open_clip_to_ldm(sd: dict[str, torch.Tensor], hidden: int) -> dict[str, torch.Tensor]:
    """Canonical CLIP text state dict → OpenCLIP keys (fused q/k/v, transposed projection)."""
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}  # in_proj name → q/k/v parts
    renames = {
        "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
        "text_model.embeddings.position_embedding.weight": "positional_embedding",
        "text_model.final_layer_norm.weight": "ln_final.weight",
        "text_model.final_layer_norm.bias": "ln_final.bias",
    }
    for key, tensor in sd.items():
        path, suffix = _split(key)
        if key in renames:
            out[renames[key]] = tensor
        elif path == "text_projection":
            out["text_projection"] = tensor.T.contiguous()
        elif m := re.fullmatch(r"(text_model\.encoder\.layers\.\d+\.self_attn)\.(q|k|v)_proj", path):
            ldm, rows, _ = open_clip_path(path, hidden)
            name = ldm if suffix == "weight" else ldm.replace("in_proj_weight", "in_proj_bias")
            fused.setdefault(name, {})[m[2]] = tensor
        else:
            path = path.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
            out[f"{open_clip_path(path, hidden)[0].removesuffix('.weight')}.{suffix}"] = tensor
    for name, parts in fused.items():
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def ldm_state_dict(models: TinyModels) -> dict[str, torch.Tensor]:
    """Every tensor of ``models`` under its key in an original single-file checkpoint."""
    arch, prefixes = TINY[models.base], LDM_PREFIXES[models.base]
    sds = models.state_dicts()
    out = {prefixes["unet"] + k: v for k, v in unet_to_ldm(sds["unet"], dict(models.denoiser.config)).items()}
    out |= {prefixes["vae"] + k: v for k, v in vae_to_ldm(sds["vae"], dict(models.vae.config)).items()}
    for component, spec in arch.text_encoders.items():
        sd = sds[component]
        if spec.open_clip:
            sd = open_clip_to_ldm(sd, spec.config["hidden_size"])
        out |= {prefixes[component] + k: v for k, v in sd.items()}
    return out
