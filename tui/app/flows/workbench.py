"""The flows that make things from the catalog: the quick-test (a grid rendered on a warm base,
recorded as previews) and the mix tray (LoRAs mixed into a file or baked into a checkpoint)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.worker import get_current_worker

from loradex.adapters.progress import ProgressEvent
from loradex.adapters.words import count
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.queries.views import Details

from ..jobs import Job, JobCancelled
from ..messages import MixRequest, QuickTestRequest, TrayItem
from ..warm_bench import WarmBench

if TYPE_CHECKING:
    from loradex.registry.services.previews import QuickTest
    from loradex.registry.services.runner import OpResult

    from ..application import LoradexApp

#: Kinds the quick-test renders and the tray mixes.
TESTABLE = ("lora", "lycoris", "textual_inversion", "controlnet")
MIXABLE = ("lora", "lycoris")


@work(group="flow", exit_on_error=False)
async def quick_test(app: LoradexApp, artifact: ArtifactRow, details: Details) -> None:
    """Render a grid of the current adapter on a catalogued checkpoint and show its contact sheet."""
    if artifact.kind not in TESTABLE:
        app.notify(
            f"Quick-test renders LoRA, LyCORIS, textual-inversion and ControlNet artifacts; "
            f"{artifact.name} is {artifact.kind}.",
            severity="error",
        )
        return
    checkpoints = app.catalog.checkpoints()
    if not checkpoints:
        app.notify("The catalog holds no checkpoint to test on; scan one first.", severity="error")
        return
    family = artifact.base_override or artifact.base
    base = app.quick_test_base if app.quick_test_base in [c.path for c in checkpoints] else None
    if base is None:  # a checkpoint of the adapter's family, a diffusers folder first (no configs needed)
        fitting = [c for c in checkpoints if c.base == family] or checkpoints
        base = sorted(fitting, key=lambda c: not os.path.isdir(c.path))[0].path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    values = {**app.quick_test_values, "out": str(app.quick_test_root / f"{artifact.name}-{stamp}")}
    from ..screens.quick_test import QuickTestDialog

    dialog = QuickTestDialog(artifact.name, checkpoints, base=base, values=values)
    request = await app.push_screen_wait(dialog)
    if request is None:
        return
    app.quick_test_base = request.base
    app.quick_test_values = {k: v for k, v in dialog.given.items() if k != "out"}
    catalog, warm = app.catalog, app.warm
    tested = await app.jobs.run(
        Job(
            f"Quick-testing {artifact.name}…",
            lambda progress: _render(catalog.engine, warm, artifact.path, request, progress),
            cancelled=f"Cancelled the quick-test of {artifact.name}.",
        )
    )
    if tested is None:
        return
    result, loaded = tested
    grid = result.grid
    how = "stopped after" if grid.interrupted else "rendered"
    app.notify(
        f"Tested {artifact.name}: {how} {count(len(grid.images), 'images')}, "
        f"recorded {count(result.recorded or 0, 'previews')}"
        f"{'' if loaded else ' (the base was already loaded)'}.",
        severity="warning" if grid.interrupted else "information",
    )
    app.reload(keep=artifact.id)
    if grid.sheet is not None:
        from ..screens.sheet import SheetImage, SheetScreen

        cells = [SheetImage(r.seed, r.scale, str(r.path)) for r in grid.images if r.path]
        app.push_screen(
            SheetScreen(grid.sheet, f"{artifact.name} on {Path(request.base).name}: {request.prompt or ''}", cells)
        )


def _render(
    engine: Any, warm: WarmBench, adapter: str, request: QuickTestRequest, progress: Callable[[ProgressEvent], None]
) -> tuple[QuickTest, bool]:
    """In the job's thread: check the inputs, load the base (or take the warm one), render and
    record (:func:`loradex.registry.services.previews.quick_test`). Cancelling stops after the
    current step and keeps (and records) the finished images. Returns the test and whether the
    base was loaded for it."""
    from loradex.adapters.generate.preflight import preflight
    from loradex.registry.services.previews import quick_test as render_and_record

    worker = get_current_worker()
    preflight(
        request.base,
        [(adapter, request.weight)],
        size=request.size,
        out=request.out,
        prompt=request.prompt,
        control_image=request.control_image,
    )
    progress(ProgressEvent("load", 0, 0, request.base))
    bench, loaded = warm.get(request.base)
    progress(ProgressEvent("generate", 0, 0))

    def steps(event: ProgressEvent) -> None:  # a cancel stops the render through should_stop, not here
        try:
            progress(event)
        except JobCancelled:
            pass

    result = render_and_record(
        bench,
        [(adapter, request.weight)],
        engine=engine,
        prompt=request.prompt,
        seeds=request.seeds,
        scales=request.scales,
        steps=request.steps,
        size=request.size,
        out=request.out,
        control_image=request.control_image,
        control_canny=request.canny,
        progress=steps,
        should_stop=lambda: worker.is_cancelled,
    )
    return result, loaded


@work(group="flow", exit_on_error=False)
async def tray_add(app: LoradexApp, artifact: ArtifactRow, details: Details) -> None:
    """Add the current LoRA to the mix tray, at a weight asked for (its preferred weight, else 1)."""
    if artifact.kind not in MIXABLE:
        app.notify(
            f"The mix tray takes LoRA and LyCORIS artifacts; {artifact.name} is {artifact.kind}.", severity="error"
        )
        return
    from ..screens.mix_tray import WeightDialog

    preferred = artifact.preferred_weight if artifact.preferred_weight is not None else 1.0
    weight = await app.push_screen_wait(WeightDialog(artifact.name, preferred))
    if weight is None:
        return
    # A catalogued row always has an id.
    artifact_id = int(artifact.id)  # type: ignore[arg-type]
    known = next((item for item in app.tray if item.artifact_id == artifact_id), None)
    if known is not None:
        known.weight = weight
        app.notify(f"Set {artifact.name}'s weight in the tray to {weight:g}.")
        return
    app.tray.append(TrayItem(artifact_id, artifact.name, artifact.path, weight))
    app.notify(f"Added {artifact.name} to the mix tray at {weight:g} ({count(len(app.tray), 'items')}; m opens it).")


@work(group="flow", exit_on_error=False)
async def mix_tray(app: LoradexApp) -> None:
    """Open the mix tray: remove items, then mix them into a LoRA or bake them into a checkpoint."""
    if not app.tray:
        app.notify("The mix tray is empty: add LoRAs with a.", severity="warning")
        return
    from ..screens.mix_tray import MixTrayScreen

    catalog = app.catalog
    request = await app.push_screen_wait(MixTrayScreen(app.tray, catalog.checkpoints(), catalog.outputs))
    if request is None:
        return
    if request.output.parent == catalog.outputs:  # the default folder is made; a typed one must exist
        catalog.outputs.mkdir(parents=True, exist_ok=True)
    inputs = [(item.path, item.weight) for item in app.tray]
    names = ", ".join(f"{item.name}:{item.weight:g}" for item in app.tray)
    title = f"Baking into {Path(request.base or '').name}…" if request.op == "bake" else "Mixing…"
    result = await app.jobs.run(
        Job(
            title,
            lambda progress: _operation(catalog.engine, request, inputs, progress),
            cancelled=f"Cancelled the {request.op}; nothing was written ({request.output} is as it was).",
        )
    )
    if result is None:
        return
    verb = "Baked" if request.op == "bake" else "Mixed"
    into = f" into {Path(request.base).name}" if request.base else ""
    catalogued = f" (catalogued as {result.artifact.name})" if result.artifact else ""
    app.notify(f"{verb} {names}{into} → {result.output}{catalogued}.")
    app.reload(keep=result.artifact.id if result.artifact else None)


def _operation(
    engine: Any, request: MixRequest, inputs: list[tuple[str, float]], progress: Callable[[ProgressEvent], None]
) -> OpResult:
    """In the job's thread: the tray's request as a recipe — ``mix`` (``method`` concat, exact, or
    svd to ``rank``; weighted by block) or ``bake`` into ``base`` — run and recorded with its output
    by the catalog's runner (:func:`loradex.registry.services.runner.run_recipe`)."""
    from loradex.adapters.ops.recipe_sources import given
    from loradex.registry.services.runner import run_recipe

    params: dict[str, Any] = (
        {"method": request.method, "rank": request.rank, "block_weights": request.block_weights or {}}
        if request.op == "mix"
        else {"allow_partial": False}
    )
    recipe = given(
        request.op,
        [(ref, float(weight)) for ref, weight in inputs],
        base=request.base,
        output=Path(os.path.abspath(Path(request.output).expanduser())),
        **params,
    )
    return run_recipe(recipe, engine=engine, progress=progress)
