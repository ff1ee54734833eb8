"""The text filter through the trigram index (migration 0013) selects exactly the rows a plain
case-insensitive substring search does: on SQLite the FTS5 phrase for three characters or more
and, for one or two, the LIKE over the search text held by name (0015); on PostgreSQL the
pg_trgm index under the same LIKE; every writer keeps the index in step."""

from __future__ import annotations

import random
import sqlite3

import pytest
from sqlalchemy import text

from loradex.registry.queries import lookup, table
from loradex.registry.queries.filters import Filter
from loradex.registry.queries.reading import as_reader, open_reader
from loradex.registry.services.records import search_text
from loradex.registry.store.db import session as open_session
from tests.support.catalog_rows import add_artifact

#: Names, trigger words and metadata values with what a substring search must take literally.
TEXTS = [
    ("Portrait-Style v2", ["PORTRAIT", "soft light"], {"ss_output_name": "portrait_v2", "ss_seed": "1234"}),
    ("Ünïcödé Straße", ["ǅemal", "İstanbul"], {"modelspec.title": "Ωmega ΣΑΣ", "ss_x": "ﬁne ＦＵＬＬ"}),
    ("emoji 🐱 cat", ["🐱🐶", "猫の絵"], {"ss_note": "日本語のテキスト"}),
    ("100%_real", ["50% off", "a_b_c"], {"ss_lr": "1e-4", "ss_pct": "%_%"}),
    ("quote \"me\" 'too'", ['say "hi"', "it's"], {"ss_q": '""'}),
    ("back\\slash\\path", ["C:\\models\\lora", "\\\\"], {"ss_path": "/a/b\\c"}),
    (
        "fts -syntax*",
        ["NEAR(a b)", "x:y", "a OR b", "NOT this", "AND"],
        {"ss_col": "search_text:foo", "ss_x": "^start"},
    ),
    ("plain lora", [], {}),
    ("a", [], {}),
    ("ab", ["  two  blanks  "], {"ss_tab": "tab\there"}),
    ("Mixed CASE Words", ["CamelCase", "snake_case"], {"ss_dim": "(1024, 1024)"}),
    ("cyberpunk city night", ["neon", "rain"], {"ss_optimizer": "bitsandbytes.optim.AdamW8bit"}),
]

#: What a user may type, FTS5 syntax included; quoted or not, none of it is syntax.
NEEDLES = [
    "portrait",
    "PORTRAIT",
    "Portrait-Style",
    "trait_v",
    "%",
    "_",
    "%_",
    "100%",
    "0%_r",
    "1%_r",
    "'",
    "'too'",
    '"',
    '""',
    '"me"',
    'say "hi',
    "\\",
    "\\\\",
    "k\\s",
    "c:\\models",
    "*",
    "syntax*",
    "-syntax",
    "-",
    "OR",
    "a OR b",
    "or b",
    "NEAR",
    "NEAR(a b)",
    "near(",
    "NOT",
    "not this",
    "AND",
    "x:",
    "x:y",
    "search_text:",
    "search_text:foo",
    "^start",
    "^",
    "(1024,",
    "ünï",
    "ÜNÏCÖDÉ",
    "straße",
    "STRASSE",
    "ǆemal",
    "istanbul",
    "i̇stanbul",
    "ωmega",
    "σας",
    "ＦＵＬＬ",
    "ﬁne",
    "fine",
    "🐱",
    "🐱🐶",
    "猫の",
    "日本語の",
    "  two  ",
    "two  bl",
    "\t",
    "b\th",
    "lora",
    "ora",
    "or",
    "a",
    "ab",
    "abc",
    "nothing-matches-this",
]


def _library(session) -> dict[int, str]:
    """The rows of :data:`TEXTS`: ``{id: stored search text}``."""
    rows = {}
    for name, words, meta in TEXTS:
        artifact = add_artifact(
            session, name, trigger_words=words, training_metadata=meta, search_text=search_text(name, words, meta)
        )
        rows[artifact.id] = artifact.search_text
    return rows


def _expected(rows: dict[int, str], needle: str) -> list[int]:
    """What a case-insensitive substring search selects, in Python."""
    return sorted(i for i, stored in rows.items() if needle.lower() in stored)


def _like(reader, needle: str) -> list[int]:
    """The plain LIKE path (what every text filter was before the index)."""
    pattern = "%" + needle.lower().replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    found = reader.rows("SELECT a.id FROM artifact a WHERE a.search_text LIKE :p ESCAPE '/'", {"p": pattern})
    return sorted(i for (i,) in found)


def _needles(rows: dict[int, str]) -> list[str]:
    """:data:`NEEDLES` and, from every stored text, substrings of 1 to 9 characters (seeded)."""
    rng = random.Random(22)
    cut = []
    for stored in rows.values():
        for _ in range(12):
            start = rng.randrange(len(stored))
            cut.append(stored[start : start + rng.randint(1, 9)])
    return NEEDLES + cut


def test_the_text_filter_selects_exactly_what_a_substring_search_does(engine):
    with open_session(engine) as session:
        rows = _library(session)
        reader = as_reader(session)
        for needle in _needles(rows):
            expected = _expected(rows, needle)
            assert _like(reader, needle) == expected, needle
            flt = Filter(text=needle)
            assert sorted(lookup.matching_ids(session, flt)) == expected, needle
            assert sorted(row.id for row, _ in lookup.listing(session, flt)) == expected, needle
            assert sorted(table.matching_ids(session, flt)) == expected, needle
            assert sum(table.facets(session, flt)["kind"].values()) == len(expected), needle


def test_the_plain_sqlite3_read_path_selects_the_same_rows(tmp_path):
    catalog = tmp_path / "catalog.db"
    from loradex.registry.store.db import open_catalog

    engine = open_catalog(catalog)
    with open_session(engine) as session:
        rows = _library(session)
    engine.dispose()
    with open_reader(catalog) as reader:
        assert reader.dialect == "sqlite" and type(reader).__name__ == "_SqliteReader"
        for needle in _needles(rows):
            expected = _expected(rows, needle)
            assert sorted(row.id for row, _ in lookup.listing(reader, Filter(text=needle))) == expected, needle


@pytest.mark.parametrize("catalog_url", ["postgresql"], indirect=True)
def test_postgresql_answers_a_text_filter_from_the_trigram_index_with_the_same_rows(catalog_url):
    from loradex.registry.store.db import open_catalog

    engine = open_catalog(catalog_url)
    with open_session(engine) as session:
        rows = _library(session)
        session.execute(text("SET LOCAL enable_seqscan = off"))  # a dozen rows: else never the index
        plan = "\n".join(
            r[0]
            for r in session.execute(
                text("EXPLAIN SELECT a.id FROM artifact a WHERE a.search_text LIKE :p ESCAPE '/'"), {"p": "%portrait%"}
            )
        )
        assert "artifact_search_trgm" in plan
        for needle in _needles(rows):
            assert sorted(lookup.matching_ids(session, Filter(text=needle))) == _expected(rows, needle), needle
    engine.dispose()


def _index_agrees(engine) -> None:
    """FTS5's own check of the index against the artifact rows (SQLite)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("INSERT INTO artifact_search(artifact_search, rank) VALUES ('integrity-check', 1)")


def test_every_write_of_a_row_keeps_the_index_in_step(engine):
    with open_session(engine) as session:
        cat = add_artifact(session, "orange-cat", search_text="orange-cat tabby")
        dog = add_artifact(session, "brown-dog", search_text="brown-dog beagle")
        assert lookup.matching_ids(session, Filter(text="tabby")) == [cat.id]
        cat.search_text = "orange-cat calico"  # the ORM
        session.commit()
        assert lookup.matching_ids(session, Filter(text="tabby")) == []
        assert lookup.matching_ids(session, Filter(text="calico")) == [cat.id]
        session.execute(text("UPDATE artifact SET search_text = 'brown-dog husky' WHERE id = :i"), {"i": dog.id})
        session.commit()  # SQL text, as the plain-sqlite3 writers and a scan's batches write
        assert lookup.matching_ids(session, Filter(text="beagle")) == []
        assert lookup.matching_ids(session, Filter(text="husky")) == [dog.id]
        session.execute(text("UPDATE artifact SET notes = 'mine' WHERE id = :i"), {"i": dog.id})
        session.commit()  # another column: the index is left alone, and still right
        assert lookup.matching_ids(session, Filter(text="husky")) == [dog.id]
        session.delete(cat)
        session.commit()
        assert lookup.matching_ids(session, Filter(text="calico")) == []
        assert lookup.matching_ids(session, Filter(text="-cat")) == []
    _index_agrees(engine)


def test_a_plain_sqlite3_writer_keeps_the_index_in_step(tmp_path):
    from loradex.registry.store.db import open_catalog

    engine = open_catalog(tmp_path / "catalog.db")
    with open_session(engine) as session:
        add_artifact(session, "orange-cat", search_text="orange-cat tabby")
    with sqlite3.connect(tmp_path / "catalog.db") as conn:
        conn.execute("UPDATE artifact SET search_text = 'orange-cat calico'")
        conn.execute(
            "INSERT INTO artifact (path, name, kind, format, base, is_dir, size, mtime, safety, status, layer_count, "
            "parameters, unmatched, notes, source, created_at, search_text, probed_with) VALUES ('/x/d.safetensors', "
            "'dog', 'lora', 'kohya', 'sd1', 0, 1, 0, 'safetensors', 'ok', 0, 0, 0, '', 'local', CURRENT_TIMESTAMP, "
            "'dog beagle', 0)"
        )
    with open_session(engine) as session:
        assert [len(lookup.matching_ids(session, Filter(text=t))) for t in ("tabby", "calico", "beagle")] == [0, 1, 1]
    _index_agrees(engine)
    engine.dispose()
