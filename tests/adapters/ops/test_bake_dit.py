"""bake() of a kohya Flux.1 LoRA (fused ``img_attn.qkv`` and ``linear1`` stems) into Flux.1 checkpoints
at their real widths with fewer blocks: BFL's bare single file (bf16 and float8_e4m3fn), ComfyUI's
all-in-one (denoiser prefixed, CLIP-L beside it) and a diffusers folder of ``transformer/`` shards.

The oracle is diffusers: its single-file converter (``convert_flux_transformer_checkpoint_to_diffusers``)
turns the base and the baked file into diffusers' layers, its kohya converter the LoRA into
diffusers' ``lora_A``/``lora_B``; every patched layer must be ``W + w·B@A`` rounded once to the
base's dtype (so within one bf16 ulp or one e4m3 step), every other tensor unchanged to the byte.
The default run bakes 1 double + 1 single block (about 1.1 GB in bf16); ``-m slow`` also 2 + 2, and
fp16 and float8_e5m2 bases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from diffusers.loaders.lora_conversion_utils import _convert_kohya_flux_lora_to_diffusers
from diffusers.loaders.single_file_utils import convert_flux_transformer_checkpoint_to_diffusers
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from loradex.adapters.io.reader import SafetensorsFile
from loradex.adapters.model.layermap import LayerMap, layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.bake import bake
from loradex.adapters.zoo.dit_loras import kohya_lora
from tests.support.dit_checkpoints import (
    diffusers_layout,
    folder_files,
    random_file,
    reduced_flux,
    shard_index,
    single_file_layout,
)

WEIGHT = 0.8
RANK = 4
#: Modules the LoRA leaves alone (as kohya's Flux LoRAs leave the embedders): copied as they are.
UNTRAINED = ("txt_in", "double_blocks.0.txt_mlp.2", "single_blocks.0.linear2")


def _flux_lora(lm: LayerMap, path: Path, components: tuple[str, ...] = ("transformer",)) -> Path:
    """A rank-4 kohya Flux LoRA on every module of ``components`` but :data:`UNTRAINED`."""
    kohya_lora(lm, path, select=lambda layer: layer.component in components, rank=RANK)
    untrained = tuple("lora_unet_" + module.replace(".", "_") + "." for module in UNTRAINED)
    tensors = load_file(path)
    save_file({k: v for k, v in tensors.items() if not k.startswith(untrained)}, path)
    return path


#: ``(WEIGHT·B, A)`` of a layer's delta, float32.
Factors = tuple[torch.Tensor, torch.Tensor]
_DOWN = {
    ".lora_A.weight": ".lora_B.weight",
    ".lora_linear_layer.down.weight": ".lora_linear_layer.up.weight",
    "_lora.down.weight": "_lora.up.weight",
}
#: The legacy attention-processor names diffusers' converter gives CLIP's attention (its loader maps them back).
_CLIP_ATTENTION = {"to_q": "q_proj", "to_k": "k_proj", "to_v": "v_proj", "to_out": "out_proj"}


def _lora_factors(lora: Path) -> dict[str, Factors]:
    """diffusers module (``transformer.…``, ``text_encoder.…``) → its weighted factors, as diffusers'
    kohya converter makes them (alpha folded in; the embedders and the final layer left without
    ``transformer.``, the text encoder's under legacy processor names)."""
    converted = _convert_kohya_flux_lora_to_diffusers(load_file(lora))
    factors = {}
    for key, down in converted.items():
        if suffix := next((s for s in _DOWN if key.endswith(s)), None):
            module = key.removesuffix(suffix)
            up = converted[module + _DOWN[suffix]].float()
            head, _, last = module.rpartition(".")
            module = f"{head}.{_CLIP_ATTENTION[last]}" if suffix.startswith("_lora") else module
            module = module if module.startswith(("transformer.", "text_encoder")) else "transformer." + module
            factors[module] = (WEIGHT * up, down.float())
    return factors


def _bits(t: torch.Tensor) -> torch.Tensor:
    """``t``'s storage as integers of its width: compared exactly, indexed for any dtype (fp8 too)."""
    return t.contiguous().view({1: torch.uint8, 2: torch.int16, 4: torch.int32}[t.element_size()])


def _columns(t: torch.Tensor) -> torch.Tensor:
    """About 100 columns spread over ``t``'s, its first and last among them: every row is checked
    there (a fused weight's parts and the swapped halves are rows), at a fraction of the cost."""
    n = t.shape[1]
    return torch.unique(torch.cat([torch.arange(0, n, max(1, n // 97)), torch.tensor([n - 1])]))


def _assert_rounded_once(got: torch.Tensor, w: torch.Tensor, factors: Factors, what: str) -> None:
    """On every row, at :func:`_columns`: ``got`` is ``w + B@A`` (computed in float32) rounded once to
    ``got``'s dtype. It lies between the roundings of that sum ± float32's error in computing it
    (bounded through the magnitudes of its terms), so within one step of the dtype."""
    cols, dtype = _columns(w), got.dtype
    got, w = (_bits(t)[:, cols].view(t.dtype).float() for t in (got, w))
    up, down = factors[0], factors[1][:, cols]
    exact = w + up @ down
    error = (RANK + 4) * 2.0**-24 * (w.abs() + up.abs() @ down.abs())
    low, high = ((exact + sign * error).to(dtype).float() for sign in (-1, 1))
    assert bool(((low <= got) & (got <= high)).all()), what


def _assert_diffusers_space_is_w_plus_delta(
    base: dict[str, torch.Tensor], baked: dict[str, torch.Tensor], factors: dict[str, Factors], prefix: str
) -> int:
    """Every layer of ``baked`` is ``base`` plus its delta rounded once, or ``base`` bit for bit where
    the LoRA has none; the number of patched layers."""
    assert baked.keys() == base.keys()
    patched = 0
    for key, got in baked.items():
        layer = factors.get(prefix + key.removesuffix(".weight")) if key.endswith(".weight") else None
        assert got.dtype == base[key].dtype, key
        if layer is None:
            assert torch.equal(_bits(got), _bits(base[key])), key
        else:
            _assert_rounded_once(got, base[key], layer, key)
            patched += 1
    return patched


@dataclass
class Baked:
    base: Path
    lora: Path
    out: Path
    #: The growth of the process's peak resident memory while the bake ran, in bytes.
    peak: int


def _tensor(path: Path, key: str) -> torch.Tensor:
    with safe_open(path, "pt") as f:
        return f.get_tensor(key)


def _peak_growth(run) -> int:
    """How far above its resident memory at the start the process's peak rose while ``run()`` ran
    (Linux: the high-water mark is reset through ``/proc/self/clear_refs``)."""

    def status(field: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = status("VmRSS")
    run()
    return status("VmHWM") - start


@pytest.fixture(
    scope="module",
    params=[
        pytest.param((1, 1, "BF16"), id="1+1-bf16"),
        pytest.param((1, 1, "F8_E4M3"), id="1+1-fp8_e4m3fn"),
        pytest.param((2, 2, "BF16"), id="2+2-bf16", marks=pytest.mark.slow),
        pytest.param((2, 2, "F8_E4M3"), id="2+2-fp8_e4m3fn", marks=pytest.mark.slow),
        pytest.param((1, 1, "F16"), id="1+1-fp16", marks=pytest.mark.slow),
        pytest.param((1, 1, "F8_E5M2"), id="1+1-fp8_e5m2", marks=pytest.mark.slow),
    ],
)
def bfl(request, tmp_path_factory) -> Baked:
    """A Flux.1 LoRA baked into a bare BFL file of ``double`` + ``single`` blocks stored as ``code``."""
    double, single, code = request.param
    folder = tmp_path_factory.mktemp("bfl")
    lm = layer_map(reduced_flux(double, single))
    base = random_file(folder / "flux1-dev.safetensors", single_file_layout(lm, dtype=code))
    lora = _flux_lora(lm, folder / "lora.safetensors")
    out = folder / "baked.safetensors"
    peak = _peak_growth(lambda: bake(base, [(lora, WEIGHT)], out))
    return Baked(base, lora, out, peak)


def test_a_baked_bfl_file_is_w_plus_the_delta_in_every_layer_diffusers_converts_it_to(bfl):
    base, baked = (convert_flux_transformer_checkpoint_to_diffusers(load_file(p)) for p in (bfl.base, bfl.out))
    factors = _lora_factors(bfl.lora)
    patched = _assert_diffusers_space_is_w_plus_delta(base, baked, factors, "transformer.")
    assert patched == len(factors) > 0
    # Not vacuous: the deltas move weights by whole steps of the stored dtype.
    assert all(not torch.equal(_bits(baked[k]), _bits(base[k])) for k in ("norm_out.linear.weight", "proj_out.weight"))


def test_the_final_modulation_is_patched_with_its_halves_swapped(bfl):
    """BFL stores (shift, scale) where diffusers' norm_out.linear has (scale, shift): the first half
    of the delta's rows patches the original's second half."""
    key = "final_layer.adaLN_modulation.1.weight"
    w, got = (_tensor(p, key) for p in (bfl.base, bfl.out))
    up, down = _lora_factors(bfl.lora)["transformer.norm_out.linear"]
    half = up.shape[0] // 2
    _assert_rounded_once(got, w, (torch.cat([up[half:], up[:half]]), down), key)
    with pytest.raises(AssertionError):  # the unswapped delta is another matrix
        _assert_rounded_once(got, w, (up, down), key)


def test_every_tensor_the_lora_does_not_touch_is_copied_byte_for_byte(bfl):
    untrained = {f"{module}.weight" for module in UNTRAINED}
    with SafetensorsFile(bfl.base) as before, SafetensorsFile(bfl.out) as after:
        assert after.keys() == before.keys()
        untouched = [k for k in before.keys() if not k.endswith(".weight") or k in untrained]
        assert untrained <= set(untouched) and len(untouched) > len(untrained)
        assert all(before.read_raw(k) == after.read_raw(k) for k in untouched)
        assert all(after.info(k).dtype == before.info(k).dtype for k in before.keys())


def test_the_bake_peaks_well_under_the_file_size(bfl):
    assert bfl.peak < 0.5 * bfl.base.stat().st_size, f"{bfl.peak / 2**20:.0f} MiB"


def test_a_comfyui_all_in_one_file_bakes_its_prefixed_denoiser_and_its_text_encoder(tmp_path):
    """ComfyUI's fp8 all-in-one (flux1-dev-fp8.safetensors): the denoiser under
    ``model.diffusion_model.``, CLIP-L under ``text_encoders.clip_l.transformer.``."""
    lm = layer_map(reduced_flux(1, 1))
    layout = single_file_layout(lm, comfy=True, encoders=("text_encoder",), dtype="F8_E4M3")
    base = random_file(tmp_path / "flux1-dev-fp8.safetensors", layout)
    lora = _flux_lora(lm, tmp_path / "lora.safetensors", components=("transformer", "text_encoder"))
    bake(base, [(lora, WEIGHT)], tmp_path / "baked.safetensors")
    before, after = load_file(base), load_file(tmp_path / "baked.safetensors")
    factors = _lora_factors(lora)
    clip = "text_encoders.clip_l.transformer."
    text = {k.removeprefix(clip): v for k, v in before.items() if k.startswith(clip)}
    patched = _assert_diffusers_space_is_w_plus_delta(
        text, {k.removeprefix(clip): v for k, v in after.items() if k.startswith(clip)}, factors, "text_encoder."
    )
    assert patched == sum(1 for name in factors if name.startswith("text_encoder.")) > 0
    denoiser = [convert_flux_transformer_checkpoint_to_diffusers(sd) for sd in (before, after)]
    assert _assert_diffusers_space_is_w_plus_delta(*denoiser, factors, "transformer.") == len(factors) - patched


def test_a_diffusers_folder_bakes_its_transformer_shards(tmp_path):
    """The fused kohya stems patch diffusers' split layers, shard by shard; the index and the
    configs are copied."""
    arch = reduced_flux(1, 1)
    lm = layer_map(arch)
    transformer = folder_files(tmp_path / "FLUX.1-dev", arch, "FluxPipeline")
    layout = diffusers_layout(lm)
    shards = {
        "diffusion_pytorch_model-00001-of-00002.safetensors": [e for e in layout if "single_" not in e[0]],
        "diffusion_pytorch_model-00002-of-00002.safetensors": [e for e in layout if "single_" in e[0]],
    }
    for i, (name, part) in enumerate(shards.items()):
        random_file(transformer / name, part, seed=i)
    shard_index(transformer, shards)
    lora = _flux_lora(lm, tmp_path / "lora.safetensors")
    assert probe(tmp_path / "FLUX.1-dev").base == "flux"

    bake(tmp_path / "FLUX.1-dev", [(lora, WEIGHT)], tmp_path / "baked")
    factors, patched = _lora_factors(lora), 0
    for name in shards:
        before, after = (
            load_file(folder / "transformer" / name) for folder in (tmp_path / "FLUX.1-dev", tmp_path / "baked")
        )
        patched += _assert_diffusers_space_is_w_plus_delta(before, after, factors, "transformer.")
    assert patched == len(factors)
    for config in (
        "model_index.json",
        "transformer/config.json",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
    ):
        assert json.loads((tmp_path / "baked" / config).read_text()) == json.loads(
            (tmp_path / "FLUX.1-dev" / config).read_text()
        )
