"""The Ctrl-C policy (loradex.adapters.interrupts), with real SIGINTs sent to this process."""

from __future__ import annotations

import os
import signal

import pytest

from loradex.adapters import interrupts
from loradex.adapters.errors import InterruptedAfterWrite
from loradex.adapters.io.atomic import atomic_path


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_before_the_rename_says_the_output_is_as_it_was(tmp_path):
    target = tmp_path / "out.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(interrupts.NothingWritten) as caught, interrupts.writing(target):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
            ctrl_c()
    assert str(caught.value) == f"nothing was written ({target} is as it was)" and target.read_bytes() == b"old"


def test_a_ctrl_c_after_the_rename_records_the_complete_output_and_says_so(tmp_path):
    target = tmp_path / "out.safetensors"
    recorded = []
    with pytest.raises(InterruptedAfterWrite) as caught:
        with interrupts.writing(target, then=lambda: recorded.append(target) or " and recorded in the catalog"):
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"new")
            ctrl_c()
    assert recorded == [target] and caught.value.exit_code == interrupts.EXIT_CODE
    assert str(caught.value) == (
        f"{target}: the output is complete and recorded in the catalog (the interrupt came after it was written)"
    )


def test_a_held_section_finishes_and_reports_the_ctrl_c_that_came():
    with interrupts.held() as caught:
        ctrl_c()
        finished = True
    assert finished and caught == [signal.SIGINT]


def test_the_first_ctrl_c_requests_a_stop_and_the_second_interrupts():
    said = []
    with pytest.raises(KeyboardInterrupt), interrupts.stop_requested(lambda: said.append("stopping")) as stop:
        ctrl_c()
        assert stop.is_set() and said == ["stopping"]
        ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
