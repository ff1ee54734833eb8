"""What the peers compute, on fixed inputs: model outputs through diffusers, and the dense
delta of each layer of a LoRA file (the quantity every operation must preserve)."""

from __future__ import annotations

import torch

from loradex.adapters import probe
from loradex.adapters.io.weights import open_weights
from loradex.adapters.ops.factors import layer_tensors
from loradex.adapters.ops.lowrank import delta


def load_pipeline(path, config_folder=None, *, sdxl: bool = False):
    """A diffusers pipeline in fp32 from a folder, or from a single file with ``config_folder``."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    cls = StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline
    if config_folder is None:
        return cls.from_pretrained(path, dtype=torch.float32)
    return cls.from_single_file(str(path), config=str(config_folder), local_files_only=True, dtype=torch.float32)


def unet_output(pipe) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(1, 4, 8, 8, generator=gen)
    context = torch.randn(1, 5, pipe.unet.config.cross_attention_dim, generator=gen)
    kwargs = {}
    if pipe.unet.config.addition_embed_type == "text_time":
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.randn(1, 1280, generator=gen),
            "time_ids": torch.randn(1, 6, generator=gen),
        }
    with torch.no_grad():
        return pipe.unet(sample, 10, context, **kwargs).sample


def text_output(model) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([[0, 5, 9, 17, 1]]))[0]


def outputs(pipe) -> tuple[torch.Tensor, torch.Tensor]:
    """UNet and (first) text-encoder outputs on fixed inputs."""
    return unet_output(pipe), text_output(pipe.text_encoder)


def deltas(path) -> dict[str, torch.Tensor]:
    """Canonical layer → dense ΔW (float32, scale included) of every layer of an adapter."""
    info = probe(path)
    with open_weights(info.path) as src:
        return {
            layer.canonical: delta(
                layer.algorithm, {k: v.float() for k, v in layer_tensors(src, layer).items()}, layer.scale, layer.shape
            )
            for layer in info.layers
        }


def peft_dora_unet(folder, out):
    """The tiny UNet of a diffusers ``folder`` with a PEFT DoRA (rank 4, alpha = rank, random
    factors and magnitudes) on its attention projections; PEFT's state dict is saved to ``out``
    as a diffusers-format LoRA file. Returns the unmerged PEFT model: PEFT's own DoRA."""
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
    from safetensors.torch import save_file

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=torch.float32)
    unet = inject_adapter_in_model(
        LoraConfig(
            r=4,
            lora_alpha=4,
            use_dora=True,
            init_lora_weights=False,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        ),
        unet,
    )
    with torch.no_grad():  # magnitudes that differ from the weight norms, so the rescaling is visible
        for name, param in unet.named_parameters():
            if "lora_magnitude_vector" in name:
                param.mul_(1 + 0.1 * torch.randn_like(param))
    save_file({f"unet.{k}": v.contiguous() for k, v in get_peft_model_state_dict(unet).items()}, out)
    return unet
