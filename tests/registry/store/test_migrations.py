"""Schema migrations: real catalog files, upgraded on open, nothing lost."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel, select

from loradex.registry.errors import CatalogError
from loradex.registry.store.db import SCHEMA_HEAD, current_revision, head_revision, open_catalog, upgrade

ROOT = Path(__file__).resolve().parents[3]
FIRST_REVISION = Path(__file__).parents[2] / "data" / "catalog-0001.db"
TABLES = (
    "artifact",
    "module",
    "layer_set",
    "layer_set_layer",
    "tag",
    "artifact_tag",
    "scan_root",
    "preview",
    "recipe",
    "recipe_input",
    "publication",
)


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def test_the_example_catalog_is_at_the_current_schema_revision(tmp_path):
    """Fails when a migration is added without regenerating it (`make example-catalog`)."""
    copy = tmp_path / "example.db"
    shutil.copy(ROOT / "catalog.db.example", copy)
    engine = open_catalog(copy, migrate=False)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_opening_a_first_revision_catalog_migrates_it_and_keeps_every_row(tmp_path):
    copy = tmp_path / "old.db"
    shutil.copy(FIRST_REVISION, copy)
    before = _counts(copy)
    assert before["artifact"] and before["module"] and before["artifact_tag"]
    engine = open_catalog(copy)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    assert _counts(copy) == before
    with sqlite3.connect(copy) as conn:
        notes = conn.execute("SELECT count(*) FROM artifact WHERE notes = 'kept across migrations'").fetchone()[0]
        empty = conn.execute("SELECT count(*) FROM artifact WHERE search_text = ''").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert notes > 0 and empty == 0  # the data migration filled the new column


def test_the_old_file_is_copied_aside_before_migrating(tmp_path):
    copy = tmp_path / "old.db"
    shutil.copy(FIRST_REVISION, copy)
    open_catalog(copy).dispose()
    backup = tmp_path / "old.db.backup-0001"
    assert backup.exists() and _counts(backup) == _counts(FIRST_REVISION)


def test_an_earlier_copy_of_the_same_revision_is_never_overwritten(tmp_path):
    copy = tmp_path / "old.db"
    shutil.copy(FIRST_REVISION, copy)
    earlier = tmp_path / "old.db.backup-0001"
    earlier.write_bytes(b"the copy an earlier upgrade made")
    open_catalog(copy).dispose()
    assert earlier.read_bytes() == b"the copy an earlier upgrade made"
    (made,) = set(tmp_path.glob("old.db.backup-0001*")) - {earlier}
    assert _counts(made) == _counts(FIRST_REVISION)


def test_a_catalog_from_a_newer_loradex_is_refused(tmp_path):
    path = tmp_path / "new.db"
    open_catalog(path).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(CatalogError, match="newer"):
        open_catalog(path)


def _not_the_search_index(name: str | None, type_: str, parent: dict) -> bool:
    """The trigram index (0013: an FTS5 table, its shadow tables and triggers on SQLite, a pg_trgm
    index on PostgreSQL) and the search text by name (0015, SQLite only) are SQL the models do not
    declare."""
    return not (name or "").startswith("artifact_search")


def test_the_models_and_the_migrations_describe_the_same_schema(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _not_the_search_index})
        assert compare_metadata(context, SQLModel.metadata) == []


#: An artifact row as the first revision stores it (later columns have server defaults).
_OLD_ARTIFACT = text(
    "INSERT INTO artifact (path, name, kind, format, base, base_evidence, base_claims, is_dir, size, mtime, safety, "
    "status, ranks, algorithms, components, layer_count, parameters, unmatched, trigger_words, training_metadata, "
    "notes, sidecar, source, created_at) VALUES ('/x/Cat.safetensors', 'Cat', 'lora', 'kohya', 'sd1', '[]', '{}', "
    "false, 1, 0, 'safetensors', 'ok', '[]', '[]', '[]', 0, 0, 0, '[\"orange fur\"]', "
    "'{\"ss_output_name\": \"cat_v2\"}', 'mine', '{}', 'local', CURRENT_TIMESTAMP)"
)


@contextmanager
def _upgraded_from(catalog_url: str, revision: str) -> Iterator[tuple[Engine, Connection]]:
    """A catalog at ``revision`` holding :data:`_OLD_ARTIFACT`: the block writes what else that
    schema held, on the connection given (one transaction); on leaving it the catalog is upgraded
    to the head, and the engine is the test's to read and dispose of."""
    engine = open_catalog(catalog_url, migrate=False)
    upgrade(engine, revision)
    with engine.begin() as conn:
        conn.execute(_OLD_ARTIFACT)
        yield engine, conn
    upgrade(engine)


def test_upgrading_from_the_first_revision_fills_search_text_on_both_backends(catalog_url):
    with _upgraded_from(catalog_url, "0001") as (engine, _):
        pass  # the old artifact alone
    with engine.connect() as conn:
        row = conn.execute(text("SELECT search_text, notes FROM artifact")).one()
    engine.dispose()
    assert row == ("cat orange fur cat_v2", "mine")


def test_the_schema_head_that_lets_opening_skip_alembic_is_alembics_own_head():
    assert SCHEMA_HEAD == head_revision()


def test_upgrading_from_0003_keeps_every_preview_and_leaves_its_adapters_unknown(catalog_url):
    from sqlmodel import select

    from loradex.registry.queries.views import applied, shows_only
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Preview

    with _upgraded_from(catalog_url, "0003") as (engine, conn):
        artifact_id = conn.execute(text("SELECT id FROM artifact")).scalar_one()
        for seed, scale in ((1, 0.0), (1, 1.0)):
            conn.execute(
                text(
                    "INSERT INTO preview (artifact_id, path, prompt, seed, scale, base, source, created_at) "
                    "VALUES (:a, :p, 'a cat', :seed, :scale, '/b/sd15.safetensors', 'quicktest', "
                    "CURRENT_TIMESTAMP)"
                ),
                {"a": artifact_id, "p": f"/g/{scale:g}.png", "seed": seed, "scale": scale},
            )
    with open_session(engine) as session:
        rows = session.exec(select(Preview).order_by(Preview.id)).all()
    engine.dispose()
    assert [(p.artifact_id, p.path, p.prompt, p.seed, p.scale, p.base, p.source) for p in rows] == [
        (artifact_id, "/g/0.png", "a cat", 1, 0.0, "/b/sd15.safetensors", "quicktest"),
        (artifact_id, "/g/1.png", "a cat", 1, 1.0, "/b/sd15.safetensors", "quicktest"),
    ]
    # Not known, so not claimed: no weights shown, and no gallery place on a card.
    assert all(p.adapters is None and p.base_family is None and applied(p) == "" for p in rows)
    assert not any(shows_only(p, artifact_id, "sd1") for p in rows)


def test_upgrading_from_0005_starts_a_pulled_row_s_provenance_list_with_its_source(catalog_url):
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact

    with _upgraded_from(catalog_url, "0005") as (engine, conn):
        conn.execute(text("UPDATE artifact SET source = 'hub:bob/cat@abc'"))
    with open_session(engine) as session:
        (row,) = session.exec(select(Artifact)).all()
    engine.dispose()
    assert (row.source, row.sources, row.provenance) == ("hub:bob/cat@abc", ["hub:bob/cat@abc"], ["hub:bob/cat@abc"])


def test_upgrading_from_0006_keeps_every_artifact_and_leaves_its_line_for_the_next_scan(catalog_url):
    from loradex.adapters.model.probe_version import PROBE_VERSION
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact

    with _upgraded_from(catalog_url, "0006") as (engine, conn):
        conn.execute(text("UPDATE artifact SET base = 'sdxl', probed_with = 2"))
    with open_session(engine) as session:
        (row,) = session.exec(select(Artifact)).all()
    engine.dispose()
    assert (row.name, row.base, row.notes, row.trigger_words) == ("Cat", "sdxl", "mine", ["orange fur"])
    assert (row.line, row.line_confidence, row.line_evidence, row.trained_on_sha256) == (None, None, None, None)
    assert row.probed_with < PROBE_VERSION  # so the next scan reads it again, and decides its line


def test_upgrading_from_0008_keeps_every_artifact_and_fills_autov3_from_its_tensor_hash(catalog_url):
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact

    tensor_hash = "ab" * 32
    with _upgraded_from(catalog_url, "0008") as (engine, conn):
        conn.execute(text("UPDATE artifact SET sha256 = :sha, tensor_hash = :t"), {"sha": "cd" * 32, "t": tensor_hash})
        conn.execute(text(_OLD_ARTIFACT.text.replace("/x/Cat.safetensors", "/x/cat-peft").replace("false", "true")))
        conn.execute(text("UPDATE artifact SET tensor_hash = :t WHERE is_dir = :yes"), {"t": "ef" * 32, "yes": True})
    with open_session(engine) as session:
        file_row, folder_row = session.exec(select(Artifact).order_by(Artifact.id)).all()
    engine.dispose()
    assert (file_row.name, file_row.notes, file_row.trigger_words, file_row.sha256) == (
        "Cat",
        "mine",
        ["orange fur"],
        "cd" * 32,
    )
    assert (file_row.autov3, file_row.blake3, file_row.crc32) == (tensor_hash[:12], None, None)
    # A folder's tensor hash is over its file list: no AutoV3 of it.
    assert (folder_row.tensor_hash, folder_row.autov3) == ("ef" * 32, None)


def test_upgrading_from_0009_keeps_every_preview_and_adds_the_civitai_records_table(catalog_url):
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import CivitaiRecord, Preview

    with _upgraded_from(catalog_url, "0009") as (engine, conn):
        conn.execute(
            text(
                "INSERT INTO preview (artifact_id, path, prompt, seed, scale, source, created_at) "
                "SELECT id, '/g/cat.png', 'a cat', 7, 1.0, 'quicktest', CURRENT_TIMESTAMP FROM artifact"
            )
        )
    with open_session(engine) as session:
        (preview,) = session.exec(select(Preview)).all()
        records = session.exec(select(CivitaiRecord)).all()
    engine.dispose()
    assert (preview.path, preview.prompt, preview.seed, preview.source) == ("/g/cat.png", "a cat", 7, "quicktest")
    assert (preview.sampler, preview.steps, preview.cfg, preview.url, preview.resources) == (None,) * 5
    assert records == []


def test_upgrading_from_0012_keeps_every_artifact_and_indexes_its_search_text(catalog_url):
    from loradex.registry.queries import lookup
    from loradex.registry.queries.filters import Filter
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact

    with _upgraded_from(catalog_url, "0012") as (engine, conn):
        conn.execute(text("UPDATE artifact SET search_text = 'cat orange fur cat_v2'"))
    with open_session(engine) as session:
        (row,) = session.exec(select(Artifact)).all()
        found = [lookup.matching_ids(session, Filter(text=t)) for t in ("orange fur", "t_v", "dog")]
    engine.dispose()
    assert (row.name, row.notes, row.search_text) == ("Cat", "mine", "cat orange fur cat_v2")
    assert found == [[row.id], [row.id], []]  # three characters or more: answered by the new index


def test_upgrading_from_0014_keeps_every_artifact_and_a_short_text_finds_it_in_the_search_text_by_name(
    catalog_url,
):
    from loradex.registry.queries import table
    from loradex.registry.queries.filters import Filter
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Artifact

    with _upgraded_from(catalog_url, "0014") as (engine, conn):
        conn.execute(text("UPDATE artifact SET search_text = 'cat orange fur cat_v2'"))
    indexes = {index["name"] for index in inspect(engine).get_indexes("artifact")}
    with open_session(engine) as session:
        (row,) = session.exec(select(Artifact)).all()
        # one or two characters: on SQLite read off the new index by name (named in the query)
        found = [table.matching_ids(session, Filter(text=t)) for t in ("r", "_v", "dg")]
        counts = table.facets(session, Filter(text="_v"))
    engine.dispose()
    assert (row.name, row.notes, row.search_text) == ("Cat", "mine", "cat orange fur cat_v2")
    assert found == [[row.id], [row.id], []]
    assert counts["kind"] == {"lora": 1}
    assert ("artifact_search_by_name" in indexes) == (engine.dialect.name == "sqlite")


def test_upgrading_from_0013_gives_civitai_previews_the_size_their_record_s_json_states(catalog_url):
    from loradex.registry.store.db import session as open_session
    from loradex.registry.store.models import Preview

    images = [
        {"url": "https://img/a.jpeg", "width": 1024, "height": 1536, "meta": {"Size": "512x768"}},
        {"url": "https://img/b.jpeg", "width": 640, "height": 960, "meta": {}},
    ]
    raw = json.dumps({"id": 5, "images": images})
    with _upgraded_from(catalog_url, "0013") as (engine, conn):
        conn.execute(
            text(
                "INSERT INTO civitai_record (artifact_id, state, trained_words, tags, files, raw, last_checked) "
                "SELECT id, 'matched', '[]', '[]', '[]', :raw, CURRENT_TIMESTAMP FROM artifact"
            ),
            {"raw": raw},
        )
        for path, source, url in [
            ("/c/a.jpeg", "civitai", "https://img/a.jpeg"),
            ("/c/b.jpeg", "civitai", "https://img/b.jpeg"),
            ("/c/gone.jpeg", "civitai", "https://img/not-in-the-record.jpeg"),
            ("/g/cat.png", "quicktest", None),
        ]:
            conn.execute(
                text(
                    "INSERT INTO preview (artifact_id, path, source, url, created_at) "
                    "SELECT id, :path, :source, :url, CURRENT_TIMESTAMP FROM artifact"
                ),
                {"path": path, "source": source, "url": url},
            )
    with open_session(engine) as session:
        sizes = {p.path: (p.width, p.height) for p in session.exec(select(Preview))}
    engine.dispose()
    assert sizes == {
        "/c/a.jpeg": (512, 768),  # meta.Size, not the upscaled image's
        "/c/b.jpeg": (640, 960),
        "/c/gone.jpeg": (None, None),
        "/g/cat.png": (None, None),
    }
