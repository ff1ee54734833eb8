"""--threads N on every command that computes with torch: it wins over $LORADEX_THREADS and the
operation's own choice, and torch's count is as it was once the command is done."""

from __future__ import annotations

import pytest
import torch
import typer

from loradex.tui.cli import app
from tests.support.ops_cli import cli, one_error_line

TORCH_COMMANDS = ["mix", "resize", "bake", "extract", "convert", "rebuild", "inspect", "try", "eval"]


@pytest.fixture
def thread_counts(monkeypatch) -> list[int]:
    """Every count the command sets torch's pool to, in order (torch still sets it)."""
    counts: list[int] = []
    real = torch.set_num_threads

    def recorded(count: int) -> None:
        counts.append(count)
        real(count)

    monkeypatch.setattr(torch, "set_num_threads", recorded)
    return counts


@pytest.mark.parametrize("command", TORCH_COMMANDS)
def test_every_command_that_computes_with_torch_takes_threads(command):
    options = {p.name for p in typer.main.get_command(app).commands[command].params}  # type: ignore[attr-defined]
    assert "threads" in options


def test_mix_computes_on_the_threads_given_and_restores_torchs_count(files, tmp_path, thread_counts, monkeypatch):
    monkeypatch.setenv("LORADEX_THREADS", "2")
    before = torch.get_num_threads()
    result = cli("mix", f"{files['lora']}:0.5", "--rank", 2, "--threads", 3, "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 0, result.output
    assert thread_counts == [3, before] and torch.get_num_threads() == before


def test_without_threads_loradex_threads_decides(files, tmp_path, thread_counts, monkeypatch):
    monkeypatch.setenv("LORADEX_THREADS", "2")
    result = cli("convert", files["lora"], "--to", "diffusers", "-o", tmp_path / "d.safetensors")
    assert result.exit_code == 0, result.output
    assert thread_counts[0] == 2


def test_bake_computes_on_the_threads_given_without_leaving_a_core_to_its_writer(files, tmp_path, thread_counts):
    result = cli("bake", "--base", files["base"], f"{files['lora']}:0.8", "--threads", 2, "-o", tmp_path / "b.st")
    assert result.exit_code == 0, result.output
    assert thread_counts[0] == 2


def test_inspect_computes_on_the_threads_given(files, thread_counts):
    result = cli("inspect", files["lora"], "--threads", 2)
    assert result.exit_code == 0, result.output
    assert thread_counts[0] == 2


def test_a_loradex_threads_that_is_not_a_count_is_one_error_line(files, tmp_path, monkeypatch):
    monkeypatch.setenv("LORADEX_THREADS", "many")
    result = cli("mix", f"{files['lora']}:0.5", "--rank", 2, "-o", tmp_path / "m.safetensors")
    one_error_line(result, "LORADEX_THREADS='many'")


def test_threads_below_one_is_a_usage_error(files, tmp_path):
    result = cli("mix", f"{files['lora']}:0.5", "--rank", 2, "--threads", 0, "-o", tmp_path / "m.safetensors")
    one_error_line(result, "--threads", code=2)
