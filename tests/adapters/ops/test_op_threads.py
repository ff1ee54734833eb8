"""Every operation computes on the threads loradex chooses (:mod:`loradex.adapters.threads`), seen
from inside it through its progress events, and leaves torch's count as it found it."""

from __future__ import annotations

import pytest
import torch

import loradex.adapters.threads as threads
from loradex.adapters.ops.bake import bake
from loradex.adapters.ops.extract import extract
from loradex.adapters.ops.mix import mix, resize
from loradex.adapters.progress import ProgressEvent
from loradex.adapters.threads import Cores, torch_threads


class Seen:
    """torch's thread counts seen by an operation's progress events."""

    def __init__(self) -> None:
        self.counts: set[int] = set()

    def __call__(self, event: ProgressEvent) -> None:
        self.counts.add(torch.get_num_threads())


@pytest.fixture
def four_idle_cores(monkeypatch):
    """The machine as four idle cores, and no $LORADEX_THREADS: the default choice decides."""
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: Cores(affinity=4, quota=None, online=4, busy_elsewhere=0))


def test_mix_computes_on_the_count_in_loradex_threads_and_restores_torchs(zoo, tmp_path, monkeypatch):
    monkeypatch.setenv(threads.ENV, "2")
    before, seen = torch.get_num_threads(), Seen()
    mix([(zoo["sd1-kohya-lora"].path, 0.5)], tmp_path / "m.safetensors", method="svd", rank=2, progress=seen)
    assert seen.counts == {2} and torch.get_num_threads() == before


def test_resize_computes_on_every_usable_core(zoo, tmp_path, four_idle_cores):
    seen = Seen()
    resize(zoo["sd1-kohya-lora"].path, tmp_path / "r.safetensors", rank=2, progress=seen)
    assert seen.counts == {4}


def test_bake_leaves_a_core_to_its_writer(zoo, tmp_path, four_idle_cores):
    seen = Seen()
    bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 0.8)], tmp_path / "b.safetensors", progress=seen)
    assert seen.counts == {3}


def test_extract_computes_on_the_count_a_script_asks_for(zoo, tmp_path):
    baked = tmp_path / "baked.safetensors"
    bake(zoo["sd1-single"].path, [(zoo["sd1-kohya-lora"].path, 1.0)], baked)
    seen = Seen()
    with torch_threads(3):
        extract(zoo["sd1-single"].path, baked, tmp_path / "x.safetensors", rank=2, progress=seen)
    assert seen.counts == {3}
