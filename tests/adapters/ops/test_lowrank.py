"""LoRA math on hand-made tensors: the low-rank shortcuts equal the dense computation (the deltas
themselves are checked against LyCORIS in test_lycoris_oracle.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from loradex.adapters.ops.lowrank import delta, effective_rank, lowrank_svd, numerical_rank, singular_values


def _rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def test_lowrank_svd_equals_the_svd_of_the_dense_product():
    b, a = _rand(40, 6), _rand(6, 30)
    u, s, vh = lowrank_svd(b, a)
    torch.testing.assert_close(s, torch.linalg.svdvals(b @ a)[:6], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(u @ torch.diag(s) @ vh, b @ a, rtol=1e-4, atol=1e-4)


def test_loha_singular_values_from_khatri_rao_factors_equal_dense_ones():
    t = {"hada_w1_a": _rand(20, 3), "hada_w1_b": _rand(3, 24), "hada_w2_a": _rand(20, 2), "hada_w2_b": _rand(2, 24)}
    dense = (t["hada_w1_a"] @ t["hada_w1_b"]) * (t["hada_w2_a"] @ t["hada_w2_b"]) * 0.5
    s = singular_values("loha", t, 0.5, (20, 24))
    torch.testing.assert_close(s, torch.linalg.svdvals(dense)[:6], rtol=1e-4, atol=1e-4)


def test_lokr_singular_values_are_the_outer_product_of_the_factors():
    t = {"lokr_w1": _rand(4, 5), "lokr_w2_a": _rand(6, 2), "lokr_w2_b": _rand(2, 7)}
    dense = torch.kron(t["lokr_w1"], t["lokr_w2_a"] @ t["lokr_w2_b"])
    s = singular_values("lokr", t, 1.0, (24, 35))
    torch.testing.assert_close(s[:8], torch.linalg.svdvals(dense)[:8], rtol=1e-4, atol=1e-4)


def test_conv_lora_delta_acts_like_the_two_convolutions_it_replaces():
    down, up = _rand(4, 8, 3, 3), _rand(16, 4, 1, 1)
    x = _rand(1, 8, 10, 10)
    two_step = F.conv2d(F.conv2d(x, down, padding=1), up)
    merged = F.conv2d(x, delta("locon", {"lora_down": down, "lora_up": up}, 1.0, (16, 8, 3, 3)), padding=1)
    torch.testing.assert_close(merged, two_step, rtol=1e-4, atol=1e-4)


def test_tucker_conv_delta_acts_like_its_three_convolutions():
    down, mid, up = _rand(4, 8, 1, 1), _rand(4, 4, 3, 3), _rand(16, 4, 1, 1)
    x = _rand(1, 8, 10, 10)
    three_step = F.conv2d(F.conv2d(F.conv2d(x, down), mid, padding=1), up)
    t = {"lora_down": down, "lora_mid": mid, "lora_up": up}
    merged = F.conv2d(x, delta("lora", t, 1.0, (16, 8, 3, 3)), padding=1)
    torch.testing.assert_close(merged, three_step, rtol=1e-4, atol=1e-4)


def test_effective_rank_of_equal_singular_values_is_their_count():
    assert abs(effective_rank(torch.ones(5)) - 5.0) < 1e-5
    assert numerical_rank(torch.tensor([3.0, 1.0, 1e-9])) == 2
