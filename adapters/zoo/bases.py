"""The tiny bases saved as the tools of the field save them: a diffusers pipeline folder, an
original single file (LDM/SGM keys) and the LDM training ``.ckpt``."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from loradex.adapters.io.writer import save_tensors

from .models import MODELSPEC_ARCHITECTURE, TinyModels, build_models, save_pipeline
from .single_files import ldm_state_dict


def pipeline_folder(models: TinyModels, root: Path) -> Path:
    folder = Path(root) / f"tiny-{models.base}-diffusers"
    shutil.rmtree(folder, ignore_errors=True)
    return save_pipeline(models, folder)


def single_file(models: TinyModels, root: Path, *, name: str | None = None, title: str | None = None) -> Path:
    """``root/<name>.safetensors`` (``tiny-<base>`` by default) with ``title`` as its modelspec title."""
    name = name or f"tiny-{models.base}"
    path = Path(root) / f"{name}.safetensors"
    metadata = {
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": MODELSPEC_ARCHITECTURE[models.base],
        "modelspec.implementation": "https://github.com/Stability-AI/generative-models",
        "modelspec.title": title or name,
        "format": "pt",
    }
    save_tensors(path, ldm_state_dict(models), metadata)
    return path


def ldm_ckpt(models: TinyModels, root: Path) -> Path:
    """The single file as LDM training saved it: a zip pickle, weights under ``state_dict``."""
    path = Path(root) / f"tiny-{models.base}.ckpt"
    torch.save({"state_dict": ldm_state_dict(models), "global_step": 470000}, path)
    return path


def tiny_pipeline_folder(root: Path, base: str, seed: int = 0) -> Path:
    """Save the tiny ``base`` (``"sd1"`` or ``"sdxl"``) as a diffusers pipeline folder (fp16).

    Returns ``root / "tiny-<base>-diffusers"``; load it with ``dtype=torch.float32`` to run it
    on CPU (transformers keeps the text encoders in the file's fp16 otherwise).
    """
    Path(root).mkdir(parents=True, exist_ok=True)
    return pipeline_folder(build_models(base, seed, torch.float16), Path(root))


def tiny_single_file(root: Path, base: str, seed: int = 0) -> Path:
    """Save the tiny ``base`` (``"sd1"``, ``"sd2"``, ``"sdxl"``) as an original single file (fp16).

    Returns ``root / "tiny-<base>.safetensors"``: UNet, text encoder(s) and VAE under their
    LDM/SGM keys; same weights as :func:`tiny_pipeline_folder` for the same seed.
    """
    Path(root).mkdir(parents=True, exist_ok=True)
    return single_file(build_models(base, seed, torch.float16), Path(root))
