"""Checks of a quick-test that need no loaded base, run before the 20–30 s it takes to load one.

The base's family and its configs (size rule, native size) come from its header and config
files; each adapter's kind and family from its header; images and the output folder are opened.
:class:`~.workbench.Workbench` runs the same checks again on what it loaded, for scripts that
call it directly. No torch here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loradex.adapters.errors import ArtifactNotFoundError, UnsupportedError
from loradex.adapters.io import bounded_json
from loradex.adapters.io.atomic import output_error
from loradex.adapters.model.artifact import ArtifactInfo, looks_like_hub_id
from loradex.adapters.model.probe import probe
from loradex.adapters.vocabulary import Kind

from .base import base_family, check_family, config_folder
from .control import open_image
from .prompts import parse_attention, split_lora_tags

#: The adapter kinds quick-test applies.
KINDS = (Kind.LORA, Kind.LYCORIS, Kind.TEXTUAL_INVERSION, Kind.CONTROLNET)


@dataclass(frozen=True)
class BaseCheck:
    """A local base as far as its header and configs tell.

    Attributes:
        path: the file or folder (absolute).
        family: ``sd1``, ``sd2`` or ``sdxl``.
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


def check_size(width: int, height: int, multiple: int) -> None:
    if width % multiple or height % multiple or width <= 0 or height <= 0:
        raise UnsupportedError(f"size {width}x{height}: width and height must be positive multiples of {multiple}")


def geometry(configs: Path) -> tuple[tuple[int, int], int] | None:
    """(native size, size multiple) from a diffusers folder's unet and vae configs; None without them."""
    try:
        unet = bounded_json.loads((configs / "unet" / "config.json").read_text())
        vae = bounded_json.loads((configs / "vae" / "config.json").read_text())
        vae_scale = 2 ** (len(vae["block_out_channels"]) - 1)
        side = int(unet["sample_size"]) * vae_scale
        return (side, side), size_multiple(len(unet["block_out_channels"]), vae_scale)
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
) -> BaseCheck | None:
    """Every check of a render that needs no loaded base; the output folder last, so that a
    refused run leaves no new folder behind. Returns the base as checked (None for a Hub id)."""
    check_prompt(prompt, negative)
    checked = check_base(base, config)
    family = checked.family if checked is not None else None
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
