"""Benchmark: the catalog commands on 100,000 artifacts (SQLite), each in a fresh process.

The catalog is :mod:`test_bench_catalog`'s mix at 100,000 artifacts (training metadata of
1–2 KB per LoRA, tags; module rows for the first 200 adapters only, which ``show`` and
``check`` read), plus a pair of files with one sha256 for ``dupes``. Each command runs as a
user runs it, its output piped: the time to its first line of output, the total time and
its peak RSS are printed. The read-only commands run on plain ``sqlite3`` (no SQLAlchemy import:
:mod:`loradex.registry.queries.reading`).

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_list.py``.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select
from test_bench_catalog import _build  # noqa: E402  (benchmarks/ is on sys.path under pytest)

from loradex.adapters.model.layermap import layer_map
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact

pytestmark = pytest.mark.benchmark

N_ARTIFACTS = 100_000
LOADRX = [str(Path(sys.executable).parent / "loradex")]


def _measure(argv: list[str]) -> tuple[float, float, int, int]:
    """(seconds to the first line, seconds in all, peak RSS in MiB, exit code) of one run.

    The peak is the process's own ``VmHWM``, polled: ``ru_maxrss`` of a child counts the memory
    of the process that forked it (this benchmark's, ~180 MiB), whatever the child uses."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    peak = [0]

    def watch() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                peak[0] = max(
                    [
                        peak[0],
                        *(
                            int(line.split()[1])
                            for line in status.read_text().splitlines()
                            if line.startswith("VmHWM:")
                        ),
                    ]
                )
            except (OSError, ValueError):
                pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    proc.stdout.readline()
    first = time.perf_counter() - start
    while proc.stdout.read(1 << 16):
        pass
    proc.wait()
    total = time.perf_counter() - start
    watcher.join()
    return first, total, peak[0] // 1024, proc.returncode


def test_catalog_commands_on_100k_artifacts(tmp_path):
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    layer_map("sd1"), layer_map("sdxl")
    start = time.perf_counter()
    sizes = _build(url, random.Random(1234), n=N_ARTIFACTS, with_modules=200)
    engine = open_catalog(url)
    with open_session(engine) as s:
        adapter = s.exec(
            select(Artifact).where(
                Artifact.kind == "lora", Artifact.base == "sdxl", Artifact.id <= 200, Artifact.layer_set_id.is_not(None)
            )
        ).first()
        checkpoint = s.exec(select(Artifact).where(Artifact.kind == "checkpoint", Artifact.base == "sdxl")).first()
        s.exec(update(Artifact).where(Artifact.id == N_ARTIFACTS).values(sha256=adapter.sha256))  # a duplicate
        s.commit()
        adapter_name, checkpoint_id = adapter.name, checkpoint.id
    engine.dispose()
    print(
        f"\ncatalog: {sizes['artifacts']:,} artifacts, {sizes['modules']:,} module rows, {sizes['tags']:,} tag "
        f"links; built in {time.perf_counter() - start:.1f} s"
    )
    catalog = [*LOADRX, "--catalog", url]
    cases = {
        "--help (no catalog: the start-up floor)": [*LOADRX, "--help"],
        "list": [*catalog, "list"],
        "list --json": [*catalog, "list", "--json"],
        "list --fits CHECKPOINT": [*catalog, "list", "--fits", str(checkpoint_id)],
        "list --limit 20": [*catalog, "list", "--limit", "20"],
        "show NAME": [*catalog, "show", adapter_name],
        "check ADAPTER --base CHECKPOINT": [*catalog, "check", adapter_name, "--base", str(checkpoint_id)],
        "dupes": [*catalog, "dupes"],
        # Last, as it writes: the bench's files do not exist, so every row is marked missing.
        "verify (every file missing)": [*catalog, "verify"],
    }
    for label, argv in cases.items():
        first, total, rss, code = _measure(argv)
        print(f"loradex {label}: first line {first:.2f} s, total {total:.2f} s, peak RSS {rss} MiB (exit {code})")
        assert code in (0, 4), label  # check exits 4 for a partial fit, verify when something is missing
