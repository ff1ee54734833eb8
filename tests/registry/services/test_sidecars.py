"""The field's sidecars, both ways: each tool's file (written here the way that tool writes it,
from its source: A1111's ``ui_extra_networks_user_metadata``, Civitai Helper's ``model.py``,
ComfyUI-Lora-Manager's ``metadata_manager.py`` and ``docs/metadata-json-schema.md``, Stability
Matrix's ``ConnectedModelInfo``) imported at scan, and ``sidecars write`` read back by a fresh
catalog with no network."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from sqlmodel import select

import loradex.registry.services.scan as scan_module
from loradex.registry.civitai.client import CivitaiClient
from loradex.registry.civitai.sync import SyncOptions, sync
from loradex.registry.services.scan import scan
from loradex.registry.services.sidecar_writing import SidecarFormat, write_sidecars
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, CivitaiRecord, Preview
from tests.support.fakecivitai import file_hashes

LORAS = ("sd1-kohya-lora", "sdxl-kohya-lora")


@pytest.fixture
def folder(zoo, tmp_path) -> Path:
    """A private folder holding two kohya LoRAs."""
    loras = tmp_path / "loras"
    loras.mkdir()
    for name in LORAS:
        shutil.copy2(zoo[name].path, loras / f"{name}.safetensors")
    return loras


def version_json(path: Path, *, version_id: int, model_id: int, words=("ohwx cat",)) -> dict:
    """A model version as ``GET /api/v1/model-versions/by-hash/{hash}`` answers it (the JSON
    Civitai Helper writes whole into ``.civitai.info`` and Lora Manager into ``civitai``)."""
    sha256, autov3 = file_hashes(path)
    return {
        "id": version_id,
        "modelId": model_id,
        "name": "v2.0",
        "createdAt": "2025-03-01T10:00:00.000Z",
        "publishedAt": "2025-03-01T10:00:00.000Z",
        "trainedWords": list(words),
        "baseModel": "Pony",
        "baseModelType": "Standard",
        "description": "<p>Second try.</p>",
        "air": f"urn:air:sdxl:lora:civitai:{model_id}@{version_id}",
        "model": {"name": "Orange Cat", "type": "LORA", "nsfw": False, "poi": False},
        "files": [
            {
                "id": version_id * 10,
                "sizeKB": 18.5,
                "name": path.name,
                "type": "Model",
                "hashes": {"AutoV2": sha256[:10].upper(), "SHA256": sha256.upper(), "AutoV3": autov3.upper()},
                "primary": True,
                "downloadUrl": f"https://civitai.com/api/download/models/{version_id}",
            }
        ],
        "images": [],
        "downloadUrl": f"https://civitai.com/api/download/models/{version_id}",
    }


def record(engine, path: Path) -> CivitaiRecord | None:
    with open_session(engine) as s:
        artifact = s.exec(select(Artifact).where(Artifact.path == str(path))).one()
        return s.exec(select(CivitaiRecord).where(CivitaiRecord.artifact_id == artifact.id)).first()


def row(engine, path: Path) -> Artifact:
    with open_session(engine) as s:
        return s.exec(select(Artifact).where(Artifact.path == str(path))).one()


def lora(folder: Path) -> Path:
    return folder / f"{LORAS[0]}.safetensors"


def sdxl_lora(folder: Path) -> Path:
    """The SDXL one: Pony and Illustrious are lines of SDXL."""
    return folder / f"{LORAS[1]}.safetensors"


# ---------------------------------------------------------------------------------------
# Reading each tool's file


def test_an_a1111_user_metadata_json_fills_the_user_fields(engine, folder):
    path = lora(folder)
    metadata = {
        "description": "A cat, orange.",
        "sd version": "SD1",
        "activation text": "ohwx cat, orange fur",
        "preferred weight": 0.7,
        "negative text": "",
        "notes": "best at 0.7 with DPM++",
    }
    with open(path.with_suffix(".json"), "w", encoding="utf8") as f:  # A1111: json.dump(indent=4, ensure_ascii=False)
        json.dump(metadata, f, indent=4, ensure_ascii=False)
    scan([folder], engine=engine)
    got = row(engine, path)
    assert (got.activation_text, got.preferred_weight, got.notes) == (
        "ohwx cat, orange fur",
        0.7,
        "best at 0.7 with DPM++",
    )
    assert got.sidecar["a1111"]["sd version"] == "SD1" and record(engine, path) is None


def scanned_with_sd_version(engine, folder: Path, path: Path, sd_version: str):
    """The row of ``path`` after a scan of ``folder`` with an A1111 sidecar of that sd version beside it."""
    with open(path.with_suffix(".json"), "w", encoding="utf8") as f:  # as A1111 writes it
        json.dump({"sd version": sd_version, "activation text": "", "preferred weight": 0, "notes": ""}, f, indent=4)
    scan([folder], engine=engine)
    return row(engine, path)


def test_an_a1111_sd_version_naming_another_family_than_the_shapes_is_a_claim_in_conflict(engine, folder):
    path = sdxl_lora(folder)
    got = scanned_with_sd_version(engine, folder, path, "SD1")
    assert got.base == "sdxl" and got.base_claims["sd version (A1111 sidecar)"] == "SD1"
    assert got.base_conflict == "the A1111 sidecar claims sd version=SD1 (sd1) but the tensor shapes say sdxl"


def test_an_a1111_sd_version_s_claim_and_conflict_go_with_the_sidecar(engine, folder):
    path = sdxl_lora(folder)
    scanned_with_sd_version(engine, folder, path, "SD1")
    path.with_suffix(".json").unlink()
    scan([folder], engine=engine)
    got = row(engine, path)
    assert "sd version (A1111 sidecar)" not in got.base_claims and got.base_conflict is None


def test_an_a1111_sd_version_of_unknown_claims_nothing(engine, folder):
    got = scanned_with_sd_version(engine, folder, sdxl_lora(folder), "Unknown")
    assert "sd version (A1111 sidecar)" not in got.base_claims and got.base_conflict is None


def test_a_civitai_helper_info_becomes_the_civitai_record_sync_would_make(engine, folder):
    path = sdxl_lora(folder)
    version = version_json(path, version_id=135867, model_id=122359)
    path.with_suffix(".civitai.info").write_text(json.dumps(version, indent=4))  # Civitai Helper's write_model_info
    scan([folder], engine=engine)
    got = record(engine, path)
    assert got is not None and got.state == "matched" and got.raw == version
    assert (got.model_id, got.model_name, got.version_id, got.version_name) == (122359, "Orange Cat", 135867, "v2.0")
    assert (got.base_model, got.trained_words, got.air) == ("Pony", ["ohwx cat"], version["air"])
    assert got.matched_hash == file_hashes(path)[1]  # AutoV3, which sync asks first
    artifact = row(engine, path)
    assert artifact.line == "pony" and artifact.activation_text == "ohwx cat"
    assert artifact.trigger_words[0] == "ohwx cat"


def test_the_empty_info_civitai_helper_writes_for_a_file_civitai_lacks_records_it_not_on_civitai(engine, folder):
    path = lora(folder)
    path.with_suffix(".civitai.info").write_text(json.dumps({}, indent=4))  # its answer to a 404
    scan([folder], engine=engine)
    got = record(engine, path)
    assert got is not None and got.state == "not-found" and got.version_id is None


def test_a_lora_manager_metadata_json_imports_its_civitai_version_tags_notes_and_strength(engine, folder):
    path = lora(folder)
    sha256, _ = file_hashes(path)
    version = version_json(path, version_id=2001, model_id=1001, words=["orange_cat"])
    version["model"] |= {
        "description": "<p>From the model page.</p>",
        "tags": ["cat", "animal"],
        "allowNoCredit": True,
        "allowCommercialUse": ["Image"],
        "allowDerivatives": True,
        "allowDifferentLicense": False,
    }
    version["creator"] = {"username": "painter", "image": None}
    metadata = {  # docs/metadata-json-schema.md; written with json.dump(indent=2, ensure_ascii=False)
        "file_name": path.stem,
        "model_name": "Orange Cat",
        "file_path": path.as_posix(),
        "size": path.stat().st_size,
        "modified": 1740823200.0,
        "sha256": sha256,
        "base_model": "Pony",
        "preview_url": "",
        "preview_nsfw_level": 0,
        "notes": "my LM note",
        "from_civitai": True,
        "civitai": version,
        "tags": ["cat", "animal", "orange"],
        "modelDescription": "<p>From the model page.</p>",
        "civitai_deleted": False,
        "favorite": False,
        "exclude": False,
        "db_checked": False,
        "skip_metadata_refresh": False,
        "metadata_source": "civitai_api",
        "last_checked_at": 1740823200.0,
        "hash_status": "completed",
        "usage_tips": json.dumps({"strength_min": 0.4, "strength_max": 0.9, "strength": 0.65, "clip_skip": 2}),
    }
    with open(folder / f"{path.stem}.metadata.json", "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2, ensure_ascii=False)
    scan([folder], engine=engine)
    got = record(engine, path)
    assert got is not None and (got.version_id, got.model_id, got.base_model) == (2001, 1001, "Pony")
    assert (got.tags, got.description, got.creator) == (["cat", "animal", "orange"], "From the model page.", "painter")
    assert got.license == {
        "allowNoCredit": True,
        "allowCommercialUse": ["Image"],
        "allowDerivatives": True,
        "allowDifferentLicense": False,
    }
    artifact = row(engine, path)
    assert (artifact.notes, artifact.preferred_weight, artifact.activation_text) == ("my LM note", 0.65, "orange_cat")


def test_a_lora_manager_file_deleted_upstream_is_recorded_deleted(engine, folder):
    path = lora(folder)
    metadata = {
        "file_name": path.stem,
        "model_name": "Orange Cat",
        "civitai": version_json(path, version_id=3, model_id=4),
        "civitai_deleted": True,
    }
    (folder / f"{path.stem}.metadata.json").write_text(json.dumps(metadata, indent=2))
    scan([folder], engine=engine)
    got = record(engine, path)
    assert got is not None and got.state == "deleted" and got.version_name == "v2.0"


def test_a_lora_manager_file_not_from_civitai_gives_its_trigger_words_only(engine, folder):
    path = lora(folder)
    metadata = {
        "file_name": path.stem,
        "model_name": path.stem,
        "from_civitai": False,
        "civitai": {"trainedWords": ["zzcat"]},
    }
    (folder / f"{path.stem}.metadata.json").write_text(json.dumps(metadata, indent=2))
    scan([folder], engine=engine)
    assert record(engine, path) is None and row(engine, path).activation_text == "zzcat"


def test_a_stability_matrix_cm_info_becomes_a_civitai_record(engine, folder):
    path = sdxl_lora(folder)
    sha256, _ = file_hashes(path)
    # ConnectedModelInfo as SaveJsonToDirectory writes it (JsonSerializer.Serialize: compact, PascalCase, nulls kept).
    info = {
        "ModelId": 5001,
        "ModelName": "Orange Cat",
        "ModelDescription": "<p>Cats &amp; more.</p>",
        "Nsfw": False,
        "Tags": ["cat", "style"],
        "ModelType": "LORA",
        "VersionId": 6001,
        "VersionName": "v3",
        "VersionDescription": None,
        "AuthorUsername": "painter",
        "BaseModel": "Illustrious",
        "RemoteFileName": path.name,
        "RemoteFileId": 7001,
        "FileMetadata": {"Fp": "fp16", "Size": "pruned", "Format": "SafeTensor"},
        "ImportedAt": "2025-03-01T10:00:00.1234567+01:00",
        "Hashes": {"SHA256": sha256.upper(), "CRC32": "DEADBEEF", "BLAKE3": "AB" * 32},
        "TrainedWords": ["orange cat", "ohwx"],
        "Stats": {"FavoriteCount": 1, "CommentCount": 0, "RatingCount": 0, "Rating": 0, "DownloadCount": 9},
        "UserTitle": None,
        "ThumbnailImageUrl": None,
        "InferenceDefaults": None,
        "Source": 0,  # ConnectedModelSource.Civitai (no string converter on that enum)
        "SourceUrl": None,
    }
    # System.Text.Json's default encoder escapes non-ASCII and HTML-sensitive characters.
    text = json.dumps(info, separators=(",", ":"))
    for char, escaped in (("<", "\\u003C"), (">", "\\u003E"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    path.with_suffix(".cm-info.json").write_text(text, encoding="utf-8")
    scan([folder], engine=engine)
    got = record(engine, path)
    assert got is not None and got.state == "matched"
    assert (got.model_id, got.model_name, got.version_id, got.version_name) == (5001, "Orange Cat", 6001, "v3")
    assert (got.base_model, got.trained_words, got.tags) == ("Illustrious", ["orange cat", "ohwx"], ["cat", "style"])
    assert (got.description, got.creator, got.matched_hash) == ("Cats & more.", "painter", sha256)
    assert row(engine, path).line == "illustrious"


# ---------------------------------------------------------------------------------------
# When sidecars are read, and what wins


def test_a_sidecar_added_after_the_first_scan_is_imported_by_the_next_one_alone(engine, folder, monkeypatch):
    scan([folder], engine=engine)
    path = lora(folder)
    path.with_suffix(".civitai.info").write_text(json.dumps(version_json(path, version_id=8, model_id=9), indent=4))
    calls = []
    real = scan_module.read_sidecars
    monkeypatch.setattr(scan_module, "read_sidecars", lambda p, **kw: calls.append(p) or real(p, **kw))
    monkeypatch.setattr(scan_module, "probe", lambda p: pytest.fail(f"{p} probed"))
    report = scan([folder], engine=engine)
    assert calls == [path] and report.unchanged == 2 and report.sidecars_read == 1
    assert record(engine, path).version_id == 8
    assert scan([folder], engine=engine).sidecars_read == 0 and calls == [path]


def test_a_scan_looks_for_sidecars_only_beside_the_files_its_folder_listing_shows_them_for(engine, folder, monkeypatch):
    path = lora(folder)
    path.with_suffix(".json").write_text(json.dumps({"activation text": "ohwx cat"}))
    calls = []
    real = scan_module.read_sidecars
    monkeypatch.setattr(scan_module, "read_sidecars", lambda p, **kw: calls.append(p) or real(p, **kw))
    scan([folder], engine=engine)
    assert calls == [path] and row(engine, path).activation_text == "ohwx cat"


def test_the_sidecars_of_a_file_whose_name_holds_a_bar_and_a_colon_are_read(engine, folder):
    path = lora(folder).rename(folder / "cat|v2:final.safetensors")
    (folder / "cat|v2:final.json").write_text(json.dumps({"activation text": "ohwx cat"}))
    (folder / "cat|v2:final.preview.png").write_bytes(b"\x89PNG")
    scan([folder], engine=engine)
    assert row(engine, path).activation_text == "ohwx cat"
    with open_session(engine) as s:
        assert s.exec(select(Preview.path)).all() == [str(folder / "cat|v2:final.preview.png")]


def test_what_the_user_set_in_loradex_is_kept_when_a_sidecar_arrives(engine, folder):
    scan([folder], engine=engine)
    path = lora(folder)
    with open_session(engine) as s:
        artifact = s.exec(select(Artifact).where(Artifact.path == str(path))).one()
        artifact.activation_text, artifact.notes = "my words", "my note"
        s.add(artifact)
        s.commit()
    path.with_suffix(".json").write_text(
        json.dumps({"activation text": "theirs", "notes": "theirs", "preferred weight": 0.5})
    )
    path.with_suffix(".civitai.info").write_text(json.dumps(version_json(path, version_id=8, model_id=9), indent=4))
    scan([folder], engine=engine)
    artifact = row(engine, path)
    assert (artifact.activation_text, artifact.notes, artifact.preferred_weight) == ("my words", "my note", 0.5)
    assert record(engine, path).trained_words == ["ohwx cat"]


def test_a_sync_wins_over_a_sidecar_older_than_it_and_a_newer_sidecar_over_the_sync(fake_civitai, engine, folder):
    path = lora(folder)
    info = path.with_suffix(".civitai.info")
    info.write_text(json.dumps(version_json(path, version_id=8, model_id=9), indent=4))
    hour_ago = time.time() - 3600
    os.utime(info, (hour_ago, hour_ago))
    sha256, autov3 = file_hashes(path)
    fake_civitai.add_version(sha256, autov3, version_id=80, model_id=90, name="v9", images=0)
    scan([folder], engine=engine)
    assert record(engine, path).version_id == 8
    with CivitaiClient(timeout=5) as client:
        sync(engine, None, client=client, options=SyncOptions(refresh=True, images=0))
    assert record(engine, path).version_id == 80
    os.utime(info, (hour_ago + 60, hour_ago + 60))  # changed, still older than the sync: read, not taken
    assert scan([folder], engine=engine).sidecars_read == 1 and record(engine, path).version_id == 80
    later = time.time() + 60  # rewritten by its tool after the sync: taken
    os.utime(info, (later, later))
    scan([folder], engine=engine)
    assert record(engine, path).version_id == 8


# ---------------------------------------------------------------------------------------
# Writing, and the round trip


def test_every_format_round_trips_through_a_fresh_catalog_with_no_network(fake_civitai, engine, folder, tmp_path):
    for n, name in enumerate(LORAS):
        sha256, autov3 = file_hashes(folder / f"{name}.safetensors")
        fake_civitai.add_version(
            sha256,
            autov3,
            version_id=100 + n,
            model_id=200 + n,
            model_name=f"Model {n}",
            name=f"v{n}",
            base_model=("SD 1.5", "Pony")[n],
            trained_words=[f"word{n}", "shared"],
            tags=("character", f"tag{n}"),
            images=1,
        )
    scan([folder], engine=engine)
    with CivitaiClient(timeout=5) as client:
        sync(engine, None, client=client, options=SyncOptions(images=1))
    written = write_sidecars(engine, None)
    assert {w.state for w in written} == {"written"} and len(written) == len(LORAS) * len(SidecarFormat)
    fake_civitai.stop()  # no network from here

    def facts(eng) -> dict:
        with open_session(eng) as s:
            rows = s.exec(select(Artifact, CivitaiRecord).join(CivitaiRecord, CivitaiRecord.artifact_id == Artifact.id))
            return {
                a.name: (
                    r.state,
                    r.model_id,
                    r.model_name,
                    r.version_id,
                    r.version_name,
                    r.base_model,
                    a.line,
                    r.trained_words,
                    r.tags,
                    r.description,
                    r.air,
                    r.license,
                    r.creator,
                )
                for a, r in rows
            }

    fresh = open_catalog(tmp_path / "fresh.db")
    try:
        scan([folder], engine=fresh)
        assert facts(fresh) == facts(engine) and len(facts(fresh)) == len(LORAS)
        with open_session(fresh) as s:
            previews = s.exec(select(Preview.path)).all()
        assert sorted(previews) == sorted(str(folder / f"{n}.preview.png") for n in LORAS)
    finally:
        fresh.dispose()


def test_each_format_alone_carries_the_civitai_facts(fake_civitai, engine, folder, tmp_path):
    path = lora(folder)
    sha256, autov3 = file_hashes(path)
    fake_civitai.add_version(
        sha256, autov3, version_id=11, model_id=12, base_model="Pony", trained_words=["w"], images=0
    )
    scan([folder], engine=engine)
    with CivitaiClient(timeout=5) as client:
        sync(engine, None, client=client, options=SyncOptions(images=0))
    want = record(engine, path)
    for fmt in (SidecarFormat.CIVITAI_INFO, SidecarFormat.LORA_MANAGER, SidecarFormat.CM_INFO):
        for old in folder.glob(f"{path.stem}.*"):
            if old != path:
                old.unlink()
        write_sidecars(engine, [str(path)], [fmt])
        fresh = open_catalog(tmp_path / f"{fmt}.db")
        try:
            scan([folder], engine=fresh)
            got = record(fresh, path)
            assert got is not None, fmt
            assert (got.model_id, got.model_name, got.version_id, got.version_name, got.base_model) == (
                want.model_id,
                want.model_name,
                want.version_id,
                want.version_name,
                want.base_model,
            ), fmt
            assert (got.trained_words, got.tags, got.description) == (want.trained_words, want.tags, want.description)
            if fmt is not SidecarFormat.CM_INFO:  # Stability Matrix keeps no license flags
                assert got.license == want.license and got.license, fmt
        finally:
            fresh.dispose()


def test_writing_never_replaces_a_file_without_force(engine, folder):
    path = lora(folder)
    mine = path.with_suffix(".json")
    mine.write_text('{"notes": "hand written"}')
    scan([folder], engine=engine)
    with open_session(engine) as s:
        artifact = s.exec(select(Artifact).where(Artifact.path == str(path))).one()
        artifact.activation_text, artifact.preferred_weight = "ohwx", 0.8
        s.add(artifact)
        s.commit()
    [kept] = write_sidecars(engine, [str(path)], [SidecarFormat.A1111])
    assert kept.state == "skipped" and "exists" in kept.reason and mine.read_text() == '{"notes": "hand written"}'
    skipped = write_sidecars(
        engine, [str(path)], [SidecarFormat.CIVITAI_INFO, SidecarFormat.CM_INFO, SidecarFormat.PREVIEW]
    )
    assert [w.reason for w in skipped] == ["Civitai never named this file"] * 2 + ["no preview"]
    [done] = write_sidecars(engine, [str(path)], [SidecarFormat.A1111], force=True)
    written = json.loads(mine.read_text())
    assert done.state == "written" and written["activation text"] == "ohwx" and written["preferred weight"] == 0.8
    assert written["notes"] == "hand written" and written["sd version"] == "SD1"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp left behind


def test_a_file_civitai_never_named_keeps_its_words_notes_and_weight_through_lora_manager(engine, folder, tmp_path):
    path = lora(folder)
    scan([folder], engine=engine)
    with open_session(engine) as s:
        artifact = s.exec(select(Artifact).where(Artifact.path == str(path))).one()
        artifact.activation_text, artifact.notes, artifact.preferred_weight = "zzcat, orange", "mine", 0.6
        s.add(artifact)
        s.commit()
    [done] = write_sidecars(engine, [str(path)], [SidecarFormat.LORA_MANAGER])
    written = json.loads(Path(done.path).read_text())
    assert (written["from_civitai"], written["civitai"]) == (False, {"trainedWords": ["zzcat", "orange"]})
    fresh = open_catalog(tmp_path / "fresh.db")
    try:
        scan([folder], engine=fresh)
        got = row(fresh, path)
        assert (got.activation_text, got.notes, got.preferred_weight) == ("zzcat, orange", "mine", 0.6)
        assert record(fresh, path) is None
    finally:
        fresh.dispose()
