"""The rows under a scan's roots (:mod:`loradex.registry.queries.scanned`), on both backends: exactly
the paths below each root, compared on the stored forms (relative to a SQLite catalog's folder)."""

from __future__ import annotations

from loradex.registry.queries import orm
from loradex.registry.queries.reading import engine_reader
from loradex.registry.queries.scanned import (
    UnderCounts,
    duplicates_touching,
    scanned_under,
    settled_under,
    under_counts,
)
from loradex.registry.store.db import session as open_session
from tests.support.catalog_rows import add_artifact

# Beside the root: the same name in another case (SQLite's LIKE would match it), a longer name
# (no separator after the prefix), and one that "_" in a LIKE pattern would match.
_DECOYS = ("LO_RAS", "lo_ras2", "loXras")


def test_rows_under_a_root_are_exactly_the_root_and_the_paths_below_it(engine, tmp_path):
    root = tmp_path / "lo_ras"
    inside = [root / "a.safetensors", root / "deep" / "b.safetensors", root]
    with open_session(engine) as s:
        for i, path in enumerate([*inside, *(tmp_path / decoy / "c.safetensors" for decoy in _DECOYS)]):
            add_artifact(s, f"row{i}", path=str(path), status="missing" if i == 1 else "ok", probed_with=99, blake3="b")
    with engine_reader(engine) as reader:
        assert set(scanned_under(reader, [root])) == {str(p) for p in inside}
        assert {path for path, *_ in settled_under(reader, [root], 99)} == {str(inside[0]), str(root)}
        assert under_counts(reader, [root]) == UnderCounts(missing=1, present=2)
    with open_session(engine) as s:
        assert sum(c.count for c in orm.counts(s, folder=str(root))) == 3


def test_a_root_that_holds_the_catalogs_own_folder_takes_its_relative_rows(engine, tmp_path):
    with open_session(engine) as s:
        add_artifact(s, "here", path=str(tmp_path / "x.safetensors"), probed_with=99, blake3="b")
    with engine_reader(engine) as reader:
        assert list(scanned_under(reader, [tmp_path.parent])) == [str(tmp_path / "x.safetensors")]
        assert [path for path, *_ in settled_under(reader, [tmp_path.parent], 99)] == [str(tmp_path / "x.safetensors")]


def test_duplicate_groups_are_those_of_ok_rows_with_a_member_under_the_roots(engine, tmp_path):
    root, elsewhere = tmp_path / "lo_ras", tmp_path / "LO_RAS"
    shared, apart, big = "1" * 64, "2" * 64, "3" * 64
    with open_session(engine) as s:
        for name, path, sha256, fields in [
            ("a", elsewhere / "a.safetensors", shared, {}),
            ("b", root / "b.safetensors", shared, {}),
            ("c", root / "c.safetensors", shared, {"status": "missing"}),  # not ok: not a copy
            ("d", elsewhere / "d.safetensors", apart, {}),  # a group wholly outside the root
            ("e", elsewhere / "e.safetensors", apart, {}),
            ("f", elsewhere / "f.safetensors", big, {"size": 10}),
            ("g", root / "g.safetensors", big, {"size": 10}),
        ]:
            add_artifact(s, name, path=str(path), sha256=sha256, **fields)
    with engine_reader(engine) as reader:
        assert duplicates_touching(reader, [root]) == [
            [str(elsewhere / "f.safetensors"), str(root / "g.safetensors")],  # the largest first
            [str(elsewhere / "a.safetensors"), str(root / "b.safetensors")],
        ]
