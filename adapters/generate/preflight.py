"""Checks of a quick-test that need no loaded base, run before the 20–30 s it takes to load one.

The base's family and its configs (size rule, native size) come from its header and config
files; each adapter's kind and family from its header; images and the output folder are opened.
:class:`~.workbench.Workbench` runs the same checks again on what it loaded, for scripts that
call it directly. No torch here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradex.adapters.errors import ArtifactNotFoundError, UnsupportedError
from loradex.adapters.io import bounded_json
from loradex.adapters.io.atomic import output_error
from loradex.adapters.model.architectures import DIT_BASES
from loradex.adapters.model.artifact import ArtifactInfo, looks_like_hub_id
from loradex.adapters.model.probe import probe
from loradex.adapters.vocabulary import Kind

from .base import PIPELINES, base_family, check_family, config_folder
from .control import open_image
from .prompts import emphasised, parse_attention, split_lora_tags
from .samplers import sampler as named_sampler

#: The adapter kinds quick-test applies.
KINDS = (Kind.LORA, Kind.LYCORIS, Kind.TEXTUAL_INVERSION, Kind.CONTROLNET)


@dataclass(frozen=True)
class BaseCheck:
    """A local base as far as its header and configs tell.

    Attributes:
        path: the file or folder (absolute).
        family: ``sd1``, ``sd2``, ``sdxl``, ``sd3`` or ``flux``.
        configs: the diffusers folder holding its configs (the base itself, ``--config`` or the
            Hugging Face cache); None when they are still to be downloaded.
    """

    path: Path
    family: str
    configs: Path | None


def check_base(source: str | Path, config: str | Path | None = None) -> BaseCheck | None:
    """The base ``source`` checked without loading it; None for a Hub id (checked once fetched)."""
    path = Path(source).expanduser()
    if not path.exists():
        if looks_like_hub_id(str(source)):
            return None
        raise ArtifactNotFoundError("no such file or folder", path=path)
    path = path.resolve()
    family = base_family(path)
    return BaseCheck(path, family, config_folder(path, family, config))


def size_multiple(unet_blocks: int, vae_scale: int) -> int:
    """Width and height must be multiples of this: the VAE's factor times the UNet's downsamplings."""
    return vae_scale * 2 ** (unet_blocks - 1)


#: FluxPipeline's ``default_sample_size`` (its transformer's config has no sample size).
_FLUX_SAMPLE_SIZE = 128


def size_rule(denoiser: Mapping[str, Any], vae_scale: int) -> tuple[tuple[int, int], int]:
    """(native size, size multiple) of a base from its denoiser's config and its VAE's factor: a
    UNet's downsamplings, SD3's patches, Flux's latents packed 2×2."""
    if denoiser.get("_class_name") == "FluxTransformer2DModel":
        side = _FLUX_SAMPLE_SIZE * vae_scale
        return (side, side), 2 * vae_scale
    side = int(denoiser["sample_size"]) * vae_scale
    if "patch_size" in denoiser:
        return (side, side), int(denoiser["patch_size"]) * vae_scale
    return (side, side), size_multiple(len(denoiser["block_out_channels"]), vae_scale)


def check_size(width: int, height: int, multiple: int) -> None:
    if width % multiple or height % multiple or width <= 0 or height <= 0:
        raise UnsupportedError(f"size {width}x{height}: width and height must be positive multiples of {multiple}")


def geometry(configs: Path) -> tuple[tuple[int, int], int] | None:
    """(native size, size multiple) from a diffusers folder's denoiser and vae configs; None without them."""
    try:
        denoiser = configs / "unet" / "config.json"
        if not denoiser.is_file():
            denoiser = configs / "transformer" / "config.json"
        vae = bounded_json.loads((configs / "vae" / "config.json").read_text())
        return size_rule(bounded_json.loads(denoiser.read_text()), 2 ** (len(vae["block_out_channels"]) - 1))
    except (OSError, ValueError, KeyError, TypeError):  # not readable as a diffusers config: no geometry known
        return None


def check_adapter(path: Path, info: ArtifactInfo, family: str | None) -> None:
    """Refuse a file quick-test does not apply, one made for another family than the base's, or a
    LoRA with NaN/Inf factors (it would render black images, as a bake of it would)."""
    if info.kind not in KINDS:
        raise UnsupportedError(
            f"quick-test applies LoRA, LyCORIS, textual inversion and ControlNet; this is {info.kind}", path=path
        )
    if family is not None:
        check_family(info.base, family, path)
        if family in DIT_BASES and info.kind not in (Kind.LORA, Kind.LYCORIS):
            raise UnsupportedError(
                f"on a {family} base quick-test applies LoRA and LyCORIS files; this is {info.kind}", path=path
            )
    if info.kind in ("lora", "lycoris"):
        # Reads the factors with torch, as the render will anyway.
        from loradex.adapters.ops.factors import check_finite

        check_finite(info)


def writable_folder(out: str | Path) -> Path:
    """Create ``out`` (and its parents) and prove a file can be written in it.

    Raises:
        OutputError: it cannot be created or written (read-only, a file in the way, a full disk).
    """
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe_file = tempfile.mkstemp(prefix=".loradex-write-check.", dir=out)
        os.close(fd)
        os.unlink(probe_file)
    except OSError as exc:
        raise output_error(exc, out) from exc
    return out


def check_for_family(family: str, prompt: str | None, negative: str | None, clip_skip: int | None = None) -> None:
    """Refuse what the family's pipeline does not take: a negative prompt on FLUX.1 (distilled
    guidance has no unconditional pass), and on SD3 and FLUX.1 A1111's emphasis and Clip skip,
    which loradex computes for the CLIP-only encoders of SD1.x, SD2.x and SDXL."""
    if negative and not PIPELINES[family].negative:
        raise UnsupportedError(
            f"a {family} base takes no negative prompt (its guidance is distilled); leave --negative out"
        )
    if family in DIT_BASES:
        if clip_skip is not None:
            raise UnsupportedError(f"--clip-skip is for SD1.x, SD2.x and SDXL bases; this base is {family}")
        if any(emphasised(split_lora_tags(text)[0]) for text in (prompt, negative) if text):
            raise UnsupportedError(
                f"prompt: A1111's emphasis ((word), [word], (word:1.2)) is for SD1.x, SD2.x and SDXL bases; "
                f"this base is {family}: give the prompt without brackets"
            )


def check_prompt(prompt: str | None, negative: str) -> None:
    """Refuse what quick-test cannot render of A1111's prompt syntax (BREAK, other networks)."""
    for text in (prompt, negative):
        if text:
            parse_attention(split_lora_tags(text)[0])


def preflight(
    base: str | Path,
    adapters: Sequence[tuple[str | Path, float]],
    *,
    config: str | Path | None = None,
    size: tuple[int, int] | None = None,
    out: str | Path | None = None,
    prompt: str | None = None,
    negative: str = "",
    control_image: str | Path | None = None,
    init_image: str | Path | None = None,
    clip_skip: int | None = None,
    sampler: str | None = None,
) -> BaseCheck | None:
    """Every check of a render that needs no loaded base; the output folder last, so that a
    refused run leaves no new folder behind. Returns the base as checked (None for a Hub id)."""
    check_prompt(prompt, negative)
    checked = check_base(base, config)
    family = checked.family if checked is not None else None
    if family is not None:
        check_for_family(family, prompt, negative, clip_skip)
        named_sampler(sampler, flow=PIPELINES[family].flow)
    controlnets = 0
    for given, _ in adapters:
        path = Path(os.path.abspath(Path(given).expanduser()))
        info = probe(path)
        check_adapter(path, info, family)
        controlnets += info.kind == "controlnet"
    if controlnets > 1:
        raise UnsupportedError("one ControlNet per render")
    if controlnets and control_image is None:
        raise UnsupportedError("a ControlNet needs a control image (--control-image)")
    for image in (control_image, init_image):
        if image is not None:
            open_image(image)
    shape = geometry(checked.configs) if checked is not None and checked.configs is not None else None
    if size is not None and shape is not None:
        check_size(*size, shape[1])
    if out is not None:
        writable_folder(out)
    return checked
