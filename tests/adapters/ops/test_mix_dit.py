"""mix and resize on Flux.1 and SD3 LoRAs (full-coverage files at the real shapes, small ranks): the
mixed delta of every canonical layer is the weighted sum of the inputs' deltas (concat exactly; svd
within its truncation), block weights act per double/single/joint block, and kohya output keeps the
original fused modules (one ``qkv`` and ``linear1`` stem, at the rank asked for). Deltas are compared
on random probe vectors (ΔW @ x), never as full products."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from loradex.adapters.io.weights import open_weights
from loradex.adapters.model.blocks import block_group
from loradex.adapters.model.layermap import LayerMap, block_label, layer_map
from loradex.adapters.model.probe import probe
from loradex.adapters.ops.convert import convert
from loradex.adapters.ops.factors import kohya_module, layer_factors
from loradex.adapters.ops.lowrank import lowrank_svd
from loradex.adapters.ops.mix import mix, resize
from loradex.adapters.zoo.dit_loras import diffusers_lora, kohya_lora

Factors = dict[str, tuple[torch.Tensor, torch.Tensor]]
FAMILIES = [("flux", ""), ("sd3", "medium")]


def _factors(path: Path) -> Factors:
    """Canonical layer → (B, A) of its delta, as loradex reads the file."""
    info = probe(path)
    assert info.unmatched == []
    with open_weights(path) as src:
        return {layer.canonical: layer_factors(info, layer, src) for layer in info.layers if layer.canonical}


_PROBES: dict[int, torch.Tensor] = {}


def _applied(factors: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """ΔW @ x for two fixed random probe vectors x of the layer's input width."""
    b, a = factors
    x = _PROBES.setdefault(a.shape[1], torch.randn(a.shape[1], 2, generator=torch.Generator().manual_seed(a.shape[1])))
    return b @ (a @ x)


def _assert_weighted_sum(got: Factors, parts: list[tuple[Factors, float]], scale=lambda name: 1.0) -> None:
    names = set().union(*(set(p) for p, _ in parts))
    assert set(got) == {name for name in names if scale(name) != 0}
    for name in got:
        want = sum(w * scale(name) * _applied(p[name]) for p, w in parts if name in p)
        torch.testing.assert_close(_applied(got[name]), want, rtol=1e-4, atol=1e-4 * float(want.abs().max()), msg=name)


@pytest.fixture(scope="module", params=FAMILIES, ids=lambda f: f"{f[0]}{f[1] and '-' + f[1]}")
def loras(request, tmp_path_factory):
    """A kohya LoRA of rank 2 (fused qkv / linear1 stems) and a diffusers LoRA of rank 1, in fp32."""
    family, size = request.param
    lm = layer_map(family, size)
    folder = tmp_path_factory.mktemp(family)
    kohya = kohya_lora(lm, folder / "kohya.safetensors", dtype=torch.float32, rank=2)
    diffusers = diffusers_lora(lm, folder / "pytorch_lora_weights.safetensors", dtype=torch.float32)
    return family, size, lm, kohya, diffusers


def _fused_stems(lm: LayerMap) -> set[str]:
    return {layer.kohya for name, layer in lm.layers.items() if kohya_module(lm, name) != name}


def test_a_concat_mix_of_kohya_and_diffusers_dit_loras_is_the_weighted_sum_of_their_deltas(loras, tmp_path):
    family, size, lm, kohya, diffusers = loras
    out = tmp_path / "mix.safetensors"
    mix([(kohya, 0.7), (diffusers, -0.3)], out)
    info = probe(out)
    assert (info.base, info.base_size, info.format, info.unmatched) == (family, size, "kohya", [])
    _assert_weighted_sum(_factors(out), [(_factors(kohya), 0.7), (_factors(diffusers), -0.3)])
    stems = {key.rsplit(".", 2)[0] for key in load_file(out)}
    assert _fused_stems(lm) <= stems  # save_kohya fused q/k/v (and linear1) again
    assert not any(".to_q" in stem or "_to_q" in stem for stem in stems if "_blocks_" in stem)


def test_a_concat_mix_of_kohya_loras_keeps_the_fused_modules_shared_down(loras, tmp_path):
    _, _, lm, kohya, _ = loras
    out = tmp_path / "twice.safetensors"
    mix([(kohya, 0.5), (kohya, 0.25)], out)
    tensors = load_file(out)
    for stem in _fused_stems(lm):
        assert tensors[f"{stem}.lora_down.weight"].shape[0] == 4, stem  # 2 + 2, not 3 × (2 + 2)
    _assert_weighted_sum(_factors(out), [(_factors(kohya), 0.75)])


def test_an_svd_mix_at_the_rank_of_the_sum_is_exact_and_writes_that_rank_per_fused_module(loras, tmp_path):
    _, _, lm, kohya, diffusers = loras
    # Each fused module of the sum has rank ≤ 2 + its parts (rank 1 each): 5 for q/k/v, 6 for linear1.
    out = tmp_path / "svd.safetensors"
    mix([(kohya, 0.7), (diffusers, -0.3)], out, method="svd", rank=6)
    _assert_weighted_sum(_factors(out), [(_factors(kohya), 0.7), (_factors(diffusers), -0.3)])
    tensors = load_file(out)
    assert max(t.shape[0] for k, t in tensors.items() if k.endswith(".lora_down.weight")) == 6


def test_an_svd_mix_below_that_rank_errs_by_no_more_than_the_first_singular_value_dropped(loras, tmp_path):
    _, _, lm, kohya, diffusers = loras
    inputs = [(_factors(kohya), 0.7), (_factors(diffusers), -0.3)]
    out = tmp_path / "svd2.safetensors"
    mix([(kohya, 0.7), (diffusers, -0.3)], out, method="svd", rank=2)
    got = _factors(out)
    modules: dict[str, list[str]] = {}
    for name in got:
        modules.setdefault(kohya_module(lm, name), []).append(name)
    for members in modules.values():
        bs = [torch.cat([w * p[name][0] for p, w in inputs if name in p], dim=1) for name in members]
        a = torch.cat([torch.cat([p[name][1] for p, _ in inputs if name in p]) for name in members])
        s = lowrank_svd(torch.block_diag(*bs), a)[1]
        dropped = float(s[2]) if s.numel() > 2 else 0.0  # σ₃ of the fused module's delta
        assert got[members[0]][1].shape[0] == 2
        for name in members:
            x = torch.randn(a.shape[1], 1, generator=torch.Generator().manual_seed(7))
            want = sum(w * p[name][0] @ (p[name][1] @ x) for p, w in inputs if name in p)
            residual = float((got[name][0] @ (got[name][1] @ x) - want).norm())
            assert residual <= dropped * float(x.norm()) * (1 + 1e-3) + 1e-4, name


def test_block_weights_scale_each_double_single_or_joint_block(loras, tmp_path):
    family, _, lm, kohya, _ = loras
    first, second = ("D", "S") if family == "flux" else ("J", "J")
    weights = {f"{first}0": 0.0, f"{first}1": 0.5, "TE3": 0.0, **({second: 2.0} if second != first else {})}
    out = tmp_path / "blocks.safetensors"
    mix([(kohya, 1.0)], out, block_weights=weights)

    def scale(name: str) -> float:
        label = block_label(name, lm.layers[name].component, family=family)
        return weights.get(label, weights.get(block_group(label), 1.0))

    _assert_weighted_sum(_factors(out), [(_factors(kohya), 1.0)], scale)


def test_resize_of_a_kohya_dit_lora_keeps_its_stems_and_shapes(loras, tmp_path):
    _, _, _, kohya, _ = loras
    out = tmp_path / "same.safetensors"
    resize(kohya, out, rank=2)
    before, after = load_file(kohya), load_file(out)
    assert {k: v.shape for k, v in after.items() if not k.endswith(".alpha")} == {
        k: v.shape for k, v in before.items() if not k.endswith(".alpha")
    }
    _assert_weighted_sum(_factors(out), [(_factors(kohya), 1.0)])


def test_resize_to_a_lower_rank_gives_each_fused_module_that_rank(loras, tmp_path):
    _, _, lm, kohya, _ = loras
    out = tmp_path / "r1.safetensors"
    resize(kohya, out, rank=1)
    tensors = load_file(out)
    assert {t.shape[0] for k, t in tensors.items() if k.endswith(".lora_down.weight")} == {1}
    assert {k.rsplit(".", 2)[0] for k in tensors} == {k.rsplit(".", 2)[0] for k in load_file(kohya)}


def test_a_mix_of_diffusers_dit_loras_converts_to_diffusers_with_the_same_deltas(loras, tmp_path):
    _, _, _, _, diffusers = loras
    out = tmp_path / "mix.safetensors"
    mix([(diffusers, 0.5), (diffusers, 0.25)], out)
    back = tmp_path / "back.safetensors"
    convert(out, "diffusers", back)
    assert probe(back).format == "diffusers"
    _assert_weighted_sum(_factors(back), [(_factors(diffusers), 0.75)])
