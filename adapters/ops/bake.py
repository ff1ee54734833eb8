"""bake(base, [(lora, weight)], out): W' = W + Σ wᵢ·ΔWᵢ into a checkpoint, streaming.

Written by hand because no library streams: the base is read tensor by tensor and written
through a sequential safetensors writer, so peak memory is about one tensor, not the model.
Tensors no LoRA touches are copied as raw byte ranges in the kernel (``copy_file_range``);
adapted ones are patched block by block in float32 (all LoRAs on a layer in one addmm) and
cast once, while a write-behind thread is still writing the tensors before them. The
output goes to a temp file beside the target and is renamed when complete; the base and the
LoRAs are never written to. The base's sha256 for the embedded recipe is computed in a thread
while the file streams and written into a fixed-width placeholder at the end.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from loradex.adapters.errors import DiskSpaceError, IncompatibleError, UnsupportedError
from loradex.adapters.io.atomic import atomic_path
from loradex.adapters.io.hashing import FileHashes, cached_sha256, folder_hashes, sha256_file
from loradex.adapters.io.header import DTYPE_SIZES
from loradex.adapters.io.sources import WeightSource
from loradex.adapters.io.suffixes import PICKLE_SUFFIXES
from loradex.adapters.io.torch_dtypes import torch_dtype
from loradex.adapters.io.weights import open_weights
from loradex.adapters.io.writer import SafetensorsWriter
from loradex.adapters.model.architectures import BASES
from loradex.adapters.model.artifact import ArtifactInfo, LayerInfo
from loradex.adapters.model.checkpoint import Location, delta_shape, layer_locations, layer_view, put_rows
from loradex.adapters.model.probe import probe
from loradex.adapters.model.single_file_names import row_pieces
from loradex.adapters.progress import Progress, ProgressEvent
from loradex.adapters.threads import torch_threads
from loradex.adapters.vocabulary import Dtype
from loradex.adapters.words import article

from .factors import dora_delta, layer_factors, open_factors
from .options import DTYPES
from .recipe import METADATA_KEY, Recipe
from .recipe_sources import stamp

#: The floating dtypes ``dtype`` converts: those it can also write (F64 and the rare fp8 variants
#: stay as they are).
_FLOAT_CODES = frozenset(DTYPES.values())
#: Patched tensors that may wait for the writer thread while the next ones are computed.
_WRITE_BEHIND = 64 << 20
#: Float32 elements per block of a patched weight (2 MiB: fits in L2 with room for the factors).
_BLOCK_ELEMENTS = 512 << 10


class BakedLora(NamedTuple):
    """A LoRA baked in: its file, weight, the layers of it applied and the layers it holds."""

    path: str
    weight: float
    applied: int
    layers: int


@dataclass
class Patch:
    lora: int  # index into the inputs
    layer: LayerInfo
    location: Location


@dataclass
class BakeReport:
    output: Path
    base: Path
    #: Each LoRA with the layers of it that were applied.
    loras: list[BakedLora] = field(default_factory=list)
    patched_tensors: int = 0
    unmatched: list[str] = field(default_factory=list)
    #: Canonical layers of components the base does not hold (a denoiser-only file has no text
    #: encoders): skipped, as ``check`` leaves them unjudged, and never a reason to refuse.
    elsewhere: list[str] = field(default_factory=list)
    dtype: str = ""
    seconds: float = 0.0
    #: The recipe embedded in the output.
    recipe: Recipe | None = None
    #: The output's hashes, computed while it was written (with ``hashes=True``).
    hashes: FileHashes | None = None
    #: Seconds spent waiting for the base's sha256 after planning, and streaming the output.
    timings: dict[str, float] = field(default_factory=dict)


# One core fewer for torch: the base's hash, then the write-behind thread keep a core busy (on 2
# cores a thread per core made the patch arithmetic ~1.5x and the whole bake ~10% slower).
@torch_threads(reserved=1)
def bake(
    base: str | Path,
    loras: Sequence[tuple[str | Path, float]],
    out: str | Path,
    *,
    dtype: str | None = None,
    allow_partial: bool = False,
    progress: Progress | None = None,
    hashes: bool = False,
) -> BakeReport:
    """Bake LoRAs into a checkpoint: a single-file (LDM/SGM) ``.safetensors`` or a diffusers folder.

    Args:
        base: the checkpoint; never modified. A pickled ``.ckpt`` is read with
            ``weights_only=True`` (memory-mapped) and baked into a safetensors output.
        loras: (path, weight) pairs; any LoRA/LyCORIS format probe understands (DoRA included).
        out: output file (or folder for a diffusers base); must not exist as an input.
        dtype: the floating tensors' storage dtype (``fp16``, ``bf16``, ``fp32``, ``fp8_e4m3fn`` or
            ``fp8_e5m2``: :data:`~.options.DTYPES`); default: as in the base, each tensor its own.
        allow_partial: apply what matches when some LoRA layers match nothing in the base.
            Layers of components the base does not hold (the text encoders, baking into a
            denoiser-only file) are skipped either way (``report.elsewhere``).
        progress: called with a ``bake`` :class:`ProgressEvent` per tensor written.
        hashes: hash the output while writing it (``report.hashes``), for a caller that records
            it: that costs two sha256 passes over the output, on the core the writer leaves.

    Returns:
        A :class:`BakeReport`.

    Raises:
        IncompatibleError: a LoRA is for another base family, or layers match nothing (listed).
        UnsupportedError: not a checkpoint, a GGUF (quantised), a weight stored scaled, or ``out``
            named like a pickle (the output is safetensors).
        DiskSpaceError: not enough free space beside ``out``.
    """
    start = time.perf_counter()
    base, out = Path(base), Path(out)
    if dtype is not None and dtype not in DTYPES:
        raise UnsupportedError(f"unknown dtype {dtype!r}; choose {', '.join(DTYPES)}")
    base_info = probe(base)
    if base_info.format == "gguf":
        raise UnsupportedError(
            "bake cannot patch a GGUF: its quantised blocks cannot take a float delta without "
            "re-quantising whole tensors, which changes every weight; bake into the original "
            "safetensors and quantise the result",
            path=base,
        )
    if base_info.kind != "checkpoint":
        raise UnsupportedError(f"bake needs a checkpoint as base; this is {article(base_info.kind)}", path=base)
    if base_info.base not in BASES:
        raise UnsupportedError(
            f"bake needs a base of a family loradex knows ({', '.join(BASES)}); this checkpoint's "
            "is unknown, so its layers cannot be matched (probe still lists what it holds)",
            path=base,
        )
    if out.suffix.lower() in PICKLE_SUFFIXES:
        raise UnsupportedError("bake writes safetensors (never pickles); name the output .safetensors", path=out)
    if base.is_dir() and out.suffix.lower() == ".safetensors":
        raise UnsupportedError(
            f"the base {base.name} is a diffusers folder, so the bake is a folder too; name the "
            "output without .safetensors (or bake into a single-file base)",
            path=out,
        )
    with contextlib.ExitStack() as opened:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            # The recipe in the output's header names the base by sha256, and the output is hashed
            # as it is written, so the base's hash must be known before the first byte: it runs
            # beside the planning (and warms the page cache for the stream).
            base_hash = pool.submit(cached_sha256, base)
            targets = layer_locations(base, base_info)
            infos = [probe(path) for path, _ in loras]
            report = BakeReport(out, base, dtype=dtype or "as base")
            patches = _plan(base_info, targets, infos, [w for _, w in loras], report)
            if report.unmatched and not allow_partial:
                raise IncompatibleError(
                    f"{len(report.unmatched)} LoRA layers match nothing in the base "
                    f"(first: {', '.join(report.unmatched[:3])}); pass --allow-partial to bake "
                    "the rest",
                    path=base,
                )
            _refuse_scaled_weights(patches)
            # Opened for math now, before the wait for the base's hash: a LoRA with NaN/Inf is refused first.
            sources = [opened.enter_context(open_factors(info)) for info in infos]
            files = sorted({t.file for t in targets.values()}) if base.is_dir() else [base]
            _check_space(out, files, None if dtype is None else DTYPES[Dtype(dtype)])
            known = {str(Path(p)): sha256_file(p) for p, _ in loras}
            waited = time.perf_counter()
            known[str(base)] = base_hash.result()
            report.timings["base_hash_wait"] = time.perf_counter() - waited
        recipe = stamp("bake", loras, {"dtype": dtype, "allow_partial": allow_partial}, base=base, known=known)
        protect = [base, *files, *(info.path for info in infos)]
        streaming = time.perf_counter()
        weights = [w for _, w in loras]
        if base.is_dir():
            with atomic_path(out, directory=True, protect=protect) as tmp:
                _copy_folder_extras(base, tmp, files)
                written = {
                    f.relative_to(base).as_posix(): _bake_file(
                        f,
                        tmp / f.relative_to(base),
                        patches.get(f, {}),
                        sources,
                        infos,
                        weights,
                        dtype,
                        recipe,
                        progress,
                        protect,
                        hashes,
                    )
                    for f in files
                }
                # With ``hashes`` every file's hashes are known (None only without it).
                hashed = {name: h for name, h in written.items() if h is not None}
                report.hashes = folder_hashes(tmp, hashed) if hashes else None
        else:
            report.hashes = _bake_file(
                base, out, patches.get(base, {}), sources, infos, weights, dtype, recipe, progress, protect, hashes
            )
    report.timings["stream"] = time.perf_counter() - streaming
    report.recipe = recipe
    report.patched_tensors = sum(len(p) for p in patches.values())
    report.seconds = time.perf_counter() - start
    return report


def _plan(
    base_info: ArtifactInfo,
    targets: dict[str, Location],
    infos: list[ArtifactInfo],
    weights: list[float],
    report: BakeReport,
) -> dict[Path, dict[str, list[Patch]]]:
    patches: dict[Path, dict[str, list[Patch]]] = {}
    for i, (info, weight) in enumerate(zip(infos, weights, strict=True)):
        if info.kind not in ("lora", "lycoris"):
            raise UnsupportedError(f"only LoRA/LyCORIS adapters bake; this is {article(info.kind)}", path=info.path)
        if info.base != base_info.base:
            raise IncompatibleError(
                f"this is {article(info.base)} adapter; the base {base_info.path.name} is {base_info.base}",
                path=info.path,
            )
        applied = 0
        for layer in info.layers:
            if base_info.components and layer.canonical and layer.component not in base_info.components:
                report.elsewhere.append(layer.canonical)
                continue
            target = targets.get(layer.canonical) if layer.canonical else None
            if target is None or tuple(delta_shape(target)[:2]) != tuple(layer.shape[:2]):
                report.unmatched.append(f"{info.path.name}:{layer.stem}")
                continue
            patches.setdefault(target.file, {}).setdefault(target.key, []).append(Patch(i, layer, target))
            applied += 1
        report.loras.append(BakedLora(str(info.path), weight, applied, len(info.layers)))
    return patches


#: Tensors beside a weight that scale it (ComfyUI's scaled fp8 checkpoints, old and new spellings):
#: the weight stored is W / scale.
_SCALE_SUFFIXES = ("scale_weight", "weight_scale")


def _refuse_scaled_weights(patches: dict[Path, dict[str, list[Patch]]]) -> None:
    """Refuse a patch of a weight stored scaled: adding ΔW to W / scale would scale the delta too."""
    for file, by_key in patches.items():
        with open_weights(file) as src:
            for key in by_key:
                stem = key.removesuffix("weight")
                if scale := next((stem + s for s in _SCALE_SUFFIXES if stem + s in src), None):
                    raise UnsupportedError(
                        f"{key} is stored scaled by {scale} (a scaled fp8 checkpoint), which bake does not "
                        "patch; bake into the unscaled original and quantise the result",
                        path=file,
                    )


def _check_space(out: Path, files: list[Path], code: str | None) -> None:
    """Refuse a bake the disk beside ``out`` cannot hold: the base's size, or with ``code`` (the
    floating tensors' new dtype) its tensors' sizes in that dtype, from the headers."""
    need = sum(f.stat().st_size for f in files) if code is None else sum(_bytes_as(f, code) for f in files)
    free = shutil.disk_usage(out.parent if out.parent.exists() else Path.cwd()).free
    if free < need * 1.01 + (64 << 20):
        raise DiskSpaceError(f"needs about {need / 1e9:.2f} GB free, {free / 1e9:.2f} GB available", path=out.parent)


def _bytes_as(path: Path, code: str) -> int:
    """The tensor bytes of the weights file at ``path`` once its floating tensors are stored as ``code``."""
    with open_weights(path) as src:
        return sum(
            math.prod(src.shape(k)) * DTYPE_SIZES[code if src.dtype(k) in _FLOAT_CODES else src.dtype(k)]
            for k in src.keys()
        )


def _copy_folder_extras(base: Path, tmp: Path, weight_files: list[Path]) -> None:
    """Configs, tokenizers, schedulers and non-safetensors files of a diffusers folder, as they are."""
    skip = set(weight_files)
    for f in base.rglob("*"):
        rel = f.relative_to(base)
        if f.is_dir():
            (tmp / rel).mkdir(parents=True, exist_ok=True)
        elif f not in skip:
            shutil.copy2(f, tmp / rel)


def _patched(
    w: torch.Tensor,
    patches: list[Patch],
    sources: list[WeightSource],
    infos: list[ArtifactInfo],
    weights: list[float],
    dtype: torch.dtype,
) -> torch.Tensor:
    """The stored tensor ``w`` plus every patch's weighted delta, cast to ``dtype``."""
    if any(p.layer.algorithm == "dora" for p in patches):  # needs whole rows/columns of W + ΔW
        # A contiguous copy: never patch the source in place (a pickle's may be its mmap), and
        # the patches view it as (out, in) rows whatever strides the file kept.
        w = w.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        for patch in patches:
            region = layer_view(w, patch.location)
            _apply(patch, sources[patch.lora], infos[patch.lora], weights[patch.lora], region)
            if len(patch.location.rows) > 1:  # a reordering is a copy, not a view
                put_rows(w, patch.location.rows, region)
        return w.to(dtype)
    terms: dict[tuple[int, int], list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for patch in patches:
        b, a = layer_factors(infos[patch.lora], patch.layer, sources[patch.lora])
        b = b * weights[patch.lora]
        if patch.location.transposed:  # W is stored as ΔW's transpose: W += Aᵀ Bᵀ
            b, a = a.T.contiguous(), b.T.contiguous()
        for stored, piece in row_pieces(patch.location.rows or ((0, w.shape[0]),)):  # its rows of a fused weight
            terms.setdefault((stored.start, stored.stop), []).append((b[piece], a))
    # One (B, A) per row range: every LoRA on a layer is added in a single pass over W.
    fused = [
        (r0, r1, torch.cat([b for b, _ in ts], 1), torch.cat([a for _, a in ts], 0)) for (r0, r1), ts in terms.items()
    ]
    # reshape, not view: a pickled tensor keeps its strides (channels-last convs)
    return _add_low_rank(w.reshape(w.shape[0], -1), fused, dtype).view(w.shape)


def _add_low_rank(
    w: torch.Tensor, terms: list[tuple[int, int, torch.Tensor, torch.Tensor]], dtype: torch.dtype
) -> torch.Tensor:
    """``w`` (2-D, any float dtype) with ``B @ A`` added to rows ``r0:r1`` for each term, in ``dtype``.

    The sum is exact float32 arithmetic on the widened weight, rounded once to ``dtype`` by torch's
    cast: round-to-nearest-even for every float dtype, fp8 included (float8_e4m3fn, which has no
    infinity, saturates at ±448; float8_e5m2 overflows to ±inf), so a patched fp8 weight is
    ``(W.float() + ΔW).to(float8)`` and at most one fp8 step from the exact sum.

    Done block by block through one small float32 scratch that stays in the CPU cache: the
    widening, the addmm and the rounding back then cost one pass over the weight in memory
    instead of three (measured 2-3x faster than widening whole 10240x1280 weights).
    """
    rows, cols = w.shape
    out = torch.empty((rows, cols), dtype=dtype)
    step = max(1, _BLOCK_ELEMENTS // max(cols, 1))
    scratch = torch.empty((min(step, rows), cols), dtype=torch.float32)
    for start in range(0, rows, step):
        end = min(start + step, rows)
        block = scratch[: end - start]
        block.copy_(w[start:end])
        for r0, r1, b, a in terms:
            lo, hi = max(start, r0), min(end, r1)
            if lo < hi:
                block[lo - start : hi - start].addmm_(b[lo - r0 : hi - r0], a)
        out[start:end].copy_(block)
    return out


def _apply(patch: Patch, src: WeightSource, info: ArtifactInfo, weight: float, region: torch.Tensor) -> None:
    """Add the patch's weighted delta to ``region`` (a float32 view into the base tensor) in
    place: one addmm, no temporaries the size of the weight (DoRA: its delta on ``region``)."""
    layer = patch.layer
    if layer.algorithm == "dora":
        region.add_(dora_delta(layer, src, region), alpha=weight)
        return
    b, a = layer_factors(info, layer, src)
    flat = region if region.dim() == 2 else region.view(region.shape[0], -1)
    flat.addmm_(b, a, alpha=weight)


def _bake_file(
    src_path: Path,
    out: Path,
    patches: dict[str, list[Patch]],
    sources: list[WeightSource],
    infos: list[ArtifactInfo],
    weights: list[float],
    dtype: str | None,
    recipe: Recipe,
    progress: Progress | None,
    protect: list[Path],
    hashes: bool,
) -> FileHashes | None:
    """Stream one weights file of the base into ``out`` (safetensors), patching as planned.

    A safetensors base keeps its tensor order and its untouched tensors are kernel copies; a
    pickled ``.ckpt`` (memory-mapped by torch) is written in safetensors' own order
    (widest dtype first, for alignment), every tensor through the writer.
    """
    with open_weights(src_path) as src:

        def out_code(code: str) -> str:
            return DTYPES[Dtype(dtype)] if dtype and code in _FLOAT_CODES else code

        names = (
            src.keys()
            if src.container == "safetensors"
            else sorted(src.keys(), key=lambda k: (-DTYPE_SIZES[src.dtype(k)], k))
        )
        layout = [(name, out_code(src.dtype(name)), src.shape(name)) for name in names]
        metadata = {**src.metadata, METADATA_KEY: recipe.to_json()}
        total = len(layout)
        with SafetensorsWriter(
            out, layout, metadata, protect=protect, write_behind=_WRITE_BEHIND, hashes=hashes
        ) as writer:
            for done, (name, code, _) in enumerate(layout, 1):
                stored = src.dtype(name)
                if name in patches:
                    writer.write(
                        name,
                        _patched(
                            src.get(name),
                            patches[name],
                            sources,
                            infos,
                            weights,
                            torch_dtype(code),
                        ),
                    )
                elif code == stored and (raw := src.raw_range(name)) is not None:
                    writer.copy_from(name, *raw)
                else:
                    writer.write(name, src.get(name).to(torch_dtype(code)))
                if progress:
                    progress(ProgressEvent("bake", done, total, name))
            writer.commit()
    return writer.hashes
