"""Bad input on the command line: one line on stderr naming the file, exit code 1, no traceback."""

from __future__ import annotations

import json
import os
import pickle
import struct

import pytest
import torch
from typer.testing import CliRunner

from loradex.tui.cli import app


def _safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


MALFORMED = {
    "empty.safetensors": b"",
    "short.safetensors": b"\x01\x02",
    "huge_header.safetensors": struct.pack("<Q", 10**9) + b"{}",
    "bad_json.safetensors": struct.pack("<Q", 5) + b"{nope",
    "bad_dtype.safetensors": _safetensors_bytes({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, b"x"),
    "out_of_range.safetensors": _safetensors_bytes(
        {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"1234"
    ),
    "garbage.ckpt": b"this is not a checkpoint at all" * 10,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_probe_of_a_malformed_file_prints_one_line_naming_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(MALFORMED[name])
    result = CliRunner().invoke(app, ["probe", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]
    assert "Traceback" not in result.output


def test_probe_of_a_missing_path_is_a_user_error(tmp_path):
    result = CliRunner().invoke(app, ["probe", str(tmp_path / "nope.safetensors")])
    assert result.exit_code == 1
    assert "nope.safetensors" in result.stderr


def test_probe_of_an_empty_directory_says_it_holds_no_weights(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["probe", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "no weights" in result.stderr


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("suffix", [".pt", ".ckpt", ".bin"])
def test_a_pickle_that_runs_a_command_is_refused_and_never_runs(tmp_path, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _Payload(marker)}, path)
    assert not marker.exists()
    result = CliRunner().invoke(app, ["probe", str(path)])
    assert result.exit_code == 1
    assert "refused" in result.stderr and path.name in result.stderr
    assert not marker.exists()


def test_a_legacy_pickle_that_runs_a_command_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_legacy.ckpt"
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    result = CliRunner().invoke(app, ["probe", str(path)])
    assert result.exit_code == 1
    assert not marker.exists()


def test_usage_errors_exit_2():
    assert CliRunner().invoke(app, ["convert"]).exit_code == 2
