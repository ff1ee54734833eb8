"""The cost of the hashes issue 21 added (AutoV3's tensor sha256 was there before; BLAKE3 and
CRC-32 are new) where hashing bounds a scan: checkpoint-size files, from the page cache and from
the disk. "Before" is the work the scan's hashing did before them, reproduced here: the whole
file's sha256 and the tensor sha256 from one read of 4 MiB chunks, in the reading thread."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from loradex.adapters.io.hashing import CHUNK_SIZE, hash_file

pytestmark = pytest.mark.benchmark

N_FILES, FILE_MIB, ROUNDS, WORKERS = 4, 512, 3, 4


def _before(path: Path) -> tuple[str, str]:
    """The two sha256 passes the scan made before BLAKE3 and CRC-32, from one read."""
    whole, tensors = hashlib.sha256(), hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        head = f.read(8)
        whole.update(head)
        header = f.read(int.from_bytes(head, "little"))
        whole.update(header)
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        while n := f.readinto(buf):
            whole.update(view[:n])
            tensors.update(view[:n])
    return whole.hexdigest(), tensors.hexdigest()


def _after(path: Path) -> tuple[str, str]:
    got = hash_file(path)
    return got.sha256, got.tensor_hash or ""


def _evict(paths: list[Path]) -> None:
    """Drop the files' pages from the page cache, so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _timed(fn, paths: list[Path], *, cold: bool, workers: int) -> tuple[float, float]:
    if cold:
        _evict(paths)
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:  # as the scan's hashing workers
        list(pool.map(fn, paths))
    return time.perf_counter() - start, time.process_time() - cpu


def test_extra_hashes_where_hashing_bounds_the_scan(tmp_path):
    paths = []
    for i in range(N_FILES):
        paths.append(tmp_path / f"ckpt{i}.safetensors")
        save_file({"w": torch.randn(FILE_MIB, 512, 1024).half()}, paths[-1], {"i": str(i)})
    assert _before(paths[0]) == _after(paths[0])
    load = os.getloadavg()[0]
    print(f"\n{N_FILES} files of {FILE_MIB} MiB, {os.cpu_count()} CPUs, best of {ROUNDS}, before/after alternated")
    # One worker on this 2-CPU machine stands for a machine with more cores than the scan has
    # workers (4 workers on 8+ cores): the before code hashed a file on one core, whatever was free.
    for label, files, cold, workers in (
        ("one file, page cache", paths[:1], False, 1),
        ("1 worker, page cache", paths, False, 1),
        (f"{WORKERS} workers, page cache", paths, False, WORKERS),
        (f"{WORKERS} workers, from the disk", paths, True, WORKERS),
    ):
        best: dict[str, tuple[float, float]] = {}
        for _ in range(ROUNDS):  # alternated, so both see the same machine
            for name, fn in (("before", _before), ("after", _after)):
                took = _timed(fn, files, cold=cold, workers=workers)
                best[name] = min(best.get(name, took), took)
        (bw, bc), (aw, ac) = best["before"], best["after"]
        print(
            f"{label:26s} before {bw:.2f} s wall {bc:.2f} s CPU | after {aw:.2f} s wall {ac:.2f} s CPU"
            f" | wall {aw / bw:.2f}x, CPU {ac / bc:.2f}x"
        )
    print(f"load average {load:.1f} before / {os.getloadavg()[0]:.1f} after")
