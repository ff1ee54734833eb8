"""torch's thread count: chosen from the cores the process can have (affinity, cgroup quota, other
processes' load), overridden by a count asked for or $LORADEX_THREADS. The system files are real
files in a fake root (/proc, /sys/fs/cgroup) handed to the functions that read them."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from pathlib import Path

import pytest
import torch

from loradex.adapters.errors import SettingError
from loradex.adapters.threads import ENV, Cores, choose_threads, cpu_quota, torch_threads, usable_cores

IDLE_4 = Cores(affinity=4, quota=None, online=4, busy_elsewhere=0)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def task_stat(tid: int, state: str, name: str = "python") -> str:
    return f"{tid} ({name}) {state} 1 {tid} {tid} 0 -1 4194560 300 0 0 0 12 3 0 0 20 0 3 0 100 0 0\n"


def proc_stat(cpus: int, running: int) -> str:
    lines = ["cpu  100 0 100 1000 0 0 0 0 0 0"]
    lines += [f"cpu{i} 50 0 50 500 0 0 0 0 0 0" for i in range(cpus)]
    lines += ["intr 0", "ctxt 1000", "btime 1700000000", "processes 500", f"procs_running {running}", "procs_blocked 0"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# The count asked for, the environment, the cores


def test_a_count_asked_for_wins_over_the_environment_and_the_cores():
    assert choose_threads(3, environ={ENV: "2"}, cores=IDLE_4) == 3


def test_the_environment_wins_over_the_cores():
    assert choose_threads(environ={ENV: "2"}, cores=IDLE_4) == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_an_environment_value_that_is_not_a_count_is_refused_naming_the_variable(value):
    with pytest.raises(SettingError, match=f"LORADEX_THREADS='{value}'"):
        choose_threads(environ={ENV: value}, cores=IDLE_4)


def test_a_count_below_one_is_refused():
    with pytest.raises(SettingError, match="1 or more"):
        choose_threads(0, environ={}, cores=IDLE_4)


def test_without_either_every_usable_core_is_used():
    assert choose_threads(environ={}, cores=IDLE_4) == 4


def test_threads_the_caller_keeps_busy_are_left_their_cores_but_one_thread_always_remains():
    assert choose_threads(reserved=1, environ={}, cores=IDLE_4) == 3
    assert choose_threads(reserved=2, environ={}, cores=Cores(2, None, 2, 0)) == 1


def test_the_affinity_bounds_the_count():
    assert Cores(affinity=2, quota=None, online=8, busy_elsewhere=0).usable == 2


def test_a_fractional_quota_is_rounded_down_since_a_thread_beyond_it_is_throttled():
    assert Cores(affinity=8, quota=2.5, online=8, busy_elsewhere=0).usable == 2
    assert Cores(affinity=8, quota=0.5, online=8, busy_elsewhere=0).usable == 1


def test_cores_other_processes_keep_busy_are_not_counted():
    assert Cores(affinity=4, quota=None, online=4, busy_elsewhere=3).usable == 1
    assert Cores(affinity=2, quota=None, online=2, busy_elsewhere=5).usable == 1


def test_a_container_on_a_busy_big_host_keeps_its_quota():
    assert Cores(affinity=64, quota=2, online=64, busy_elsewhere=40).usable == 2


# ---------------------------------------------------------------------------------------
# cgroup quotas, from a fake root


def test_no_cgroup_files_mean_no_quota(tmp_path):
    assert cpu_quota(tmp_path) is None


def test_a_cgroup_v2_quota_is_read_from_cpu_max(tmp_path):
    write(tmp_path, {"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "150000 100000\n"})
    assert cpu_quota(tmp_path) == 1.5


def test_cgroup_v2_max_is_unlimited(tmp_path):
    write(tmp_path, {"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n"})
    assert cpu_quota(tmp_path) is None


def test_the_tightest_cgroup_v2_quota_along_the_hierarchy_applies(tmp_path):
    write(
        tmp_path,
        {
            "proc/self/cgroup": "0::/user.slice/job\n",
            "sys/fs/cgroup/user.slice/cpu.max": "200000 100000\n",
            "sys/fs/cgroup/user.slice/job/cpu.max": "max 100000\n",
        },
    )
    assert cpu_quota(tmp_path) == 2


def test_a_cgroup_v1_quota_is_read_from_the_cpu_controller(tmp_path):
    write(
        tmp_path,
        {
            "proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
            # In a container its own cgroup is the mount's root; the host's path is not there.
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cpu_quota(tmp_path) == 3


def test_a_cgroup_v1_quota_of_minus_one_is_unlimited(tmp_path):
    write(
        tmp_path,
        {
            "proc/self/cgroup": "1:cpu:/\n",
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cpu_quota(tmp_path) is None


# ---------------------------------------------------------------------------------------
# The run queue, from a fake root


def test_running_tasks_of_other_processes_take_cores(tmp_path):
    write(tmp_path, {"proc/stat": proc_stat(cpus=4, running=3), "proc/self/task/10/stat": task_stat(10, "R")})
    cores = usable_cores(affinity=4, root=tmp_path)
    assert (cores.online, cores.busy_elsewhere, cores.usable) == (4, 2, 2)


def test_this_processs_own_running_threads_are_not_load(tmp_path):
    write(
        tmp_path,
        {
            "proc/stat": proc_stat(cpus=2, running=2),
            "proc/self/task/10/stat": task_stat(10, "R"),
            "proc/self/task/11/stat": task_stat(11, "R", name="a (busy) writer"),
            "proc/self/task/12/stat": task_stat(12, "S"),
        },
    )
    assert usable_cores(affinity=2, root=tmp_path).busy_elsewhere == 0


def test_quota_affinity_and_load_together_give_the_fewest_cores(tmp_path):
    write(
        tmp_path,
        {
            "proc/stat": proc_stat(cpus=16, running=5),
            "proc/self/task/10/stat": task_stat(10, "R"),
            "proc/self/cgroup": "0::/\n",
            "sys/fs/cgroup/cpu.max": "600000 100000\n",
        },
    )
    assert choose_threads(environ={}, cores=usable_cores(affinity=8, root=tmp_path)) == 6


def test_without_proc_the_affinity_and_quota_alone_decide(tmp_path):
    cores = usable_cores(affinity=3, root=tmp_path)
    assert (cores.online, cores.quota, cores.usable) == (None, None, 3)


def test_where_the_platform_has_no_affinity_call_every_cpu_counts(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    assert usable_cores(root=tmp_path).affinity == os.cpu_count()


def test_on_this_machine_the_count_is_within_the_processs_affinity():
    assert 1 <= usable_cores().usable <= len(os.sched_getaffinity(0))


# ---------------------------------------------------------------------------------------
# Applying it to torch


def test_torch_computes_on_the_chosen_count_inside_the_block_and_as_before_after():
    before = torch.get_num_threads()
    with torch_threads(3) as chosen:
        assert chosen == torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_an_enclosing_blocks_count_holds_over_the_blocks_inside_it():
    with torch_threads(3), torch_threads(reserved=1) as inner:
        assert inner == torch.get_num_threads() == 3


def test_the_block_is_also_a_decorator():
    @torch_threads(2)
    def work() -> int:
        return torch.get_num_threads()

    assert work() == 2


def test_concurrent_blocks_share_one_count_and_the_last_out_restores_it():
    before = torch.get_num_threads()
    inside, release = threading.Barrier(2), threading.Event()

    def work(threads: int) -> int:
        with torch_threads(threads):
            inside.wait()
            release.wait()
            return torch.get_num_threads()

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(work, 3)
        second = pool.submit(work, 2)
        release.set()
        seen = {first.result(), second.result()}
    assert len(seen) == 1 and torch.get_num_threads() == before
