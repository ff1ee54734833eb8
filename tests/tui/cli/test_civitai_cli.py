"""``loradex civitai sync`` / ``updates`` on scanned files against the fake Civitai: batches, a second
run that asks nothing, a dead site, and the API key nowhere but in the Authorization header."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from sqlmodel import select

from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, CivitaiRecord
from tests.support.fakecivitai import API_KEY, file_hashes
from tests.support.ops_cli import cli, one_error_line

_STEM = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"


def tiny_loras(folder: Path, n: int) -> list[tuple[str, str]]:
    """``n`` one-layer kohya SD1 LoRAs, each with its own weights; their (sha256, AutoV3)."""
    folder.mkdir(exist_ok=True)
    files = []
    for i in range(n):
        path = folder / f"lora{i:03}.safetensors"
        down, up = torch.full((1, 320), float(i + 1)), torch.full((320, 1), 0.5)
        save_file(
            {f"{_STEM}.lora_down.weight": down, f"{_STEM}.lora_up.weight": up, f"{_STEM}.alpha": torch.tensor(1.0)},
            path,
        )
        files.append(file_hashes(path))
    return files


@pytest.fixture
def catalog(tmp_path) -> str:
    return str(tmp_path / "catalog.db")


def scanned(tmp_path, catalog: str, n: int) -> list[tuple[str, str]]:
    files = tiny_loras(tmp_path / "loras", n)
    result = cli("scan", tmp_path / "loras", catalog=catalog)
    assert result.exit_code == 0, result.output
    return files


def records(catalog: str) -> dict[str, CivitaiRecord]:
    engine = open_catalog(catalog)
    try:
        with open_session(engine) as s:
            rows = s.exec(select(Artifact.name, CivitaiRecord).join(CivitaiRecord)).all()
    finally:
        engine.dispose()
    return {name: record for name, record in rows}


def test_250_files_are_looked_up_in_3_batches_and_a_second_sync_asks_nothing(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 250)
    for i, (sha, autov3) in enumerate(files):
        fake_civitai.add_version(
            sha, autov3, version_id=1000 + i, model_id=1 + i % 10, model_name=f"Model {i % 10}", images=1
        )
    first = cli("civitai", "sync", "--all", "--images", "0", "--json", catalog=catalog)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["matched"], summary["not_on_civitai"], summary["errors"]) == (250, 0, 0)
    posts = fake_civitai.batch_posts()
    assert [len(p.body) for p in posts] == [100, 100, 50]
    assert sorted(h for p in posts for h in p.body) == sorted(autov3 for _, autov3 in files)  # AutoV3 first
    assert fake_civitai.api_requests("GET", "/by-hash/") == []  # no hash asked alone
    assert len(fake_civitai.api_requests("GET", "/api/v1/models/")) == 10  # each model's page once
    assert len(records(catalog)) == 250

    asked = len(fake_civitai.requests)
    second = cli("civitai", "sync", "--all", "--json", catalog=catalog)
    assert second.exit_code == 0, second.output
    assert len(fake_civitai.requests) == asked
    assert json.loads(second.stdout)["requests"] == 0 and json.loads(second.stdout)["skipped"] == 250


def test_a_file_whose_header_a_tool_rewrote_after_download_is_found_by_its_autov3(fake_civitai, tmp_path, catalog):
    (downloaded,) = tiny_loras(tmp_path / "loras", 1)
    fake_civitai.add_version(*downloaded, version_id=1, model_id=1, model_name="Cat")
    path = tmp_path / "loras" / "lora000.safetensors"
    save_file(load_file(path), path, metadata={"ss_output_name": "renamed by a metadata editor"})
    sha256, autov3 = file_hashes(path)
    assert sha256 != downloaded[0] and autov3 == downloaded[1]
    assert cli("scan", tmp_path / "loras", catalog=catalog).exit_code == 0
    result = cli("civitai", "sync", "--all", "--images", "0", "--json", catalog=catalog)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"] == 1
    assert [p.body for p in fake_civitai.batch_posts()] == [[autov3]]
    assert records(catalog)["lora000"].model_name == "Cat"


def test_the_summary_counts_matched_and_not_on_civitai(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 3)
    fake_civitai.add_version(*files[0], version_id=1, model_id=1, model_name="Cat", name="v1", base_model="SD 1.5")
    result = cli("civitai", "sync", "--all", catalog=catalog)
    assert result.exit_code == 0, result.output
    assert "lora000: Cat / v1 (SD 1.5), 2 images" in result.stdout
    assert "1 matched, 2 not on Civitai, 0 deleted upstream, 0 errors" in result.stdout


def test_the_api_key_is_in_no_file_and_no_output(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 2)
    fake_civitai.add_version(*files[0], version_id=1, model_id=1)
    fake_civitai.fail_next([401])  # a refusal too: its message must not repeat the key
    refused = cli("civitai", "sync", "--all", catalog=catalog)
    outputs = [refused.stdout, refused.stderr]
    for args in (("sync", "--all", "--json"), ("sync", "--all", "--refresh"), ("updates", "--all", "--json")):
        result = cli("civitai", *args, catalog=catalog)
        assert result.exit_code == 0, result.output
        outputs += [result.stdout, result.stderr]
    assert records(catalog)
    assert all(API_KEY not in text for text in outputs)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in written)  # the example images are among them
    assert all(API_KEY.encode() not in p.read_bytes() for p in written)
    for request in fake_civitai.requests:
        assert API_KEY not in request.path and request.headers.get("authorization") == f"Bearer {API_KEY}"
    assert all("authorization" not in r.headers for r in fake_civitai.image_host.requests)


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_dead_site_is_one_line_exit_1_and_the_catalog_unchanged(tmp_path, catalog):
    scanned(tmp_path, catalog, 3)
    before = Path(catalog).read_bytes()
    result = cli("civitai", "sync", "--all", "--host", _dead_url(), catalog=catalog)
    one_error_line(result, "is not reachable")
    assert Path(catalog).read_bytes() == before
    assert records(catalog) == {}


def test_a_deleted_upstream_model_keeps_its_name_words_and_previews_shown_as_deleted(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 1)
    fake_civitai.add_version(*files[0], version_id=9, model_id=4, model_name="Vanishing", trained_words=["vnsh"])
    assert cli("civitai", "sync", "--all", catalog=catalog).exit_code == 0
    fake_civitai.delete_version(9)
    result = cli("civitai", "sync", "--all", "--refresh", catalog=catalog)
    assert result.exit_code == 0, result.output
    assert "lora000: Vanishing / v1.0 (SD 1.5)  [deleted upstream]" in result.stdout
    record = records(catalog)["lora000"]
    assert (record.state, record.model_name, record.trained_words) == ("deleted", "Vanishing", ["vnsh"])
    shown = cli("show", "lora000", catalog=catalog)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert "civitai deleted upstream since" in text and f"(was {fake_civitai.url}/models/4?modelVersionId=9)" in text
    assert "model Vanishing (LORA) by someone" in text and "trained words vnsh" in text
    assert text.count("from Civitai") == 2  # both example images, kept
    data = json.loads(cli("show", "lora000", "--json", catalog=catalog).stdout)
    assert data["civitai"]["state"] == "deleted" and data["activation_text"] == "vnsh"
    assert [p["source"] for p in data["previews"]] == ["civitai", "civitai"]


def test_show_has_a_civitai_section(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 1)
    fake_civitai.add_version(*files[0], version_id=9, model_id=4, model_name="Cat", name="v3", base_model="SD 1.5")
    assert cli("civitai", "sync", "--all", "--images", "1", catalog=catalog).exit_code == 0
    text = " ".join(cli("show", "lora000", catalog=catalog).stdout.split())
    assert f"civitai {fake_civitai.url}/models/4?modelVersionId=9" in text
    assert "version v3 (id 9), published 2025-03-01" in text and "AIR urn:air:sd1:lora:civitai:4@9" in text
    assert "base model SD 1.5" in text and "civitai tags character, anime" in text
    assert "license no credit needed, commercial use: Image, RentCivit, derivatives allowed, same license" in text
    assert "(seed 1234, steps 28, CFG 7, 512x768, DPM++ 2M Karras, from Civitai)" in text


def test_show_warns_where_civitai_files_the_model_under_another_family(fake_civitai, zoo, catalog):
    lora = zoo["sd1-kohya-lora"].path
    assert cli("scan", lora, catalog=catalog).exit_code == 0
    fake_civitai.add_version(*file_hashes(lora), version_id=9, model_id=4, base_model="SDXL 1.0")
    assert cli("civitai", "sync", "--all", "--images", "0", catalog=catalog).exit_code == 0
    text = " ".join(cli("show", lora, catalog=catalog).stdout.split())
    assert "base model SDXL 1.0 — but its layers are sd1, not sdxl" in text


def listed(catalog: str, *args: str) -> list[str]:
    result = cli("list", *args, "--json", catalog=catalog)
    assert result.exit_code == 0, result.output
    return [row["name"] for row in json.loads(result.stdout)["artifacts"]]


def test_list_filters_by_what_civitai_said(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 4)
    for i in (0, 1):
        fake_civitai.add_version(*files[i], version_id=10 + i, model_id=1 + i)
    assert cli("civitai", "sync", "lora000", "lora001", "lora002", "--images", "0", catalog=catalog).exit_code == 0
    fake_civitai.delete_version(11)
    assert cli("civitai", "sync", "lora001", "--refresh", "--images", "0", catalog=catalog).exit_code == 0
    assert listed(catalog, "--civitai", "yes") == ["lora000"]
    assert listed(catalog, "--civitai", "deleted") == ["lora001"]
    assert listed(catalog, "--civitai", "no") == ["lora002", "lora003"]  # not found, never looked up
    refused = cli("list", "--civitai", "maybe", catalog=catalog)
    assert refused.exit_code == 2 and "'maybe' is not one of yes, no, deleted" in refused.stderr


def test_sync_needs_refs_or_all(catalog):
    result = cli("civitai", "sync", catalog=catalog)
    assert result.exit_code == 2 and "--all" in result.stderr


def test_updates_names_newer_versions(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 1)
    fake_civitai.add_version(*files[0], version_id=5, model_id=1, model_name="Cat", name="v1")
    assert cli("civitai", "sync", "--all", "--images", "0", catalog=catalog).exit_code == 0
    fake_civitai.add_version("0" * 64, version_id=6, model_id=1, name="v2", published="2026-01-01T00:00:00.000Z")
    result = cli("civitai", "updates", "--all", catalog=catalog)
    assert result.exit_code == 0, result.output
    assert "lora000: Cat has newer versions than v1: v2 (id 6)" in result.stdout


def test_a_moved_file_keeps_civitai_s_words_leading_its_trigger_words(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 1)
    fake_civitai.add_version(*files[0], version_id=1, model_id=1, trained_words=["catears"])
    assert cli("civitai", "sync", "--all", "--images", "0", catalog=catalog).exit_code == 0
    moved = tmp_path / "loras" / "sorted"
    moved.mkdir()
    (tmp_path / "loras" / "lora000.safetensors").rename(moved / "lora000.safetensors")
    result = cli("scan", tmp_path / "loras", catalog=catalog)
    assert result.exit_code == 0 and "moved from" in result.output, result.output
    data = json.loads(cli("show", "lora000", "--json", catalog=catalog).stdout)
    assert data["trigger_words"][0] == "catears" and data["civitai"]["state"] == "matched"
    (found,) = json.loads(cli("list", "--text", "catears", "--json", catalog=catalog).stdout)["artifacts"]
    assert found["name"] == "lora000"


def test_a_spent_budget_stops_in_one_line_keeping_what_was_looked_up(fake_civitai, tmp_path, catalog):
    files = scanned(tmp_path, catalog, 150)
    fake_civitai.add_version(*files[0], version_id=1, model_id=1)
    result = cli("civitai", "sync", "--all", "--budget", "1", "--no-models", "--images", "0", catalog=catalog)
    # The first batch asks by AutoV3: the one match is done, the 99 misses are still to ask by sha256.
    one_error_line(result, "budget of 1 request to", "1 of 150 looked up before it and kept", "sync again")
    assert len(records(catalog)) == 1
    again = cli("civitai", "sync", "--all", "--no-models", "--json", catalog=catalog)
    assert json.loads(again.stdout)["not_on_civitai"] == 149 and json.loads(again.stdout)["skipped"] == 1
