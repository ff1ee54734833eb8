"""Measured runs in fresh interpreters, shared by the benchmarks.

A child script starts with :data:`PEAK_RSS` and prints one ``RESULT {json}`` line. It reports
its own peak RSS as ``VmHWM``, not ``ru_maxrss``: through subprocess's vfork+exec, a child's
``ru_maxrss`` starts at the parent's high-water mark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

PEAK_RSS = textwrap.dedent("""
    def hwm_kb():  # this process's own peak RSS
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
""")


def run_child(code: str, *args, threads: int = 0) -> tuple[dict, float, str]:
    """Run ``code`` in a fresh interpreter; (its RESULT dict, wall incl. start-up and imports, stdout).
    ``threads``: torch's threads in the child (``LORADEX_THREADS``, which loradex's operations apply,
    and OMP_NUM_THREADS for the torch code of a peer); 0: each chooses its own."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if threads:
        env |= {"LORADEX_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :]), wall, proc.stdout


def timed_command(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``argv`` to the end: (wall seconds, CPU seconds it used, user and system, its stdout).
    The CPU time hardly depends on what else the machine runs, so it compares runs on a busy
    machine where wall times mostly measure the wait for a core."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, (argv, proc.stderr[-2000:])
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, proc.stdout
