"""Benchmark: ``mix(method="svd")`` of two SDXL rank-32 kohya LoRAs, which reduces from the
factors (QR of the stacked factors + SVD of the small core), against the naive way kohya's
svd_merge_lora does it: form every dense ΔW = Σ wᵢ·sᵢ·Bᵢ·Aᵢ in fp32, keep them all, and run a
full ``torch.linalg.svd`` of each, truncated to rank 32.

A full-ΔW SVD of all 722 SDXL UNet transformer layers takes tens of minutes on a 2-core CPU
(a 1280×5120 ``ff.net.2`` alone takes seconds), so BOTH sides run on the same deterministic
subset: every ``STRIDE``-th layer in layer-map order (7 by default: prime, so the subset does
not alias onto the 10-layer period of a transformer block). A separate line times ``mix`` over
all 722 layers for scale. Each measured run is a fresh process reporting its own peak RSS
(``VmHWM``; a subprocess's ``ru_maxrss`` would start at the parent's high-water mark).

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_mix.py``
(``LORADEX_BENCH_MIX_STRIDE=N`` changes the subset, 1 = every layer; ``LORADEX_BENCH_THREADS=N``
the intra-op threads of both measured processes, 1 by default, 0 = torch's default).
"""

from __future__ import annotations

import collections
import os
import textwrap

import pytest
import torch
from children import PEAK_RSS, run_child  # benchmarks/ is on sys.path under pytest
from synthetic import write_kohya_lora

from loradex.adapters.model.layermap import layer_map

pytestmark = pytest.mark.benchmark

RANK = 32
STRIDE = int(os.environ.get("LORADEX_BENCH_MIX_STRIDE", "7"))
#: Intra-op threads of the measured processes (OMP_NUM_THREADS), the same for both sides; 0 = torch's
#: default. 1 by default: on a shared 2-core machine, two OpenMP threads competing with another busy
#: process made the dense SVDs 6x slower (108 s → 696 s for the same subset), blowing the time budget.
THREADS = int(os.environ.get("LORADEX_BENCH_THREADS", "1"))
WEIGHTS = (0.8, 0.5)
ALPHAS = (32.0, 16.0)  # scales 1.0 and 0.5: distinct spectra, so the rank-32 truncation is well defined


def sdxl_attention_layers():
    """SDXL UNet transformer layers (attn1/attn2 q/k/v/out, ff, proj_in/out), layer-map order."""
    return [
        layer
        for layer in layer_map("sdxl").layers.values()
        if layer.component == "unet" and ".attentions." in layer.name
    ]


_MIX_CHILD = PEAK_RSS + textwrap.dedent("""
    import json, resource, sys, time
    t0 = time.perf_counter()
    from loradex.adapters.ops.mix import mix
    l1, l2, out, w1, w2, rank = sys.argv[1:7]
    rss0 = hwm_kb()
    t1 = time.perf_counter()
    report = mix([(l1, float(w1)), (l2, float(w2))], out, method="svd", rank=int(rank))
    t2 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "rss_after_import_kb": rss0,
                                  "maxrss_kb": hwm_kb(), "layers": report.layers,
                                  "ranks": sorted(set(report.ranks))}))
""")

_NAIVE_CHILD = PEAK_RSS + textwrap.dedent("""
    import json, resource, sys, time
    t0 = time.perf_counter()
    import torch
    from safetensors.torch import load_file, save_file
    l1, l2, out, w1, w2, rank = sys.argv[1:7]
    rank = int(rank)
    rss0 = hwm_kb()
    t1 = time.perf_counter()
    dense = {}  # like kohya's svd_merge_lora: every layer's dense ΔW, all kept in memory
    for path, weight in ((l1, float(w1)), (l2, float(w2))):
        lora = load_file(path)
        for key in sorted(lora):
            if not key.endswith(".lora_down.weight"):
                continue
            stem = key[: -len(".lora_down.weight")]
            down = lora[key].float()
            up = lora[stem + ".lora_up.weight"].float()
            scale = float(lora[stem + ".alpha"]) / down.shape[0]
            d = weight * scale * (up @ down)
            dense[stem] = dense[stem] + d if stem in dense else d
    t_dense = time.perf_counter()
    merged = {}
    for stem, mat in dense.items():
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        merged[stem + ".lora_up.weight"] = (u[:, :rank] * s[:rank]).contiguous()
        merged[stem + ".lora_down.weight"] = vh[:rank].contiguous()
        merged[stem + ".alpha"] = torch.tensor(float(rank))
    t_svd = time.perf_counter()
    save_file(merged, out)  # fp32, kohya's default when no --save_precision is given
    t2 = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "rss_after_import_kb": rss0,
                                  "maxrss_kb": hwm_kb(), "layers": len(dense), "dense_s": t_dense - t1,
                                  "svd_s": t_svd - t_dense, "save_s": t2 - t_svd,
                                  "dense_mib": sum(m.numel() for m in dense.values()) * 4 / 2**20}))
""")


def _rank_product(tensors: dict[str, torch.Tensor], stem: str) -> torch.Tensor:
    down = tensors[f"{stem}.lora_down.weight"].float()
    up = tensors[f"{stem}.lora_up.weight"].float()
    return up @ down * (float(tensors[f"{stem}.alpha"]) / down.shape[0])


def test_mix_svd_vs_dense_svd(tmp_path):
    from safetensors.torch import load_file

    every = sdxl_attention_layers()
    subset = every[::STRIDE]
    shapes = collections.Counter(layer.shape for layer in subset)
    l1, l2 = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    write_kohya_lora(l1, subset, rank=RANK, alpha=ALPHAS[0], seed=1, base="sdxl")
    write_kohya_lora(l2, subset, rank=RANK, alpha=ALPHAS[1], seed=2, base="sdxl")
    load = os.getloadavg()

    mixed_out, naive_out = tmp_path / "mixed.safetensors", tmp_path / "naive.safetensors"
    mixes = [
        run_child(_MIX_CHILD, l1, l2, mixed_out, *WEIGHTS, RANK, threads=THREADS)[:2] for _ in range(3)
    ]  # cheap: best of 3
    mixed, mix_total = min(mixes, key=lambda r: r[0]["call_s"])
    mix_runs = ", ".join(f"{r['call_s']:.2f}" for r, _ in mixes)
    naive, naive_total, _ = run_child(_NAIVE_CHILD, l1, l2, naive_out, *WEIGHTS, RANK, threads=THREADS)

    # For scale: mix over every layer (the naive side would take tens of minutes here).
    f1, f2, full_out = tmp_path / "full_a.safetensors", tmp_path / "full_b.safetensors", tmp_path / "full.safetensors"
    write_kohya_lora(f1, every, rank=RANK, alpha=ALPHAS[0], seed=3, base="sdxl")
    write_kohya_lora(f2, every, rank=RANK, alpha=ALPHAS[1], seed=4, base="sdxl")
    full, _, _ = run_child(_MIX_CHILD, f1, f2, full_out, *WEIGHTS, RANK, threads=THREADS)
    load_end = os.getloadavg()

    mib = 1 / 1024
    threads = THREADS or torch.get_num_threads()
    print(
        f"\n[mix] machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} intra-op thread(s) in both "
        f"measured processes (LORADEX_BENCH_THREADS), "
        f"load average {load[0]:.2f} before / {load_end[0]:.2f} after"
    )
    print(
        f"[mix] subset: every {STRIDE}th of the {len(every)} SDXL UNet transformer layers = {len(subset)} layers "
        f"for BOTH sides; two rank-{RANK} fp16 kohya LoRAs ({l1.stat().st_size / 1e6:.1f} MB each), "
        f"weights {WEIGHTS}, alphas {ALPHAS}; shapes {dict(shapes.most_common())}"
    )
    print(
        f"[mix] loradex mix(svd, rank={RANK}) wall (call): {mixed['call_s']:8.2f} s  (best of 3: "
        f"{mix_runs}; total incl. interpreter+import {mix_total:.2f} s)"
    )
    print(
        f"[mix] naive dense-ΔW SVD wall (call):        {naive['call_s']:8.2f} s  (1 run; "
        f"total incl. interpreter+import {naive_total:.2f} s; dense ΔW {naive['dense_s']:.2f} s, "
        f"svd {naive['svd_s']:.2f} s, save {naive['save_s']:.2f} s)"
    )
    print(
        f"[mix] speed-up naive/mix: {naive['call_s'] / mixed['call_s']:.1f}x  (target >= 10x); "
        f"incl. process start+imports: {naive_total / mix_total:.1f}x"
    )
    print(
        f"[mix] peak RSS: mix {mixed['maxrss_kb'] * mib:.0f} MiB "
        f"(after imports {mixed['rss_after_import_kb'] * mib:.0f}),"
        f" naive {naive['maxrss_kb'] * mib:.0f} MiB (after imports {naive['rss_after_import_kb'] * mib:.0f}; "
        f"dense ΔW held: {naive['dense_mib']:.0f} MiB)"
    )
    print(
        f"[mix] for scale: mix(svd) over all {len(every)} layers: {full['call_s']:.2f} s, "
        f"peak RSS {full['maxrss_kb'] * mib:.0f} MiB (naive not run on all layers)"
    )

    # Sanity: same layers, rank 32, and the same rank-32 ΔW (mix writes fp16 factors, naive fp32).
    assert mixed["layers"] == naive["layers"] == len(subset) and mixed["ranks"] == [RANK]
    assert full["layers"] == len(every)
    got, want = load_file(mixed_out), load_file(naive_out)
    assert {k for k in got if not k.endswith(".alpha")} == {k for k in want if not k.endswith(".alpha")}
    picks = {}
    for layer in subset:  # one layer of each shape
        picks.setdefault(layer.shape, layer.kohya)
    errors = {}
    for shape, stem in picks.items():
        assert got[f"{stem}.lora_down.weight"].shape == (RANK, shape[1])
        assert got[f"{stem}.lora_up.weight"].shape == (shape[0], RANK)
        a, b = _rank_product(got, stem), _rank_product(want, stem)
        errors[stem] = float((a - b).norm() / b.norm())
    worst = max(errors.values())
    print(
        f"[mix] check: rank-{RANK} ΔW of mix vs naive on {len(errors)} layers (one per shape): max relative "
        f"Frobenius error {worst:.1e} (fp16 factors in the mix output; limit 1e-3)"
    )
    assert worst < 1e-3, errors
