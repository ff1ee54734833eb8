"""LyCORIS is the oracle for LoCon, LoHa and LoKr: files are built with lycoris-lora's own
modules around real Linear/Conv2d layers of the zoo's SD1 shapes (non-zero factors, alpha ≠
rank), ΔW is taken from LyCORIS's *forward pass* (forward(x) − the original forward(x), on a
basis of inputs), and loradex's probe, delta, inspect, bake, mix and convert must agree.

Why the forward pass and not ``get_diff_weight``: in lycoris-lora 4.1.3 the merge path
(``get_diff_weight``) applies alpha/rank once more than the forward pass does for LoHa and LoKr
(``get_weight`` already multiplies by ``self.scale``); ComfyUI and A1111 scale like the forward
pass, which is what a user sees when the adapter is applied.
"""

from __future__ import annotations

import pytest
import torch
from lycoris.modules.locon import LoConModule
from lycoris.modules.loha import LohaModule
from lycoris.modules.lokr import LokrModule
from safetensors.torch import save_file

from loradex.adapters import inspect, probe
from loradex.adapters.model.checkpoint import LayerWeights
from loradex.adapters.model.layermap import layer_map
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.convert import convert
from loradex.adapters.ops.mix import mix
from tests.support.oracles import deltas

CONV = "unet.down_blocks.0.resnets.0.conv1"  # (32, 32, 3, 3) in the zoo's tiny SD1
LINEAR = "unet.time_embedding.linear_1"  # (128, 32): out ≠ in, so a transposed ΔW shows
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: name → (module class, layer, constructor options); every layout LyCORIS writes.
CASES = {
    "locon-linear": (LoConModule, LINEAR, dict(lora_dim=4, alpha=2)),
    "locon-conv": (LoConModule, CONV, dict(lora_dim=4, alpha=2)),
    "locon-conv-tucker": (LoConModule, CONV, dict(lora_dim=4, alpha=2, use_tucker=True)),
    "loha-linear": (LohaModule, LINEAR, dict(lora_dim=4, alpha=2)),
    "loha-conv": (LohaModule, CONV, dict(lora_dim=4, alpha=2)),
    "loha-conv-tucker": (LohaModule, CONV, dict(lora_dim=4, alpha=2, use_tucker=True)),
    "lokr-linear-full": (LokrModule, LINEAR, dict(lora_dim=8, alpha=2, full_matrix=True)),  # scale 1
    "lokr-linear-w2-factored": (LokrModule, LINEAR, dict(lora_dim=2, alpha=1)),
    "lokr-linear-both-factored": (LokrModule, LINEAR, dict(lora_dim=1, alpha=0.5, decompose_both=True)),
    "lokr-conv": (LokrModule, CONV, dict(lora_dim=2, alpha=1)),
    "lokr-conv-tucker": (LokrModule, CONV, dict(lora_dim=2, alpha=1, use_tucker=True)),
}


def _lycoris_layer(cls, shape: tuple[int, ...], dtype: torch.dtype, options: dict):
    """A LyCORIS module on a fresh layer of ``shape``, its factors random and rounded to
    ``dtype``; returns (state dict in ``dtype``, ΔW from the forward pass, float64)."""
    torch.manual_seed(0)
    org = (
        torch.nn.Conv2d(shape[1], shape[0], shape[2:], bias=False)
        if len(shape) == 4
        else torch.nn.Linear(shape[1], shape[0], bias=False)
    )
    module = cls("lora_unet_oracle", org, 1.0, **options)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if not name.startswith("org"):
                param.copy_((torch.randn_like(param) * 0.2).to(dtype).float())
    state = {k: v.to(dtype) for k, v in module.state_dict().items()}
    module.double()
    org.double()
    module.apply_to()
    n = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape[1:])
    with torch.no_grad():
        dw = (module(basis) - module.org_forward(basis)).reshape(n, shape[0]).T.reshape(shape)
    assert float(dw.abs().max()) > 0
    return state, dw


def _adapter_file(tmp_path, zoo, case: str, dtype_name: str):
    """A LyCORIS file for the zoo's SD1 base (the layer's shape there), and the oracle ΔW."""
    cls, canonical, options = CASES[case]
    state, dw = _lycoris_layer(cls, probe(zoo["sd1-single"].path).inventory[canonical], DTYPES[dtype_name], options)
    stem = layer_map("sd1").layers[canonical].kohya
    path = tmp_path / f"{case}-{dtype_name}.safetensors"
    save_file(
        {f"{stem}.{k}": v.contiguous() for k, v in state.items()},
        path,
        {"ss_network_module": "lycoris.kohya", "ss_base_model_version": "sd_v1"},
    )
    return path, canonical, dw


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float) -> None:
    error = float((got.double() - want).norm() / want.norm())
    assert error < rtol, f"relative error {error:.2e}"


@pytest.mark.parametrize("dtype_name", sorted(DTYPES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_loradex_delta_equals_the_lycoris_forward_pass(zoo, tmp_path, case, dtype_name):
    path, canonical, dw = _adapter_file(tmp_path, zoo, case, dtype_name)
    info = probe(path)
    assert [(layer.canonical, layer.shape) for layer in info.layers] == [(canonical, tuple(dw.shape))]
    _close(deltas(path)[canonical], dw, 1e-5)  # the same rounded factors: float32 arithmetic only


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bake_of_a_lycoris_file_adds_the_lycoris_forward_delta(zoo, tmp_path, case):
    path, canonical, dw = _adapter_file(tmp_path, zoo, case, "fp16")
    base = zoo["sd1-single"].path
    out = tmp_path / "baked.safetensors"
    bake(base, [(path, 1.0)], out)
    with LayerWeights(base, probe(base)) as before, LayerWeights(out, probe(out)) as after:
        w0, w1 = before.weight(canonical), after.weight(canonical)
    # The base is fp16: W + ΔW is rounded once to fp16 (half an ulp of |W + ΔW| at most).
    bound = (w0.double() + dw).abs() * 2**-11 + 1e-7
    assert bool(((w1.double() - w0.double()) - dw).abs().le(bound).all())


@pytest.mark.parametrize("case", sorted(CASES))
def test_inspect_reports_the_norm_of_the_lycoris_delta(zoo, tmp_path, case):
    path, _, dw = _adapter_file(tmp_path, zoo, case, "fp32")
    (layer,) = inspect(path).layers
    assert layer.norm == pytest.approx(float(dw.norm()), rel=1e-4)


@pytest.mark.parametrize("case", sorted(CASES))
def test_mix_and_convert_of_a_lycoris_file_keep_the_lycoris_delta(zoo, tmp_path, case):
    path, canonical, dw = _adapter_file(tmp_path, zoo, case, "fp32")
    mixed = tmp_path / "mixed.safetensors"
    mix([(path, 1.0)], mixed)
    _close(deltas(mixed)[canonical], dw, 1e-4)
    converted = tmp_path / "converted.safetensors"
    convert(path, "kohya", converted, rank=min(dw.flatten(1).shape))  # full rank: exact up to rounding
    _close(deltas(converted)[canonical], dw, 1e-4)
