"""bake() into checkpoints stored as bf16 and float8 (e4m3fn, e5m2; common for Flux): each patched
weight is ``W.float() + wΔW`` rounded once to the base's dtype (or ``dtype``), every other tensor is
copied byte for byte. The zoo's SD1 and SDXL single files, cast; ΔW computed here from the LoRA's
factors, not by bake's code."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from loradex.adapters import UnsupportedError
from loradex.adapters.io.reader import SafetensorsFile
from loradex.adapters.model.checkpoint import layer_locations, layer_view
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.extract import extract

WEIGHT = 0.8
DTYPES = {"bf16": torch.bfloat16, "fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


def _cast(src, out, dtype: torch.dtype):
    """The checkpoint at ``src`` with every floating tensor cast to ``dtype`` (as ComfyUI's fp8 files are)."""
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in load_file(src).items()}, out)
    return out


def _expected(base, lora) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each weight the LoRA touches as ``W.float() + WEIGHT·ΔW`` in float32, ΔW = (alpha/rank)·up @ down,
    with a bound on float32's rounding error in computing it: (rank + 2)·2⁻²⁴·(|W| + |WEIGHT·scale|·|up| @ |down|)."""
    info, lora_tensors = probe(lora), load_file(lora)
    base_tensors = load_file(base)
    targets = layer_locations(base, probe(base))
    sums: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for layer in info.layers:
        assert layer.algorithm == "lora" and layer.canonical in targets, layer.stem
        loc = targets[layer.canonical]
        up, down = (lora_tensors[layer.keys[part]].float().flatten(1) for part in ("lora_up", "lora_down"))
        w = base_tensors[loc.key].float()
        total, error = sums.setdefault(loc.key, (w, w.abs() * 2**-24))
        factor = WEIGHT * layer.scale
        layer_view(total, loc).add_((factor * (up @ down)).view(layer_view(total, loc).shape))
        slack = (layer.rank + 2) * 2**-24 * abs(factor) * (up.abs() @ down.abs())
        layer_view(error, loc).add_(slack.view(layer_view(error, loc).shape) + layer_view(w, loc).abs() * 2**-23)
    return sums


def _assert_rounded_once(got: torch.Tensor, exact: torch.Tensor, error: torch.Tensor, what: str) -> None:
    """``got`` is ``exact`` rounded to nearest (even) in ``got``'s dtype, as torch's cast rounds: one
    step at most from the sum, and exactly the cast wherever float32's ``error`` in computing
    ``exact`` cannot reach a rounding boundary (rounding is monotone, so ``got`` lies between the
    roundings of ``exact ± error``; they differ only where W and wΔW, or a dot product's terms,
    nearly cancel)."""
    low, high = ((exact + sign * error).to(got.dtype).float() for sign in (-1, 1))
    got = got.float()
    assert bool(((low <= got) & (got <= high)).all()), what


@pytest.fixture(scope="module", params=[(f, d) for f in ("sd1", "sdxl") for d in DTYPES])
def baked(request, zoo, tmp_path_factory):
    family, name = request.param
    folder = tmp_path_factory.mktemp(f"{family}-{name}")
    base = _cast(zoo[f"{family}-single"].path, folder / "base.safetensors", DTYPES[name])
    lora = zoo[f"{family}-kohya-lora"].path
    bake(base, [(lora, WEIGHT)], folder / "out.safetensors")
    return base, lora, folder / "out.safetensors", DTYPES[name]


def test_a_patched_weight_is_the_float32_sum_rounded_once_to_the_base_dtype(baked):
    base, lora, out, dtype = baked
    got, stored = load_file(out), load_file(base)
    expected = _expected(base, lora)
    for key, (exact, error) in expected.items():
        assert got[key].dtype == dtype, key
        _assert_rounded_once(got[key], exact, error, key)
    # Not vacuous: the deltas move weights by whole steps even in fp8.
    assert any(not torch.equal(got[k].float(), stored[k].float()) for k in expected)


def test_every_tensor_no_lora_touches_is_copied_byte_for_byte(baked):
    base, lora, out, _ = baked
    touched = set(_expected(base, lora))
    with SafetensorsFile(base) as before, SafetensorsFile(out) as after:
        assert after.keys() == before.keys()
        untouched = [k for k in before.keys() if k not in touched]
        assert untouched and all(before.read_raw(k) == after.read_raw(k) for k in untouched)
        assert all(after.info(k).dtype == before.info(k).dtype for k in touched)


def test_dtype_also_converts_the_fp8_tensors_of_an_fp8_base(zoo, tmp_path):
    base = _cast(zoo["sd1-single"].path, tmp_path / "fp8.safetensors", torch.float8_e4m3fn)
    lora = zoo["sd1-kohya-lora"].path
    bake(base, [(lora, WEIGHT)], tmp_path / "bf16.safetensors", dtype="bf16")
    got, stored, exact = load_file(tmp_path / "bf16.safetensors"), load_file(base), _expected(base, lora)
    assert {t.dtype for t in got.values() if t.is_floating_point()} == {torch.bfloat16}
    for key, (value, error) in exact.items():
        _assert_rounded_once(got[key], value, error, key)
    # Widening fp8 to bf16 is exact: an untouched weight is its fp8 value.
    assert all(torch.equal(got[k], v.to(torch.bfloat16)) for k, v in stored.items() if k not in exact)


def test_dtype_fp8_narrows_an_fp16_base(zoo, tmp_path):
    out = tmp_path / "fp8.safetensors"
    bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, WEIGHT)], out, dtype="fp8_e5m2")
    with SafetensorsFile(out) as f:
        assert {t.dtype for t in f.tensors.values()} == {"F8_E5M2"}


def test_a_weight_stored_scaled_is_refused_naming_its_scale(zoo, tmp_path):
    """ComfyUI's scaled fp8 files store W / scale: adding ΔW there would scale the delta too."""
    tensors = load_file(_cast(zoo["sd1-single"].path, tmp_path / "plain.safetensors", torch.float8_e4m3fn))
    key = next(iter(_expected(tmp_path / "plain.safetensors", zoo["sd1-kohya-lora"].path)))
    tensors[key.removesuffix("weight") + "scale_weight"] = torch.tensor(0.01)
    save_file(tensors, tmp_path / "scaled.safetensors")
    with pytest.raises(UnsupportedError, match="scale_weight") as caught:
        bake(tmp_path / "scaled.safetensors", [(zoo["sd1-kohya-lora"].path, WEIGHT)], tmp_path / "out.safetensors")
    assert "\n" not in str(caught.value) and not (tmp_path / "out.safetensors").exists()


def test_extract_diffs_fp8_checkpoints_exactly_as_their_float32_twins(zoo, tmp_path):
    lora = zoo["sd1-kohya-lora"].path
    base = _cast(zoo["sd1-single"].path, tmp_path / "base8.safetensors", torch.float8_e4m3fn)
    bake(base, [(lora, 4.0)], tmp_path / "tuned8.safetensors")  # big enough to survive fp8 rounding
    twins = [
        _cast(tmp_path / f"{n}8.safetensors", tmp_path / f"{n}32.safetensors", torch.float32) for n in ("base", "tuned")
    ]
    extract(base, tmp_path / "tuned8.safetensors", tmp_path / "from8.safetensors", rank=4, dtype="fp32")
    extract(*twins, tmp_path / "from32.safetensors", rank=4, dtype="fp32")
    got, want = load_file(tmp_path / "from8.safetensors"), load_file(tmp_path / "from32.safetensors")
    assert got.keys() == want.keys() and len(got) > 0
    assert all(torch.equal(got[k], want[k]) for k in want)
