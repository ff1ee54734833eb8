"""A render computes on the threads loradex chooses (:mod:`loradex.adapters.threads`), seen from its
progress events, and leaves torch's count as it found it."""

from __future__ import annotations

import torch

from loradex.adapters.generate import Workbench
from loradex.adapters.libraries import quiet


def test_a_render_computes_on_the_count_in_loradex_threads_and_restores_torchs(zoo, monkeypatch):
    quiet()
    monkeypatch.setenv("LORADEX_THREADS", "2")
    bench = Workbench(zoo["sd1-diffusers"].path)
    before, seen = torch.get_num_threads(), set()
    bench.render(
        prompt="a cat", size=(32, 32), steps=2, seeds=[1], progress=lambda event: seen.add(torch.get_num_threads())
    )
    assert seen == {2} and torch.get_num_threads() == before
