"""The walk a rescan makes (:func:`loradex.registry.services.discovery.changes`): a file the
catalog's rows describe as it is leaves only its path; every other file is found as
:func:`~loradex.registry.services.discovery.discover` finds it."""

from __future__ import annotations

import os

from loradex.registry.services.discovery import Changes, changes, discover


def test_a_file_its_row_describes_leaves_only_its_path_and_the_rest_are_found_as_discover_finds_them(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"x")
    (tmp_path / "b.preview.png").write_bytes(b"png")
    settled = {(str(f.path), f.size, f.mtime, f.sidecars) for f in discover([tmp_path])}
    assert changes([tmp_path], settled) == Changes([], {path for path, *_ in settled})

    os.utime(tmp_path / "a.safetensors", (1, 1))  # changed
    (tmp_path / "c.civitai.info").write_text("{}")  # a sidecar new beside an unchanged file
    (tmp_path / "d.safetensors").write_bytes(b"x")  # new
    got = changes([tmp_path], settled)
    assert got.found == [f for f in discover([tmp_path]) if f.path.name != "b.safetensors"]
    assert got.settled == {str(tmp_path / "b.safetensors")}
