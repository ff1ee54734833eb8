"""LoRA math as small pure functions on tensors.

Written by hand because no library offers it: deltas of every LyCORIS algorithm, and
singular values of a low-rank product B·A without forming it (QR of B and of Aᵀ, then the
SVD of the small R×R core: O((m+n)R²) instead of O(m·n·min(m, n))).
All math runs in float32 (float64 where asked); callers cast once at the end.
"""

from __future__ import annotations

import math

import torch

from loradex.adapters.errors import UnsupportedError

Tensors = dict[str, torch.Tensor]


def _tucker(core: torch.Tensor, down: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """CP/Tucker-decomposed conv as LyCORIS rebuilds it: core (r, r, kh, kw), down (r, in),
    up (r, out) → (out, in, kh, kw)."""
    return torch.einsum("i j k l, j r, i p -> p r k l", core, down.flatten(1), up.flatten(1))


def product_factors(algorithm: str, t: Tensors, scale: float) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(B, A)`` with ΔW = B @ A (flattened to 2-D, scale folded into B), or None when the
    algorithm has no cheap low-rank form (LoKr, full, CP-decomposed convs)."""
    if algorithm in ("lora", "locon", "dora") and "lora_mid" not in t:
        return t["lora_up"].flatten(1).float() * scale, t["lora_down"].flatten(1).float()
    if algorithm == "loha" and "hada_t1" not in t:
        # (A1 B1) ⊙ (A2 B2) = KR(A1, A2) · KR(B1ᵀ, B2ᵀ)ᵀ: a Hadamard product of rank-r factors
        # is a rank-r² product of row-wise Khatri–Rao factors.
        a1, b1 = t["hada_w1_a"].float(), t["hada_w1_b"].float().flatten(1)
        a2, b2 = t["hada_w2_a"].float(), t["hada_w2_b"].float().flatten(1)
        left = (a1.unsqueeze(2) * a2.unsqueeze(1)).reshape(a1.shape[0], -1)
        right = (b1.unsqueeze(1) * b2.unsqueeze(0)).reshape(-1, b1.shape[1])
        return left * scale, right
    return None


def delta(algorithm: str, t: Tensors, scale: float, shape: tuple[int, ...]) -> torch.Tensor:
    """The full ΔW (float32, ``shape``) of one adapted layer, scale included.

    Raises:
        UnsupportedError: DoRA, whose result depends on the base weight (use ``dora_delta``).
    """
    if algorithm == "dora":
        raise UnsupportedError("a DoRA layer's delta depends on the base weight; it needs the base model")
    if "diff" in t:  # a full delta, or a LoKr's rows of a fused module materialised (factors.layer_tensors)
        return t["diff"].float().reshape(shape) * scale
    factors = product_factors(algorithm, t, scale)
    if factors is not None:
        return (factors[0] @ factors[1]).reshape(shape)
    if algorithm in ("lora", "locon"):
        # lora_up is a 1×1 conv (out, r): transpose into the (r, out) orientation of the core.
        up = t["lora_up"].float().flatten(1).T
        return _tucker(t["lora_mid"].float(), t["lora_down"].float(), up).reshape(shape) * scale
    if algorithm == "loha":
        w1 = _tucker(t["hada_t1"].float(), t["hada_w1_b"].float(), t["hada_w1_a"].float())
        w2 = _tucker(t["hada_t2"].float(), t["hada_w2_b"].float(), t["hada_w2_a"].float())
        return (w1 * w2).reshape(shape) * scale
    if algorithm == "lokr":
        w1 = _lokr_part(t, "lokr_w1")
        w2 = _lokr_part(t, "lokr_w2")
        if w2.dim() == 4:
            w1 = w1.reshape(*w1.shape, 1, 1)
        # kron needs contiguous factors; a Tucker-rebuilt w2 is an einsum's strided view
        return torch.kron(w1.contiguous(), w2.contiguous()).reshape(shape) * scale
    raise UnsupportedError(f"unknown adapter algorithm {algorithm!r}")


def _lokr_part(t: Tensors, name: str) -> torch.Tensor:
    if name in t:
        return t[name].float()
    if name == "lokr_w2" and "lokr_t2" in t:
        return _tucker(t["lokr_t2"].float(), t["lokr_w2_b"].float(), t["lokr_w2_a"].float())
    a, b = t[f"{name}_a"].float(), t[f"{name}_b"].float()
    return (a @ b.flatten(1)).reshape(a.shape[0], *b.shape[1:])


def lowrank_svd(b: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD ``U, S, Vh`` of ``b @ a`` (m×R times R×n) without forming the m×n product."""
    qb, rb = torch.linalg.qr(b)
    qa, ra = torch.linalg.qr(a.T)
    u, s, vh = torch.linalg.svd(rb @ ra.T, full_matrices=False)
    return qb @ u, s, vh @ qa.T


#: min(m, n) beyond which a randomised sketch beats the full SVD in :func:`truncated_svd`.
_RANDOMISED_ABOVE = 1024


def truncated_svd(d: torch.Tensor, rank: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``U, S, Vh`` of the best rank-``rank`` approximation of a 2-D ``d`` (deterministic).

    Large matrices use a randomised SVD (Halko et al.: two power iterations on a
    rank+oversampling sketch), O(m·n·r) instead of the full SVD's O(m·n·min(m, n)); small
    ones, or ranks near full, take the exact SVD.
    """
    if min(d.shape) <= _RANDOMISED_ABOVE or rank * 4 >= min(d.shape):
        u, s, vh = torch.linalg.svd(d, full_matrices=False)
        return u[:, :rank], s[:rank], vh[:rank]
    gen = torch.Generator().manual_seed(seed)
    sketch = d @ torch.randn(d.shape[1], rank + 10, generator=gen)
    for _ in range(2):  # power iterations sharpen the subspace when σ decays slowly
        sketch = d @ (d.T @ torch.linalg.qr(sketch)[0])
    q = torch.linalg.qr(sketch)[0]
    u, s, vh = torch.linalg.svd(q.T @ d, full_matrices=False)
    return (q @ u)[:, :rank], s[:rank], vh[:rank]


def split_svd(
    u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, rank: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """LoRA factors ``(B, A)`` with B @ A = U·diag(S)·Vh truncated to ``rank`` (default: all).

    σ is split evenly (B = U√S, A = √S·Vh): with all of σ in one factor, large layers'
    up-matrices overflow fp16. Every SVD-to-LoRA truncation in loradex goes through here.
    """
    r = s.numel() if rank is None else min(rank, s.numel())
    root = s[:r].sqrt()
    return u[:, :r] * root, root.unsqueeze(1) * vh[:r]


def retained_energy(s: torch.Tensor, rank: int, total: float | None = None) -> float:
    """Share of ‖ΔW‖²_F kept by the first ``rank`` singular values (``total``: ‖ΔW‖²_F when
    ``s`` holds only the leading values)."""
    total = float(s.square().sum()) if total is None else total
    return float(s[:rank].square().sum()) / total if total > 0 else 1.0


def singular_values(algorithm: str, t: Tensors, scale: float, shape: tuple[int, ...]) -> torch.Tensor:
    """Singular values of the layer's ΔW (flattened to out × rest), from the factors when
    the algorithm allows; LoKr uses σ(A⊗B) = σ(A)⊗σ(B)."""
    factors = product_factors(algorithm, t, scale)
    if factors is not None:
        return lowrank_svd(*factors)[1]
    if algorithm == "lokr" and "diff" not in t and _lokr_part(t, "lokr_w2").dim() != 4:
        s1 = torch.linalg.svdvals(_lokr_part(t, "lokr_w1"))
        s2 = torch.linalg.svdvals(_lokr_part(t, "lokr_w2").flatten(1))
        return torch.sort(torch.outer(s1, s2).flatten() * abs(scale), descending=True).values
    return torch.linalg.svdvals(delta(algorithm, t, scale, shape).flatten(1))


def effective_rank(s: torch.Tensor) -> float:
    """Entropy effective rank (Roy & Vetterli 2007): exp of the entropy of σ/Σσ."""
    total = float(s.sum())
    if total <= 0 or not math.isfinite(total):
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def numerical_rank(s: torch.Tensor, rtol: float = 1e-4) -> int:
    """Count of singular values above ``rtol`` times the largest."""
    return int((s > s.max() * rtol).sum()) if s.numel() and float(s.max()) > 0 else 0
