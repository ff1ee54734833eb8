"""Benchmark: the TUI on catalogs of 10,000, 50,000 and 100,000 artifacts, each session in a fresh
process (imports included): launch to the painted table, then a keystroke — cursor down, page
down, end, and typing a filter — to the screen update that shows it, and the process's peak RSS.

The reference, in the same run: the same session on the example catalog (a few dozen rows),
whose first paint is the floor (the interpreter, Textual and the catalog layer starting).
Targets (issue 22): first paint ≤ 1 s and a keystroke ≤ 100 ms at 100,000 artifacts, memory
bounded. The catalogs are :mod:`test_bench_catalog`'s mix (training metadata of 1–2 KB per LoRA:
a row is kilobytes), module rows for the first 200 adapters only.

Typing the filter ``portrait`` is reported in two parts: its first two keys (a text of one or two
characters, which no trigram index holds: a scan of the search text, off the index of migration
0015) and the six after them (answered by the trigram index of migration 0013). A key's time is
until the table shows its rows; the facet counts, which follow them from a thread, are reported
apart (``counts``: from the key to the screen update after they were counted).

With ``LORADEX_BENCH_BEFORE=DIR`` (a folder holding a ``loradex`` package of other code, put first
on ``PYTHONPATH``: ``DIR/loradex/{adapters,registry,tui}``, e.g. ``git archive`` of the code before)
every session also runs on that code, alternated, on the same catalog taken back to that code's
schema revision (:data:`BEFORE_REVISION`).

Run: ``.venv/bin/pytest -m benchmark -s benchmarks/test_bench_tui.py``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from test_bench_catalog import _build  # noqa: E402  (benchmarks/ is on sys.path under pytest)

pytestmark = pytest.mark.benchmark

EXAMPLE = Path(__file__).parent.parent / "catalog.db.example"
SIZES = (10_000, 50_000, 100_000)
RUNS = 3
FILTER = "portrait"
#: Keys of :data:`FILTER` typed before the filter holds a trigram (three characters).
SHORT = 2
#: The schema of the code before (``LORADEX_BENCH_BEFORE``): main before migration 0015.
BEFORE_REVISION = "0014"

#: One session in a child: the seconds from its own start (before any import) to the first screen
#: update after the table was filled; then each key, posted as the terminal driver would, to the
#: screen update after the table changed (the pilot's settling waits not counted); its ``VmHWM``.
SESSION = """
import time
start = time.perf_counter()
import asyncio, json, operator, sys
from loradex.tui.app import make_app

def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmHWM:"))

async def main():
    from textual import events
    app = make_app(sys.argv[1])
    found = {}
    async with app.run_test(size=(160, 45)) as pilot:
        while not app.screen.query("#table") or not app.screen.query_one("#table").rows:
            await asyncio.sleep(0.001)
        loop = asyncio.get_running_loop()
        painted = loop.create_future()
        app.call_after_refresh(lambda: painted.set_result(time.perf_counter()))
        found["first_paint"] = await painted - start
        found["peak_after_paint"] = peak_mib()
        found["keys"] = {}
        if len(sys.argv) < 3:  # the floor: first paint only (a few dozen rows do not page)
            return print(json.dumps(found))
        await pilot.pause()
        table = app.screen.query_one("#table")

        async def refreshed():
            shown = loop.create_future()
            app.call_after_refresh(lambda: shown.set_result(time.perf_counter()))
            return await shown

        async def key(name, probe, same=operator.eq, counts=None):
            before = probe()  # the rows are held: a new object is what changed (an id can be reused)
            begun = time.perf_counter()
            app.post_message(events.Key(name, name if len(name) == 1 else None))
            while same(probe(), before):
                await asyncio.sleep(0)
            seconds = await refreshed() - begun
            if counts is not None:  # the facet counts, which may follow the rows from a thread
                await app.workers.wait_for_complete()
                counts.append(await refreshed() - begun)
            await pilot.pause()
            return seconds

        cursor = lambda: table.cursor
        found["keys"]["down"] = [await key("down", cursor) for _ in range(5)]
        found["keys"]["pagedown"] = [await key("pagedown", cursor) for _ in range(5)]
        found["keys"]["end"] = [await key("end", cursor)]
        found["keys"]["home"] = [await key("home", cursor)]
        await pilot.press("slash")
        await pilot.pause()
        found["counts"] = []
        found["keys"]["filter"] = [
            await key(char, lambda: table.rows, operator.is_, found["counts"]) for char in sys.argv[2]
        ]
    found["peak"] = peak_mib()
    print(json.dumps(found))

asyncio.run(main())
"""


def session(catalog: Path, env: dict[str, str] | None = None, *, keys: bool = True) -> dict:
    """One fresh-process session on ``catalog`` (``env``: the child's environment; ``keys``: False
    for the first paint alone)."""
    argv = [sys.executable, "-c", SESSION, str(catalog), *([FILTER] if keys else [])]
    run = subprocess.run(argv, capture_output=True, text=True, check=True, env=env, timeout=300)
    return json.loads(run.stdout.strip().splitlines()[-1])


def summary(runs: list[dict]) -> dict[str, float]:
    """Medians over the runs: first paint (s), each key kind's median and worst (ms), peak (MiB)."""
    for run in runs:
        if "filter" in run["keys"]:  # the first keys of the filter, then the rest
            typed, counted = run["keys"].pop("filter"), run.pop("counts")
            run["keys"]["filter_1_2"], run["keys"]["filter_3_up"] = typed[:SHORT], typed[SHORT:]
            run["keys"]["counts_1_2"], run["keys"]["counts_3_up"] = counted[:SHORT], counted[SHORT:]
    keys = {kind: [t for run in runs for t in run["keys"][kind]] for kind in runs[0]["keys"]}
    shown = {"first_paint": statistics.median(run["first_paint"] for run in runs)}
    for kind, times in keys.items():
        shown[f"{kind}_ms"] = statistics.median(times) * 1e3
        shown[f"{kind}_worst_ms"] = max(times) * 1e3
    shown["peak_mib"] = statistics.median(run.get("peak", run["peak_after_paint"]) for run in runs)
    return shown


def line(label: str, s: dict[str, float]) -> str:
    keys = ", ".join(
        f"{kind} {s[f'{kind}_ms']:.0f} (worst {s[f'{kind}_worst_ms']:.0f})"
        for kind in ("down", "pagedown", "end", "filter_1_2", "filter_3_up", "counts_1_2", "counts_3_up")
        if f"{kind}_ms" in s
    )
    paint, peak = f"{s['first_paint']:.2f} s", f"{s['peak_mib']:.0f} MiB"
    return f"{label}: first paint {paint}; keys, median ms: {keys or '-'}; peak RSS {peak}"


def _taken_back(catalog: Path) -> Path:
    """A copy of ``catalog`` taken back to :data:`BEFORE_REVISION`, for the code before."""
    from alembic import command

    from loradex.registry.store.db import _alembic_config, open_catalog

    copy = catalog.with_name(f"{catalog.stem}-{BEFORE_REVISION}.db")
    shutil.copy(catalog, copy)
    engine = open_catalog(copy, migrate=False)
    command.downgrade(_alembic_config(engine), BEFORE_REVISION)
    engine.dispose()
    return copy


def test_tui_first_paint_keystroke_and_memory_at_10k_50k_100k(tmp_path):
    before = os.environ.get("LORADEX_BENCH_BEFORE")
    catalogs, old_catalogs = {}, {}
    for n in SIZES:
        catalogs[n] = tmp_path / f"bench-{n}.db"
        _build(f"sqlite:///{catalogs[n]}", random.Random(1234), n=n, with_modules=200)
        if before:
            old_catalogs[n] = _taken_back(catalogs[n])
    env = {**os.environ, "HOME": str(tmp_path)}  # no user settings, no user catalog
    old_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [before, env.get("PYTHONPATH")]))}
    runs: dict[str, list[dict]] = {}
    for _ in range(RUNS):  # interleaved: the machine's load falls on every size (and code) alike
        runs.setdefault("example", []).append(session(EXAMPLE, env, keys=False))
        for n in SIZES:
            runs.setdefault(f"{n:,} artifacts", []).append(session(catalogs[n], env))
            if before:
                runs.setdefault(f"{n:,} artifacts, before", []).append(session(old_catalogs[n], old_env))
    print(f"\nload average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; medians of {RUNS} sessions each")
    floor = summary(runs.pop("example"))
    print(line("example catalog (the floor)", floor))
    for label, done in runs.items():
        s = summary(done)
        print(f"{line(label, s)}; first paint {s['first_paint'] / floor['first_paint']:.2f}× the floor")
    big = summary(runs[f"{SIZES[-1]:,} artifacts"])
    # Loose: a shared machine. The figures, not these bounds, are the result.
    assert big["first_paint"] <= 3 * floor["first_paint"] and big["pagedown_ms"] <= 300
