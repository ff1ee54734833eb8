"""``sync`` and ``updates`` against the fake Civitai: what the server is asked (batches, hash by
hash where there is no batch endpoint) and what the catalog holds afterwards (``engine``: a
catalog on each backend)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlmodel import select

from loradex.registry.civitai.client import CivitaiClient, GaveUp
from loradex.registry.civitai.sync import SyncOptions, images_folder, sync, updates
from loradex.registry.services.civitai_records import NSFW_LEVELS, generation_size
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, CivitaiRecord, Preview
from tests.support.catalog_rows import add_artifact


def sha(n: int) -> str:
    return hashlib.sha256(f"file {n}".encode()).hexdigest()


class Waits(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def add(engine, n: int, **fields) -> int:
    with open_session(engine) as s:
        return add_artifact(s, f"lora{n}", sha256=sha(n), **fields).id


def run(engine, refs=None, *, waits=None, **options):
    with CivitaiClient(sleep=waits if waits is not None else Waits(), timeout=5) as client:
        return sync(engine, refs, client=client, options=SyncOptions(**options))


def record_of(engine, artifact_id: int) -> CivitaiRecord:
    with open_session(engine) as s:
        return s.exec(select(CivitaiRecord).where(CivitaiRecord.artifact_id == artifact_id)).one()


def artifact_of(engine, artifact_id: int) -> Artifact:
    with open_session(engine) as s:
        return s.get(Artifact, artifact_id)


def previews_of(engine, artifact_id: int) -> list[Preview]:
    with open_session(engine) as s:
        return list(s.exec(select(Preview).where(Preview.artifact_id == artifact_id).order_by(Preview.id)))


def test_a_match_records_what_civitai_says_of_the_version_and_its_model(fake_civitai, engine):
    a = add(engine, 1)
    version = fake_civitai.add_version(
        sha(1), version_id=70, model_id=30, model_name="Cat Ears", name="v2", trained_words=["catears", "kemo"]
    )
    report = run(engine)
    assert report.count("matched") == 1
    r = record_of(engine, a)
    assert (r.state, r.model_id, r.model_name, r.version_id, r.version_name) == ("matched", 30, "Cat Ears", 70, "v2")
    assert r.air == "urn:air:sd1:lora:civitai:30@70" and r.base_model == "SD 1.5"
    assert r.trained_words == ["catears", "kemo"] and r.matched_hash == sha(1)
    assert r.description == "The model & its story.\n\n- one\n- two"
    assert r.license == {
        "allowNoCredit": True,
        "allowCommercialUse": ["Image", "RentCivit"],
        "allowDerivatives": True,
        "allowDifferentLicense": False,
    }
    assert r.tags == ["character", "anime"] and r.creator == "someone"
    assert r.published_at.year == 2025 and r.nsfw_level is None
    assert r.files[0]["hashes"]["SHA256"] == sha(1).upper() and r.files[0]["primary"] is True
    assert r.raw == version
    assert r.last_checked is not None and r.first_matched_at is not None


def test_trained_words_fill_an_empty_activation_text_and_lead_the_trigger_words(fake_civitai, engine):
    a = add(engine, 1, trigger_words=["kemo", "solo"])
    b = add(engine, 2, activation_text="my own words")
    fake_civitai.add_version(sha(1), version_id=1, model_id=1, trained_words=["catears", "kemo"])
    fake_civitai.add_version(sha(2), version_id=2, model_id=2, trained_words=["dogears"])
    run(engine)
    first, second = artifact_of(engine, a), artifact_of(engine, b)
    assert first.trigger_words == ["catears", "kemo", "solo"] and first.activation_text == "catears, kemo"
    assert "catears" in first.search_text
    assert second.activation_text == "my own words"  # the user's, never replaced


def test_civitai_s_base_model_gives_the_line_with_civitai_as_its_evidence(fake_civitai, engine):
    a = add(engine, 1, base="sdxl")
    fake_civitai.add_version(sha(1), version_id=9, model_id=1, base_model="Pony")
    run(engine)
    artifact = artifact_of(engine, a)
    assert artifact.line == "pony"
    assert any("Civitai (version 9) baseModel=Pony" in e for e in artifact.line_evidence)


def test_example_images_are_downloaded_with_how_they_were_made(fake_civitai, engine):
    a = add(engine, 1)
    fake_civitai.add_version(sha(1), version_id=5, model_id=1, images=6, nsfw_levels=[1, 8, 2, 4, 1, 1])
    report = run(engine, images=3, max_nsfw=NSFW_LEVELS["pg13"])
    previews = previews_of(engine, a)
    assert report.images == 3 and len(previews) == 3
    assert [p.nsfw_level for p in previews] == [1, 2, 1]  # the X and R ones are left out
    first = previews[0]
    assert first.source == "civitai" and first.path.startswith(str(images_folder(engine) / "5"))
    assert open(first.path, "rb").read().startswith(b"\x89PNG")
    assert (first.prompt, first.negative_prompt, first.seed) == ("a photo of sks, example 0", "blurry", 1234)
    assert (first.sampler, first.steps, first.cfg, first.base) == ("DPM++ 2M Karras", 28, 7.0, "v1-5-pruned-emaonly")
    assert (first.width, first.height) == (512, 768)
    assert first.resources[0]["name"] == "A Model" and first.resources[0]["weight"] == 0.8
    assert first.url.startswith(fake_civitai.image_host.url)


def test_an_example_image_deleted_from_disk_is_downloaded_again_and_counted(fake_civitai, engine):
    a = add(engine, 1)
    fake_civitai.add_version(sha(1), version_id=5, model_id=1, images=2)
    run(engine)
    gone = Path(previews_of(engine, a)[0].path)
    gone.unlink()
    report = run(engine, refresh=True)
    assert report.images == 1 and gone.is_file() and len(previews_of(engine, a)) == 2


def test_an_example_s_meta_size_is_its_generation_size_even_where_the_image_is_bigger():
    image = {"width": 1664, "height": 2432, "meta": {"Size": "832x1216", "Hires upscale": "2"}}
    assert generation_size(image) == (832, 1216)


def test_an_upscaled_example_without_a_meta_size_has_no_generation_size():
    assert generation_size({"width": 1664, "height": 2432, "meta": {"Hires upscale": "2"}}) is None


@pytest.mark.parametrize("size", ["0x512", "512x99999", "512 by 768", "-512x768"])
def test_an_example_size_out_of_any_pipeline_s_range_or_unreadable_is_none(size):
    assert generation_size({"width": 512, "height": 768, "meta": {"Size": size}}) is None


def test_example_images_of_a_catalog_file_lie_beside_it(tmp_path):
    engine = open_catalog(tmp_path / "catalog.db")
    try:
        assert images_folder(engine) == tmp_path / "civitai"
    finally:
        engine.dispose()


def test_a_download_that_is_not_an_image_is_an_error_and_no_preview(fake_civitai, engine):
    a = add(engine, 1)
    version = fake_civitai.add_version(sha(1), version_id=5, model_id=1, images=2)
    fake_civitai.image_host.broken.add(urlsplit(version["images"][0]["url"]).path)  # an error page, status 200
    report = run(engine)
    assert report.errors == 1 and report.images == 1
    assert [p.url for p in previews_of(engine, a)] == [version["images"][1]["url"]]
    assert list((images_folder(engine) / "5").iterdir()) == [Path(previews_of(engine, a)[0].path)]


def test_an_image_its_host_cannot_give_is_an_error_and_the_record_is_made(fake_civitai, engine):
    a = add(engine, 1)
    version = fake_civitai.add_version(sha(1), version_id=5, model_id=1, images=2)
    fake_civitai.image_host.missing.add(urlsplit(version["images"][0]["url"]).path)
    report = run(engine)
    assert report.errors == 1 and report.images == 1
    assert record_of(engine, a).state == "matched"


def test_a_batch_that_answers_some_hashes_marks_the_rest_not_on_civitai(fake_civitai, engine):
    ids = [add(engine, n) for n in range(4)]
    fake_civitai.add_version(sha(1), version_id=1, model_id=1)
    fake_civitai.add_version(sha(3), version_id=3, model_id=1)
    report = run(engine)
    assert (report.count("matched"), report.count("not-found")) == (2, 2)
    assert [record_of(engine, i).state for i in ids] == ["not-found", "matched", "not-found", "matched"]
    assert len(fake_civitai.batch_posts()) == 1
    assert len(fake_civitai.api_requests("GET", "/api/v1/models/1")) == 1  # one page per model


def test_a_host_without_the_batch_endpoint_is_asked_hash_by_hash(fake_civitai, engine):
    for n in range(3):
        add(engine, n)
    fake_civitai.add_version(sha(2), version_id=2, model_id=1)
    fake_civitai.batch = False
    report = run(engine, models=False)
    assert report.count("matched") == 1 and report.count("not-found") == 2
    assert len(fake_civitai.api_requests("GET", "/api/v1/model-versions/by-hash/")) == 3


def test_a_second_sync_asks_nothing_and_refresh_asks_again(fake_civitai, engine):
    for n in range(3):
        add(engine, n)
    fake_civitai.add_version(sha(0), version_id=1, model_id=1)
    run(engine)
    before = len(fake_civitai.requests)
    again = run(engine)
    assert len(fake_civitai.requests) == before and again.requests == 0 and again.skipped == 3
    refreshed = run(engine, refresh=True, images=0)
    assert len(refreshed.items) == 3 and len(fake_civitai.requests) > before


def test_a_version_deleted_upstream_keeps_everything_known(fake_civitai, engine):
    a = add(engine, 1)
    fake_civitai.add_version(sha(1), version_id=5, model_id=1, model_name="Gone Soon", trained_words=["gone"])
    run(engine)
    fake_civitai.delete_version(5)
    report = run(engine, refresh=True)
    assert report.count("deleted") == 1
    r = record_of(engine, a)
    assert r.state == "deleted" and r.deleted_at is not None
    assert (r.model_name, r.version_id, r.trained_words) == ("Gone Soon", 5, ["gone"])
    assert len(previews_of(engine, a)) == 2 and artifact_of(engine, a).activation_text == "gone"


def test_a_matched_file_whose_bytes_changed_is_not_found_rather_than_deleted_upstream(fake_civitai, engine):
    a = add(engine, 1)
    fake_civitai.add_version(sha(1), version_id=5, model_id=1)
    run(engine)
    with open_session(engine) as s:  # retrained over the same name: a new sha256, the page still there
        artifact = s.get(Artifact, a)
        artifact.sha256 = sha(2)
        s.add(artifact)
        s.commit()
    assert run(engine, refresh=True).count("not-found") == 1
    assert (record_of(engine, a).state, record_of(engine, a).deleted_at) == ("not-found", None)


def test_a_huge_description_is_kept_as_text_cut_to_a_bound(fake_civitai, engine):
    a = add(engine, 1)
    fake_civitai.add_version(sha(1), version_id=1, model_id=1, model_description="<p>" + "word " * 400_000 + "</p>")
    run(engine)
    description = record_of(engine, a).description
    assert 1000 < len(description) <= 20_000 and description.endswith("…")


def test_a_429_storm_of_five_seconds_is_waited_out_and_every_record_lands(fake_civitai, engine):
    ids = [add(engine, n) for n in range(150)]
    for n in range(0, 150, 3):
        fake_civitai.add_version(sha(n), version_id=n + 1, model_id=1)
    fake_civitai.rate_limit_for(5.0)
    started = time.monotonic()
    with CivitaiClient(timeout=5) as client:  # the real clock: 1 + 2 + 4 s of backoff
        report = sync(engine, None, client=client, options=SyncOptions(images=0))
    assert time.monotonic() - started >= 5.0
    assert report.count("matched") == 50 and report.count("not-found") == 100
    assert all(record_of(engine, i).state for i in ids)
    assert len(fake_civitai.batch_posts()) > 2  # the 429s were asked again, not skipped


def test_a_site_that_gives_up_mid_run_keeps_the_batches_done(fake_civitai, engine):
    ids = [add(engine, n) for n in range(150)]
    fake_civitai.add_version(sha(0), version_id=1, model_id=1)

    class StormAfterFirstBatch(Waits):
        pass

    original = fake_civitai.answer

    def answer(method, path, body):
        if len(fake_civitai.batch_posts()) > 1:
            return 503, {"error": "down"}, {}
        return original(method, path, body)

    fake_civitai.answer = answer
    with pytest.raises(GaveUp) as caught:
        run(engine, waits=StormAfterFirstBatch(), images=0)
    assert "100 of 150 looked up before it and kept" in str(caught.value)
    with open_session(engine) as s:
        kept = s.exec(select(CivitaiRecord.artifact_id)).all()
    assert sorted(kept) == ids[:100]


def test_ctrl_c_keeps_every_batch_already_committed(fake_civitai, engine):
    ids = [add(engine, n) for n in range(150)]

    def interrupt(event):
        raise KeyboardInterrupt

    with CivitaiClient(sleep=Waits()) as client, pytest.raises(KeyboardInterrupt):
        sync(engine, None, client=client, options=SyncOptions(images=0), progress=interrupt)
    with open_session(engine) as s:
        assert sorted(s.exec(select(CivitaiRecord.artifact_id)).all()) == ids[:100]


def test_named_artifacts_only_are_looked_up(fake_civitai, engine):
    add(engine, 1)
    add(engine, 2)
    run(engine, ["lora2"])
    (post,) = fake_civitai.batch_posts()
    assert post.body == [sha(2)]


def test_updates_names_the_newer_versions_of_a_model(fake_civitai, engine):
    a = add(engine, 1)
    fake_civitai.add_version(sha(1), version_id=5, model_id=1, name="v1", published="2025-01-01T00:00:00.000Z")
    run(engine, images=0)
    fake_civitai.add_version(sha(99), version_id=8, model_id=1, name="v2", published="2025-06-01T00:00:00.000Z")
    with CivitaiClient(sleep=Waits()) as client:
        (item,) = updates(engine, None, client=client)
    assert item.artifact_id == a and [v["name"] for v in item.newer] == ["v2"]
    assert [v["id"] for v in record_of(engine, a).model_versions] == [8, 5]


def test_a_seed_past_2_to_the_31_is_kept_exactly(fake_civitai, engine):
    a = add(engine, 1)
    version = fake_civitai.add_version(sha(1), version_id=5, model_id=1, images=2)
    version["images"][0]["meta"]["seed"] = 2**53 + 1  # no float holds it
    version["images"][1]["meta"]["seed"] = "4294967295"
    run(engine)
    assert [p.seed for p in previews_of(engine, a)] == [2**53 + 1, 4294967295]


def test_copies_of_one_file_are_asked_once_and_both_recorded(fake_civitai, engine):
    a = add(engine, 1)
    with open_session(engine) as s:
        b = add_artifact(s, "copy", sha256=sha(1), path="/elsewhere/copy.safetensors").id
    fake_civitai.add_version(sha(1), version_id=3, model_id=1, images=1)
    report = run(engine)
    (post,) = fake_civitai.batch_posts()
    assert post.body == [sha(1)] and len(fake_civitai.image_host.requests) == 1
    assert report.count("matched") == 2 and record_of(engine, b).version_id == record_of(engine, a).version_id == 3
    assert len(previews_of(engine, a)) == len(previews_of(engine, b)) == 1
