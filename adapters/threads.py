"""How many threads torch computes with: chosen from the cores this process can actually have,
never torch's default of one per core of the machine.

Why: torch's intra-op pool (OpenMP) runs a thread per core it sees, and each parallel region
waits at a barrier for all of them. When a core is not ours — outside the CPU affinity or the
cgroup quota a container runs under, kept busy by another process, or by our own writer and
hashing threads — one thread of the pool is descheduled and every region waits for it: ``mix
--method svd`` of two SDXL LoRAs took 219–382 s with the default on a busy 2-core machine and
12.5–18 s on one thread.

The count, the first that applies: the one asked for (``--threads N``, :func:`torch_threads`'s
argument), ``$LORADEX_THREADS``, else :func:`usable_cores` less the caller's own busy threads
(``reserved``), at least 1. The inter-op pool is left alone: eager operations never use it, and
torch lets it be sized only once per process, before any parallel work.

Every file is read under ``root`` (``/``), so that tests hand in a fake ``/proc`` and cgroup tree.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import SettingError

__all__ = ["ENV", "Cores", "choose_threads", "cpu_quota", "torch_threads", "usable_cores"]

#: The environment variable that sets the count for every command and script.
ENV = "LORADEX_THREADS"
_ROOT = Path("/")
#: Samples of the machine's run queue, a few ms apart: one snapshot may catch a passing process.
_SAMPLES = 3
_SAMPLE_GAP_S = 0.01


@dataclass(frozen=True)
class Cores:
    """What bounds the threads of this process.

    Attributes:
        affinity: the CPUs the process may run on (``os.sched_getaffinity``).
        quota: the CPUs its cgroups allow (quota / period, the tightest along its hierarchy;
            None: unlimited).
        online: the machine's online CPUs (``/proc/stat``; None: unknown).
        busy_elsewhere: tasks of other processes running or waiting to run, the median of a few
            samples of the run queue (``procs_running`` less this process's own running threads).
    """

    affinity: int
    quota: float | None
    online: int | None
    busy_elsewhere: int

    @property
    def usable(self) -> int:
        """Cores this process can have: its affinity within the quota (rounded down: a thread
        beyond it is throttled), less those other processes keep busy; at least 1."""
        allowed = self.affinity if self.quota is None else min(self.affinity, max(1, math.floor(self.quota)))
        if self.online is not None:
            allowed = min(allowed, self.online - self.busy_elsewhere)
        return max(1, allowed)


def usable_cores(*, affinity: int | None = None, root: Path = _ROOT) -> Cores:
    """The cores this process can use now (:class:`Cores`), read from ``root``'s ``/proc`` and
    cgroup tree; ``affinity`` defaults to this process's own."""
    if affinity is None:
        affinity = _affinity()
    online, busy = _run_queue(root)
    return Cores(affinity, cpu_quota(root), online, busy)


def choose_threads(
    threads: int | None = None,
    *,
    reserved: int = 0,
    environ: Mapping[str, str] = os.environ,
    cores: Cores | None = None,
) -> int:
    """torch's intra-op threads: ``threads`` when given, else ``$LORADEX_THREADS``, else the
    usable cores (``cores``, default :func:`usable_cores`) less ``reserved`` (threads the
    caller keeps busy beside torch: a writer, a hasher), at least 1.

    Raises:
        SettingError: ``threads`` or ``$LORADEX_THREADS`` is not a whole number ≥ 1.
    """
    if threads is not None:
        if threads < 1:
            raise SettingError(f"threads must be 1 or more, not {threads}")
        return threads
    if (text := environ.get(ENV, "").strip()) != "":
        if not text.isdigit() or int(text) < 1:
            raise SettingError(f"${ENV}={text!r} is not a number of threads (a whole number, 1 or more)")
        return int(text)
    return max(1, (cores or usable_cores()).usable - reserved)


def _affinity() -> int:
    """The CPUs this process may run on; every CPU where the platform has no affinity call
    (macOS, Windows)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    return len(getaffinity(0)) if getaffinity is not None else os.cpu_count() or 1


def cpu_quota(root: Path = _ROOT) -> float | None:
    """The CPUs this process's cgroups allow (``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` in v1), the tightest from its own group up to the mount; None when
    unlimited or unknown."""
    try:
        membership = (root / "proc/self/cgroup").read_text()
    except OSError:
        return None
    mounts = root / "sys/fs/cgroup"
    limits: list[float] = []
    for line in membership.splitlines():
        hierarchy, controllers, group = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if hierarchy == "0" and controllers == "":
            limits += filter(None, (_v2_limit(d) for d in _groups(mounts, group)))
        elif "cpu" in controllers.split(","):
            mount = next((mounts / n for n in (controllers, "cpu", "cpu,cpuacct") if (mounts / n).is_dir()), None)
            if mount is not None:
                limits += filter(None, (_v1_limit(d) for d in _groups(mount, group)))
    return min(limits, default=None)


def _groups(mount: Path, group: str) -> Iterator[Path]:
    """The process's group folder under ``mount`` and its parents up to the mount. In a container
    the path the process sees may be the host's, absent from its own mount: then the mount alone."""
    folder = mount / group.strip("/")
    if not folder.is_dir():
        folder = mount
    yield folder
    while folder != mount and mount in folder.parents:
        folder = folder.parent
        yield folder


def _v2_limit(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_limit(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def _run_queue(root: Path) -> tuple[int | None, int]:
    """(online CPUs, tasks of other processes running or waiting to run): the median over a few
    samples of ``/proc/stat``'s ``procs_running``, less this process's own running threads."""
    online, others = None, []
    for sample in range(_SAMPLES):
        if sample:
            time.sleep(_SAMPLE_GAP_S)
        try:
            stat = (root / "proc/stat").read_text().splitlines()
        except OSError:
            return None, 0
        online = sum(1 for line in stat if line.startswith("cpu") and line[3:4].isdigit()) or None
        running = next((int(line.split()[1]) for line in stat if line.startswith("procs_running ")), 0)
        others.append(max(0, running - _own_running(root)))
    return online, int(statistics.median_low(others))


def _own_running(root: Path) -> int:
    """This process's threads that are running or runnable (state R in ``/proc/self/task/*/stat``;
    the name field before the state may hold spaces and parentheses, so it is split at the last ')')."""
    count = 0
    with contextlib.suppress(OSError):
        for task in (root / "proc/self/task").iterdir():
            with contextlib.suppress(OSError, IndexError):
                count += (task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
    return count


class _Scopes:
    """The thread count is process-wide, so concurrent work (two TUI jobs, a render during a bake)
    shares one: the first scope in chooses it, later ones join, the last one out restores torch's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._before = 0
        self._chosen = 0

    @contextlib.contextmanager
    def __call__(self, threads: int | None = None, *, reserved: int = 0) -> Iterator[int]:
        import torch  # here, not at import: the CLI imports this module before it knows it needs torch

        with self._lock:
            if self._open == 0:
                self._chosen = choose_threads(threads, reserved=reserved)
                self._before = torch.get_num_threads()
                torch.set_num_threads(self._chosen)
            self._open += 1
        try:
            yield self._chosen
        finally:
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    torch.set_num_threads(self._before)


#: ``with torch_threads(threads=None, *, reserved=0) as n:`` — torch computes on :func:`choose_threads`'s
#: count inside the block (or the count of an enclosing block, which wins: a script's or ``--threads``'s
#: choice holds over the operations it runs); also a decorator. Every operation that computes with
#: torch runs in one, so scripts get the same default as the CLI and pass their own count this way.
torch_threads = _Scopes()
