"""The workbench: one base kept warm, any mix of adapters rendered on it as a seed × scale grid.

::

    from loradex.adapters.generate import Workbench

    bench = Workbench("sd15.safetensors", config="sd15-diffusers/")
    grid = bench.render([("style.safetensors", 0.8), ("detail.safetensors", -0.3)],
                        prompt="a lighthouse", seeds=[1, 2], scales=[0, 0.5, 1], out="grid/")
    grid.sheet  # grid/contact-sheet.png; grid.images: one ImageRecord per PNG

Changing the LoRAs, their weights, the embeddings or the ControlNet between renders never
reloads the base (:attr:`Workbench.loads` counts the loads).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loradex.adapters.errors import UnsupportedError
from loradex.adapters.jsonable import jsonable
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.adapters.threads import torch_threads

from .base import LoadedBase, Placement, load_base, placement
from .control import CANNY_HIGH, CANNY_LOW, canny, crop_and_resize, open_image
from .grid import Grid, JobSize, Stopped, steps_per_image
from .inputs import AdapterFiles, RenderInputs
from .loras import LoraSet
from .preflight import check_for_family, check_size, size_rule, writable_folder
from .prompts import check_clip_skip, emphasised, encode, own_encoding, split_lora_tags, tagged_loras
from .records import FileRef, ImageRecord, save_image
from .samplers import DEFAULT_STEPS
from .samplers import sampler as named_sampler
from .sheet import contact_sheet

SHEET_NAME = "contact-sheet.png"
#: Above this many pixels the VAE decodes in tiles (an SDXL 1024² decode alone needs ~10 GB in fp16).
_TILE_PIXELS = 1536 * 1536


class Workbench:
    """A base pipeline loaded once, on which adapters are applied and switched.

    Args:
        base: a diffusers folder, a single-file checkpoint or a Hub id (from the cache offline).
        device, dtype: default cuda → fp16, mps → fp16, cpu → fp32.
        offload: model CPU offload (CUDA only) for GPUs too small to hold the whole pipeline.
        config: for a single file, a diffusers folder of the same architecture.
        patch_only: apply every LoRA by weight patching, never through diffusers adapters.
    """

    @torch_threads()
    def __init__(
        self,
        base: str | Path,
        *,
        device: str | None = None,
        dtype: str | None = None,
        offload: bool = False,
        config: str | Path | None = None,
        patch_only: bool = False,
    ) -> None:
        self.placement: Placement = placement(device, dtype, offload=offload)
        self.base: LoadedBase = load_base(base, self.placement, config=config)
        self.loads = 1
        self.pipe = self.base.pipe
        self._scheduler_config = self.pipe.scheduler.config
        self.loras = LoraSet(self.pipe, self.base.family, patch_only=patch_only, architecture=self.base.architecture())
        self.files = AdapterFiles(self.base, self.placement, self.loras)
        self._variants: dict[tuple[str, int], Any] = {}

    # -- rendering -------------------------------------------------------------------

    def job_size(
        self, seeds: Sequence[int], scales: Sequence[float], steps: int, strength: float | None = None
    ) -> JobSize:
        images = len(seeds) * len(scales)
        return JobSize(images, images * steps_per_image(steps, strength))

    @torch_threads()
    def render(
        self,
        adapters: Sequence[tuple[str | Path, float]] = (),
        *,
        prompt: str | None = None,
        negative_prompt: str = "",
        seeds: Sequence[int] = (1,),
        scales: Sequence[float] = (1.0,),
        steps: int = DEFAULT_STEPS,
        guidance_scale: float | None = None,
        sampler: str | None = None,
        size: tuple[int, int] | None = None,
        clip_skip: int | None = None,
        control_image: str | Path | Any | None = None,
        control_canny: bool = False,
        control_config: str | Path | None = None,
        init_image: str | Path | Any | None = None,
        strength: float = 0.75,
        out: str | Path | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_image: Callable[[ImageRecord], None] | None = None,
        on_start: Callable[[JobSize], None] | None = None,
        resolve_lora: Callable[[str], str | Path] | None = None,
    ) -> Grid:
        """Render the seed × scale grid of ``adapters`` (``(path, weight)``; a scale multiplies every
        weight, and at scale 0 no adapter is applied: the base alone).

        Args:
            prompt: default: each adapter's first trigger word, joined. A1111's syntax: a
                ``<lora:NAME:WEIGHT>`` tag applies that LoRA (``resolve_lora(NAME)`` gives its file)
                and is taken out of the text; ``(word:1.2)``, ``(word)``, ``[word]`` weight words.
            negative_prompt: none on a FLUX.1 base (refused: its guidance is distilled).
            guidance_scale: as the base's pipeline names it; default 7, FLUX.1's distilled guidance 3.5.
            sampler: an A1111 sampler name (default DPM++ 2M Karras); SD3 and FLUX.1 take Euler,
                their own flow-matching scheduler (the default there).
            clip_skip: A1111's Clip skip (1: the last text-encoder layer, 2: the penultimate).
            size: (width, height); default the base's native size.
            control_image: needed when a ControlNet is among the adapters (``control_canny``:
                run canny on it first, for a plain photo).
            init_image, strength: img2img (strength 0 returns the init image unchanged).
            out: folder for the PNGs and the contact sheet (created); None keeps images in memory.
            progress: called with a ``generate`` event after every denoising step.
            should_stop: polled after every step; true stops the render there, keeping the images
                already finished (``Grid.interrupted``).
            on_image: called with each image's record as soon as its PNG is written.
            on_start: called with the job's size once every input is loaded, before the first step.
        """
        renders = self.base.renders
        spec = named_sampler(sampler, flow=renders.flow)
        guidance = renders.guidance if guidance_scale is None else guidance_scale
        seeds, scales = [int(s) for s in seeds], [float(s) for s in scales]
        if not seeds or not scales:
            raise UnsupportedError("give at least one seed and one scale")
        if steps < 1:
            raise UnsupportedError(f"steps must be at least 1, not {steps}")
        if init_image is not None and not 0 <= strength <= 1:
            raise UnsupportedError(f"strength must be between 0 and 1, not {strength:g}")
        width, height = size or self.native_size()
        self._check_size(width, height)
        if prompt is not None:
            prompt, tags = split_lora_tags(prompt)
            adapters = [*adapters, *tagged_loras(tags, resolve_lora)]
        inputs = self.files.load(adapters, control_config)
        control = self._control_image(control_image, control_canny, width, height) if inputs.controlnet else None
        control_record = _control_record(control_image, control_canny) if inputs.controlnet else {}
        init = self._picture(init_image).resize((width, height)) if init_image is not None else None
        if prompt is None:
            if not inputs.triggers:
                raise UnsupportedError("no prompt given and no adapter has trigger words; give a prompt (--prompt)")
            prompt = ", ".join(inputs.triggers)
        check_for_family(self.base.family, prompt, negative_prompt, clip_skip)
        own = own_encoding(prompt, negative_prompt, clip_skip)  # also refuses BREAK before any step
        if clip_skip is not None:
            check_clip_skip(self.pipe, clip_skip)
        per_image = steps_per_image(steps, strength if init is not None else None)
        job = self.job_size(seeds, scales, steps, strength if init is not None else None)
        folder = writable_folder(out) if out is not None else None
        if width * height > _TILE_PIXELS:
            self.pipe.vae.enable_tiling()
        grid = Grid([], seeds, scales, job)
        if on_start is not None:
            on_start(job)
        cells: list[list[Any | None]] = [[None] * len(scales) for _ in seeds]
        done_steps = 0
        try:
            for i, seed in enumerate(seeds):
                for j, scale in enumerate(scales):
                    record, picture = self._one(
                        inputs,
                        spec,
                        prompt=prompt,
                        negative_prompt=negative_prompt,
                        seed=seed,
                        scale=scale,
                        steps=steps,
                        guidance_scale=guidance,
                        width=width,
                        height=height,
                        clip_skip=clip_skip,
                        own=own,
                        control=control,
                        control_record=control_record,
                        init=init,
                        init_path=init_image,
                        strength=strength,
                        step=self._step_callback(
                            progress, should_stop, done_steps, job.steps, f"seed {seed}, scale {scale:g}"
                        ),
                    )
                    done_steps += per_image
                    if folder is not None:
                        save_image(
                            picture,
                            record,
                            folder / f"{len(grid.images):03d}-seed{seed}-scale{scale:g}.png",
                            spec.a1111,
                        )
                    grid.images.append(record)
                    grid.pictures.append(picture)
                    cells[i][j] = picture
                    if on_image is not None:
                        on_image(record)
        except Stopped:
            grid.interrupted = True
        finally:
            if folder is not None and grid.images:
                grid.sheet = self._write_sheet(
                    folder, cells, seeds, scales, inputs, prompt, control if inputs.controlnet else None, control_canny
                )
        return grid

    def native_size(self) -> tuple[int, int]:
        return self._size_rule()[0]

    def _check_size(self, width: int, height: int) -> None:
        check_size(width, height, self._size_rule()[1])

    def _size_rule(self) -> tuple[tuple[int, int], int]:
        denoiser = getattr(self.pipe, "unet", None) or self.pipe.transformer
        return size_rule(denoiser.config, self.pipe.vae_scale_factor)

    @staticmethod
    def _picture(image: str | Path | Any) -> Any:
        return open_image(image) if isinstance(image, (str, Path)) else image.convert("RGB")

    def _control_image(self, image: Any, use_canny: bool, width: int, height: int) -> Any:
        if image is None:
            raise UnsupportedError("a ControlNet needs a control image (--control-image)")
        picture = crop_and_resize(self._picture(image), width, height)
        return canny(picture) if use_canny else picture

    def _step_callback(
        self, progress: Progress | None, should_stop: Callable[[], bool] | None, done: int, total: int, item: str
    ) -> Callable:
        counter = [done]

        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            counter[0] += 1
            if progress is not None:
                progress(ProgressEvent("generate", counter[0], total, item))
            if should_stop is not None and should_stop():
                raise Stopped("stopped after the current step")
            return kwargs

        return on_step_end

    def _pipeline(self, controlnet: Any | None, img2img: bool) -> Any:
        """The pipeline variant for this render, sharing every component with the base (from_pipe)."""
        if controlnet is None and not img2img:
            return self.pipe
        key = ("img2img" if img2img else "txt2img", id(controlnet))
        if key not in self._variants:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

            auto = AutoPipelineForImage2Image if img2img else AutoPipelineForText2Image
            extra = {"controlnet": controlnet} if controlnet is not None else {}
            variant = auto.from_pipe(self.pipe, **extra)
            variant.set_progress_bar_config(disable=True)
            self._variants[key] = variant
        return self._variants[key]

    def _one(
        self,
        inputs: RenderInputs,
        spec: Any,
        *,
        prompt: str,
        negative_prompt: str,
        seed: int,
        scale: float,
        steps: int,
        guidance_scale: float,
        width: int,
        height: int,
        clip_skip: int | None,
        own: bool,
        control: Any,
        control_record: dict[str, Any],
        init: Any,
        init_path: Any,
        strength: float,
        step: Callable,
    ) -> tuple[ImageRecord, Any]:
        import torch

        self.loras.apply([(lora, weight * scale) for lora, weight, _ in inputs.loras])
        # At scale 0 no embedding is in the pipeline, and the record lists none to load.
        embeddings = self.files.sync_embeddings(
            [(path, ref) for path, weight, ref in inputs.embeddings if weight * scale != 0]
        )
        cn = inputs.controlnet if inputs.controlnet is not None and inputs.controlnet[1] * scale != 0 else None
        pipe = self._pipeline(cn[0] if cn else None, init is not None)
        pipe.scheduler = spec.scheduler(self._scheduler_config)
        negative = negative_prompt if self.base.renders.negative else None
        record = ImageRecord(
            prompt=prompt,
            negative_prompt=negative,
            seed=seed,
            steps=steps,
            guidance_scale=guidance_scale,
            width=width,
            height=height,
            scheduler=jsonable(spec),
            sampler=spec.a1111[0],
            generator_device="cpu",
            scale=scale,
            dtype=self.placement.dtype,
            pipeline=type(pipe).__name__,
            base=self.files.ref(self.base.path, "checkpoint"),
            adapters=[
                FileRef(ref.path, ref.sha256, ref.kind, weight * scale, ref.short_hash)
                for _, weight, ref in (*inputs.loras, *inputs.embeddings)
            ],
            embeddings=embeddings,
            clip_skip=clip_skip,
            emphasis="a1111" if emphasised(prompt) or emphasised(negative_prompt) else None,
        )
        if inputs.controlnet is not None:
            _, weight, ref = inputs.controlnet
            record.adapters.append(FileRef(ref.path, ref.sha256, ref.kind, weight * scale, ref.short_hash))
            if cn:
                record.controlnet = {
                    "path": ref.path,
                    "sha256": ref.sha256,
                    "conditioning_scale": weight * scale,
                    **control_record,
                }
        if init is not None:
            record.init_image = {"path": _image_path(init_path), "strength": strength}
            if strength == 0:  # no denoising at all: the init image is the answer
                return record, init.copy()
        # The negative prompt goes in as recorded, "" included: SDXL pipelines treat None (not "")
        # as "zero the negative embeddings" (force_zeros_for_empty_prompt), so turning "" into
        # None rendered an image plain diffusers does not reproduce from the record.
        kwargs: dict[str, Any] = dict(
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=torch.Generator("cpu").manual_seed(seed),
            callback_on_step_end=step,
        )
        if own:  # after the LoRAs and embeddings of this image are in the text encoders
            kwargs.update(encode(pipe, prompt, negative_prompt, clip_skip=clip_skip))
        else:
            kwargs.update(prompt=prompt, **({} if negative is None else {"negative_prompt": negative}))
        if init is not None:
            kwargs.update(image=init, strength=strength)
        else:
            kwargs.update(width=width, height=height)
        if cn:
            kwargs["controlnet_conditioning_scale"] = cn[1] * scale
            kwargs["control_image" if init is not None else "image"] = control
            if init is not None:
                kwargs.update(width=width, height=height)
        with torch.inference_mode():
            picture = pipe(**kwargs).images[0]
        return record, picture

    def _write_sheet(
        self,
        folder: Path,
        cells: list[list[Any | None]],
        seeds: list[int],
        scales: list[float],
        inputs: RenderInputs,
        prompt: str,
        control: Any | None,
        use_canny: bool,
    ) -> Path:
        from .records import write_png

        # Each adapter with its weight at scale 1 (a column's scale multiplies them all).
        applied = [*inputs.loras, *inputs.embeddings, *([inputs.controlnet] if inputs.controlnet else [])]
        names = [f"{Path(ref.path).name}:{weight:g}" for _, weight, ref in applied]
        title = f"{' + '.join(names) or Path(self.base.source).name}: “{prompt}”"
        target = folder / SHEET_NAME
        shown = (f"control{' (canny)' if use_canny else ''}", control) if control is not None else None
        write_png(contact_sheet(cells, seeds, scales, title, control=shown), target, text={"Title": title})
        return target


def _image_path(image: Any) -> str | None:
    return os.path.abspath(image) if isinstance(image, (str, Path)) else None


def _control_record(image: Any, use_canny: bool) -> dict[str, Any]:
    """How the control image was made from what was given, for the record: the file (path and
    sha256; None for an image passed in memory), the preprocessor and A1111's resize mode."""
    import hashlib

    path = _image_path(image)
    record: dict[str, Any] = {
        "image": path,
        "image_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None,
        "preprocessor": "canny" if use_canny else None,
        "resize_mode": "Crop and Resize",
    }
    if use_canny:
        record["thresholds"] = [CANNY_LOW, CANNY_HIGH]
    return record
