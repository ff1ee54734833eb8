"""``loradex sidecars write`` end to end: what it writes beside scanned files, what it skips and
says, and a scan into a fresh catalog that knows the files from those sidecars alone."""

from __future__ import annotations

import json

from tests.support.fakecivitai import API_KEY
from tests.support.ops_cli import cli
from tests.tui.cli.test_civitai_cli import records, tiny_loras


def test_write_then_a_fresh_scan_knows_every_file_from_civitai_with_no_network(fake_civitai, tmp_path):
    catalog, fresh = str(tmp_path / "catalog.db"), str(tmp_path / "fresh.db")
    files = tiny_loras(tmp_path / "loras", 3)
    for i, (sha, autov3) in enumerate(files):
        fake_civitai.add_version(
            sha, autov3, version_id=10 + i, model_id=20, model_name="Cats", trained_words=[f"c{i}"]
        )
    assert cli("scan", tmp_path / "loras", catalog=catalog).exit_code == 0
    assert cli("civitai", "sync", "--all", "--images", "1", catalog=catalog).exit_code == 0
    result = cli("sidecars", "write", "--all", "--json", catalog=catalog)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["written"], report["skipped"]) == (15, 0)
    assert not any(API_KEY in p.read_text(errors="replace") for p in (tmp_path / "loras").iterdir())
    fake_civitai.stop()

    assert cli("scan", tmp_path / "loras", catalog=fresh).exit_code == 0
    shown = cli("show", "lora001", catalog=fresh)
    assert shown.exit_code == 0 and "Cats" in shown.stdout and "/models/20?modelVersionId=11" in shown.stdout
    before, after = records(catalog), records(fresh)
    assert {n: (r.version_id, r.model_name, r.trained_words, r.tags) for n, r in after.items()} == {
        n: (r.version_id, r.model_name, r.trained_words, r.tags) for n, r in before.items()
    }


def test_a_second_write_skips_what_exists_and_says_so(tmp_path):
    catalog = str(tmp_path / "catalog.db")
    tiny_loras(tmp_path / "loras", 1)
    assert cli("scan", tmp_path / "loras", catalog=catalog).exit_code == 0
    first = cli("sidecars", "write", "lora000", "--format", "a1111", catalog=catalog)
    assert first.exit_code == 0 and "1 sidecar written, 0 skipped" in first.stdout
    second = cli("sidecars", "write", "lora000", "--format", "a1111", "--format", "cm-info", catalog=catalog)
    assert second.exit_code == 0
    assert "skipped, exists (--force replaces it)" in second.stdout
    assert "skipped, Civitai never named this file" in second.stdout
    forced = cli("sidecars", "write", "lora000", "--format", "a1111", "--force", catalog=catalog)
    assert "1 sidecar written" in forced.stdout


def test_an_unknown_format_is_a_usage_error(tmp_path):
    result = cli("sidecars", "write", "--all", "--format", "kohya", catalog=str(tmp_path / "c.db"))
    assert result.exit_code == 2 and "'kohya' is not one of a1111" in result.output
