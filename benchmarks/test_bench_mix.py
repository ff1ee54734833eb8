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

:func:`test_mix_svd_beside_a_competing_load` times ``mix(svd)`` of two full-size SDXL LoRAs idle and
beside a busy loop per core, on the threads loradex chooses and on torch's default (issue 22).

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_mix.py``
(``LORADEX_BENCH_MIX_STRIDE=N`` changes the subset, 1 = every layer; ``LORADEX_BENCH_THREADS=N``
the intra-op threads of both measured processes of the first test, 1 by default, 0 = loradex's
choice; ``LORADEX_BENCH_LOAD_ROUNDS=N`` the rounds of the second).
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from children import PEAK_RSS, run_child  # benchmarks/ is on sys.path under pytest
from synthetic import write_kohya_lora

from loradex.adapters.model.layermap import layer_map

pytestmark = pytest.mark.benchmark

RANK = 32
STRIDE = int(os.environ.get("LORADEX_BENCH_MIX_STRIDE", "7"))
#: Intra-op threads of the measured processes (LORADEX_THREADS, and OMP_NUM_THREADS for the naive
#: side), the same for both sides; 0 = each process's own choice. 1 by default: on a shared 2-core
#: machine, two OpenMP threads competing with another busy process made the dense SVDs 6x slower
#: (108 s → 696 s for the same subset), blowing the time budget.
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
    threads = THREADS or "chosen"
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


# ---------------------------------------------------------------------------------------
# Threads chosen, not defaulted (issue 22): the same full-size mix idle and beside a busy loop per
# core, with the threads loradex chooses and with torch's default, alternated.
#
# The busy loops run in a session of their own, as another program would: Linux (autogroup) shares
# the CPU between sessions first, so loops started in the benchmark's own session would take the
# mix's own share instead of competing with it as a separate load does.

#: Rounds of the alternated runs (idle / loaded); torch's default threads run in the first round only,
#: as each of its runs takes minutes on a busy machine.
LOAD_ROUNDS = int(os.environ.get("LORADEX_BENCH_LOAD_ROUNDS", "3"))
#: torch's own default in a fresh process (one thread per core), read before anything here changes it.
TORCH_DEFAULT_THREADS = torch.get_num_threads()

_THREADS_CHILD = textwrap.dedent("""
    import json, sys, time
    import torch
    from loradex.adapters.ops.mix import mix
    l1, l2, out, w1, w2, rank = sys.argv[1:7]
    seen = set()
    t1 = time.perf_counter()
    mix([(l1, float(w1)), (l2, float(w2))], out, method="svd", rank=int(rank),
        progress=lambda event: seen.add(torch.get_num_threads()))
    t2 = time.perf_counter()
    print("RESULT " + json.dumps({"call_s": t2 - t1, "threads": sorted(seen)}))
""")


def sdxl_full_lora_layers():
    """What a full-size SDXL kohya LoRA (networks.lora) holds: the UNet transformer layers and both
    text encoders' attention and MLP layers."""
    return sdxl_attention_layers() + [
        layer
        for layer in layer_map("sdxl").layers.values()
        if layer.component.startswith("text_encoder") and ".layers." in layer.name
    ]


@contextlib.contextmanager
def busy_loops():
    """One busy-looping process per core of the machine, in a session of its own, for the block."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(1.0)  # running, and in the run queue, before the measured process starts
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_mix_svd_beside_a_competing_load(tmp_path):
    every = sdxl_full_lora_layers()
    l1, l2, out = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "mixed.safetensors"
    write_kohya_lora(l1, every, rank=RANK, alpha=ALPHAS[0], seed=5, base="sdxl")
    write_kohya_lora(l2, every, rank=RANK, alpha=ALPHAS[1], seed=6, base="sdxl")
    env = {key: value for key, value in os.environ.items() if key not in ("LORADEX_THREADS", "OMP_NUM_THREADS")}
    runs: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    loads: list[float] = []

    def measure(threads: str, load: str) -> None:
        child_env = env | ({"LORADEX_THREADS": str(TORCH_DEFAULT_THREADS)} if threads == "torch default" else {})
        with busy_loops() if load == "loaded" else contextlib.nullcontext():
            loads.append(os.getloadavg()[0])
            proc = subprocess.run(
                [sys.executable, "-c", _THREADS_CHILD, *map(str, (l1, l2, out, *WEIGHTS, RANK))],
                capture_output=True,
                text=True,
                env=child_env,
            )
        assert proc.returncode == 0, proc.stderr[-4000:]
        result = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
        runs[threads, load].append(result["call_s"])
        print(
            f"[mix-load] {threads:>13}, {load:>6}: {result['call_s']:7.2f} s on {result['threads']} thread(s), "
            f"load average {loads[-1]:.2f}",
            flush=True,
        )

    print(
        f"\n[mix-load] full-size SDXL: two rank-{RANK} kohya LoRAs of {len(every)} layers "
        f"({l1.stat().st_size / 1e6:.0f} MB each), mix(svd, rank={RANK}); {os.cpu_count()} CPUs; "
        f"competing load: {os.cpu_count()} busy loops in another session; torch's default: "
        f"{TORCH_DEFAULT_THREADS} threads",
        flush=True,
    )
    for n in range(LOAD_ROUNDS):  # alternated: the machine is shared, its load drifts
        for threads in ("chosen", "torch default") if n == 0 else ("chosen",):
            for load in ("idle", "loaded"):
                measure(threads, load)

    def ratio(threads: str) -> str:
        idle, loaded = min(runs[threads, "idle"]), min(runs[threads, "loaded"])
        return (
            f"loaded / idle = {loaded:.2f} / {idle:.2f} s = {loaded / idle:.2f}x (best of {len(runs[threads, 'idle'])})"
        )

    print(f"[mix-load] chosen threads: {ratio('chosen')}; target <= 1.3x")
    print(f"[mix-load] torch's default threads: {ratio('torch default')}")
    idle, loaded = (min(runs["torch default", load]) / min(runs["chosen", load]) for load in ("idle", "loaded"))
    print(
        f"[mix-load] torch default / chosen: idle {idle:.1f}x, loaded {loaded:.1f}x; "
        f"load average {min(loads):.2f}-{max(loads):.2f} over the runs"
    )
