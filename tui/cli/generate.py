"""Quick-test: ``loradex try`` renders a seed × scale grid of adapters on a base; ``loradex eval``
scores a scale sweep with CLIP. Both need torch and diffusers, imported when they run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

import loradex.adapters.interrupts as interrupts
from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.generate.grid_options import parse_numbers, parse_size
from loradex.adapters.generate.samplers import DEFAULT_STEPS, SAMPLERS
from loradex.adapters.model.artifact import looks_like_hub_id
from loradex.adapters.words import count

from .operations import OPS_CONTEXT, weighted_refs
from .options import JsonOpt, ThreadsOpt, commands, input_path, optional_engine, sink_for, torch_threads_given

group = commands()


AdapterArgs = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="REF[:WEIGHT]...",
        show_default=False,
        help="LoRA/LyCORIS, textual-inversion or ControlNet files (paths or catalog refs), each with an optional "
        "weight (default 1; negative subtracts); also <lora:NAME:WEIGHT> in --prompt.",
    ),
]
BaseOpt = Annotated[
    str,
    typer.Option(
        "--base",
        metavar="CKPT",
        help=(
            "Diffusers folder (SD1.x, SD2.x, SDXL, SD3, FLUX.1), single-file checkpoint (SD1.x, SD2.x, SDXL), "
            "catalog ref or Hub id (from the cache offline)."
        ),
    ),
]
OutDirOpt = Annotated[Path, typer.Option("-o", "--out", metavar="DIR", help="Folder for the PNGs (created).")]
SeedsOpt = Annotated[str, typer.Option("--seeds", metavar="1,2,3", help="Seeds: the grid's rows.")]
StepsOpt = Annotated[int, typer.Option("--steps", min=1, help="Denoising steps (A1111's default).")]
CfgOpt = Annotated[
    float | None,
    typer.Option(
        "--cfg",
        show_default=False,
        help="Classifier-free guidance scale; on FLUX.1 its distilled guidance [default: 7; FLUX.1: 3.5].",
    ),
]
_LABELS = [s.label for s in SAMPLERS.values()]
SamplerOpt = Annotated[
    str | None,
    typer.Option("--sampler", show_default=False, help=f"{', '.join(_LABELS[:-1])} or {_LABELS[-1]}."),
]
SizeOpt = Annotated[
    str | None,
    typer.Option("--size", metavar="WxH", show_default=False, help="Image size [default: the base's native size]."),
]
NegativeOpt = Annotated[str, typer.Option("--negative", help="Negative prompt.")]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", show_default=False, help="cuda, cuda:1, mps or cpu [default: the best there is]."),
]
DtypeOpt = Annotated[
    str | None,
    typer.Option("--dtype", show_default=False, help="fp16, bf16 or fp32 [default: fp16 on GPUs, fp32 on the CPU]."),
]
OffloadOpt = Annotated[bool, typer.Option("--offload", help="Model CPU offload (CUDA): for GPUs with little memory.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="DIR",
        show_default=False,
        help="For a single-file base: a diffusers folder of the same architecture [default: the HF cache].",
    ),
]
PatchOpt = Annotated[
    bool, typer.Option("--patch", help="Apply every LoRA by patching the weights (never through diffusers adapters).")
]
ClipSkipOpt = Annotated[
    int | None,
    typer.Option(
        "--clip-skip",
        min=1,
        show_default=False,
        help="A1111's Clip skip: 1 the last text-encoder layer, 2 the penultimate.",
    ),
]


def _numbers(text: str, kind: type, what: str) -> list:
    return _parsed(lambda: parse_numbers(text, kind), what)


def _size(text: str | None) -> tuple[int, int] | None:
    return _parsed(lambda: parse_size(text), "--size")


def _parsed(parse: Callable[[], Any], hint: str) -> Any:
    """A usage error (exit 2) for what the user typed wrong."""
    try:
        return parse()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from None


def _base(ctx: typer.Context, ref: str) -> str:
    """A base as a path, a catalog ref, or a Hub id (owner/name, no file suffix) as given."""
    if not Path(ref).expanduser().exists() and looks_like_hub_id(ref):
        return ref
    return str(input_path(ctx, ref))


def _like_sampler(written: str | None) -> str | None:
    """The ``--sampler`` of an image's sampler; one loradex lacks is said, and the default used."""
    if written is None:
        return None
    from loradex.adapters.generate.examples import sampler_named

    name = sampler_named(written)
    if name is None:
        print(f"the image's sampler {written!r} is not one loradex has; using the default", file=sys.stderr)
    return name


def _say_stopping() -> None:
    print("stopping after the current step (Ctrl-C again to abort now)", file=sys.stderr)


def _axes(seeds: list, scales: list) -> str:
    return f"{count(len(seeds), 'seeds')} × {count(len(scales), 'scales')}"


def _job_line(axes: str, prompts: int = 1) -> Callable[[Any], None]:
    """Prints the job size once the inputs are loaded, before the first step (A1111 does too):
    "job: 6 images (2 seeds × 3 scales), 120 steps in all". eval renders once per prompt: said once."""
    said: list[bool] = []

    def say(job: Any) -> None:
        if said:
            return
        said.append(True)
        images = job.images * prompts
        each = f"{prompts} prompts × {axes}" if prompts > 1 else axes
        print(f"job: {count(images, 'images')} ({each}), {job.steps * prompts} steps in all", file=sys.stderr)

    return say


def _workbench(
    base: str, device: str | None, dtype: str | None, offload: bool, config: Path | None, patch: bool
) -> Any:
    from loradex.adapters.libraries import quiet

    quiet()
    from loradex.adapters.generate import Workbench

    return Workbench(base, device=device, dtype=dtype, offload=offload, config=config, patch_only=patch)


@group.command("try", context_settings=OPS_CONTEXT)
def try_cmd(
    ctx: typer.Context,
    base: BaseOpt,
    out: OutDirOpt,
    adapters: AdapterArgs = None,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", show_default=False, help="Used verbatim [default: the adapters' trigger words]."),
    ] = None,
    negative: Annotated[str | None, typer.Option("--negative", show_default=False, help="Negative prompt.")] = None,
    seeds: Annotated[
        str | None,
        typer.Option("--seeds", metavar="1,2,3", show_default=False, help="Seeds: the grid's rows [default: 1,2]."),
    ] = None,
    scales: Annotated[
        str | None,
        typer.Option(
            "--scales",
            metavar="0,0.5,1",
            show_default=False,
            help="Multipliers of every weight: the grid's columns (0 is the base alone) [default: 0,0.5,1; "
            "with --like: 1].",
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", min=1, show_default=False, help="Denoising steps [default: 20, A1111's]."),
    ] = None,
    cfg: CfgOpt = None,
    sampler: SamplerOpt = None,
    size: SizeOpt = None,
    clip_skip: ClipSkipOpt = None,
    like: Annotated[
        str | None,
        typer.Option(
            "--like",
            metavar="IMAGE",
            show_default=False,
            help="Render an image's parameters again (prompt, negative, seed, steps, CFG, sampler, size): a "
            "catalogued preview (its id or path: a Civitai example, and the adapter it shows) or a PNG with "
            "A1111's infotext or a loradex record. Options given win.",
        ),
    ] = None,
    control_image: Annotated[
        Path | None,
        typer.Option("--control-image", metavar="IMG", show_default=False, help="The ControlNet's control image."),
    ] = None,
    canny: Annotated[
        bool, typer.Option("--canny", help="Run canny edge detection on the control image first.")
    ] = False,
    control_config: Annotated[
        Path | None,
        typer.Option(
            "--control-config",
            metavar="DIR",
            show_default=False,
            help="For a single-file ControlNet: a diffusers ControlNet folder of the same architecture.",
        ),
    ] = None,
    init_image: Annotated[
        Path | None,
        typer.Option("--init-image", metavar="IMG", show_default=False, help="img2img: start from this image."),
    ] = None,
    strength: Annotated[
        float, typer.Option("--strength", min=0.0, max=1.0, help="img2img: how much of the init image is redrawn.")
    ] = 0.75,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    offload: OffloadOpt = False,
    config: ConfigOpt = None,
    patch: PatchOpt = False,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """Render a seed × scale grid of adapters on a base, with a labelled contact sheet.

    Example: loradex try cat-lora:0.8 style.safetensors:0.5 --base sd15.safetensors --seeds 1,2,3
    --scales 0,0.5,1 -o grid/

    A scale multiplies every weight; the scale-0 column is the base alone. Each PNG carries
    A1111's "parameters" text and a "loradex" JSON record that reproduces it in plain diffusers.
    With a catalog in use, every image is recorded as a preview of each adapter named.
    Defaults: 20 steps, DPM++ 2M Karras, CFG 7, seeds 1,2, scales 0,0.5,1; on SD3 and FLUX.1
    the Euler flow-matching scheduler, and FLUX.1's distilled guidance 3.5 (no negative prompt).
    Ctrl-C stops after the current step and keeps (and records) the finished images.

    --like IMAGE renders an image's parameters again on your base: a catalogued preview (its id
    or path; a Civitai example brings the adapter it shows, at the weight it used) or a PNG with
    A1111's infotext or a loradex record. Its seed and one scale (1) make the grid; options win.
    """
    pairs = weighted_refs(adapters or [])
    render_size = _size(size)
    from loradex.adapters.generate.samplers import known_sampler

    if sampler is not None:
        known_sampler(sampler)
    sink = sink_for(json)
    with optional_engine(ctx) as engine:
        if like is not None:
            from loradex.registry.services.examples import liked

            example = liked(engine, like)
            if not pairs and example.adapter:  # the adapter the preview shows, at the weight it was used
                pairs = [(example.adapter, example.weight)]
            made = example.example
            prompt = prompt if prompt is not None else made.prompt
            negative = negative if negative is not None else made.negative_prompt
            seeds = seeds or (str(made.seed) if made.seed is not None else None)
            scales = scales or "1"
            steps = steps or made.steps
            cfg = cfg if cfg is not None else made.cfg
            sampler = sampler or _like_sampler(made.sampler)
            render_size = render_size or made.size
        seed_list = _numbers(seeds or "1,2", int, "--seeds")
        scale_list = _numbers(scales or "0,0.5,1", float, "--scales")
        paths = [(str(input_path(ctx, ref)), weight) for ref, weight in pairs]
        base_ref = _base(ctx, base)

        def resolve_lora(name: str) -> Path:
            return input_path(ctx, name)

        from loradex.adapters.generate.preflight import preflight
        from loradex.adapters.generate.prompts import split_lora_tags, tagged_loras

        tagged = tagged_loras(split_lora_tags(prompt)[1], resolve_lora) if prompt else []
        preflight(
            base_ref,
            [*paths, *tagged],
            config=config,
            size=render_size,
            out=out,
            prompt=prompt,
            negative=negative or "",
            control_image=control_image,
            init_image=init_image,
            clip_skip=clip_skip,
            sampler=sampler,
        )
        axes = _axes(seed_list, scale_list)
        with torch_threads_given(threads):
            bench = _workbench(base_ref, device, dtype, offload, config, patch)
            from loradex.registry.services.previews import quick_test

            with interrupts.stop_requested(_say_stopping) as stop, sink.progress("try") as progress:
                tested = quick_test(
                    bench,
                    paths,
                    engine=engine,
                    prompt=prompt,
                    negative_prompt=negative or "",
                    seeds=seed_list,
                    scales=scale_list,
                    steps=steps or DEFAULT_STEPS,
                    guidance_scale=cfg,
                    sampler=sampler,
                    size=render_size,
                    clip_skip=clip_skip,
                    control_image=control_image,
                    control_canny=canny,
                    control_config=control_config,
                    init_image=init_image,
                    strength=strength,
                    out=out,
                    progress=progress,
                    should_stop=stop.is_set,
                    on_start=_job_line(axes),
                    resolve_lora=resolve_lora,
                )
    sink.quick_test(tested.grid, tested.recorded)
    if tested.grid.interrupted:
        raise typer.Exit(interrupts.EXIT_CODE)


@group.command("eval", context_settings=OPS_CONTEXT)
def eval_cmd(
    ctx: typer.Context,
    adapter: Annotated[str, typer.Argument(metavar="REF[:WEIGHT]", help="The adapter (path or catalog ref).")],
    base: BaseOpt,
    prompts: Annotated[Path, typer.Option("--prompts", metavar="FILE", help="One prompt per line.")],
    clip: Annotated[
        str,
        typer.Option(
            "--clip", metavar="MODEL", help="A CLIP model: a local folder or a Hub id (transformers CLIPModel)."
        ),
    ],
    out: OutDirOpt,
    scales: Annotated[str, typer.Option("--scales", metavar="0,0.25,…", help="Scales to score.")] = "0,0.25,0.5,0.75,1",
    seeds: SeedsOpt = "1,2",
    reference_dir: Annotated[
        Path | None,
        typer.Option(
            "--reference-dir",
            metavar="DIR",
            show_default=False,
            help="Reference images: also score mean image-embedding cosine to them.",
        ),
    ] = None,
    steps: StepsOpt = 20,
    cfg: CfgOpt = None,
    sampler: SamplerOpt = None,
    size: SizeOpt = None,
    negative: NegativeOpt = "",
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    config: ConfigOpt = None,
    threads: ThreadsOpt = None,
    json: JsonOpt = False,
) -> None:
    """CLIP score of an adapter per scale (100·max(cos, 0) averaged, and the raw mean cosine).

    Example: loradex eval cat-lora --base sd15.safetensors --prompts prompts.txt --scales 0,0.5,1
    --clip openai/clip-vit-large-patch14 -o eval/

    Writes scores.csv and scores.png (score vs scale) into the folder; --json prints the table.
    """
    ((ref, weight),) = weighted_refs([adapter])
    scale_list = _numbers(scales, float, "--scales")
    seed_list = _numbers(seeds, int, "--seeds")
    from loradex.adapters.generate.evaluate import evaluate, read_prompts, reference_images

    prompt_list = read_prompts(prompts)
    references = reference_images(reference_dir) if reference_dir is not None else None
    sink = sink_for(json)
    with optional_engine(ctx) as engine:
        del engine  # refs resolve through it; eval images are not previews
        path = str(input_path(ctx, ref))
        base_ref = _base(ctx, base)
    from loradex.adapters.generate.preflight import preflight

    if not Path(clip).expanduser().exists() and not looks_like_hub_id(clip):
        raise ArtifactNotFoundError("no such CLIP model folder (nor a Hub id: owner/name)", path=clip)
    render_size = _size(size)
    from loradex.adapters.generate.preflight import check_prompt
    from loradex.adapters.generate.prompts import split_lora_tags, tagged_loras
    from loradex.adapters.generate.samplers import known_sampler

    if sampler is not None:
        known_sampler(sampler)
    for line in prompt_list:  # eval scores its one adapter: a <lora:…> tag in a prompt is refused
        check_prompt(line, negative)
        tagged_loras(split_lora_tags(line)[1], None)
    preflight(base_ref, [(path, weight)], config=config, size=render_size, out=out, negative=negative, sampler=sampler)
    with torch_threads_given(threads):
        bench = _workbench(base_ref, device, dtype, False, config, False)
        with interrupts.stop_requested(_say_stopping) as stop, sink.progress("eval") as progress:
            result = evaluate(
                bench,
                [(path, weight)],
                prompts=prompt_list,
                scales=scale_list,
                seeds=seed_list,
                clip=clip,
                out=out,
                references=references,
                steps=steps,
                guidance_scale=cfg,
                sampler=sampler,
                size=render_size,
                negative_prompt=negative,
                progress=progress,
                should_stop=stop.is_set,
                on_start=_job_line(_axes(seed_list, scale_list), len(prompt_list)),
            )
    sink.evaluation(result)
    if result.interrupted:
        raise typer.Exit(interrupts.EXIT_CODE)
