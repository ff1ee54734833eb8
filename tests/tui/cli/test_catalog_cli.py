"""The catalog commands, through ``CliRunner``: results are checked through the library (the
catalog is opened and queried), never by parsing the human tables; ``--json`` must parse.

Exit codes: 0 ok, 1 a LoradexError (one line on stderr), 2 usage.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from loradex.registry.queries import compat, lookup, orm
from loradex.registry.queries.filters import Filter
from loradex.registry.services import edits
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, ScanRoot
from loradex.tui.cli import app
from tests.support.catalog_rows import add_artifact, add_probed  # noqa: E402
from tests.support.ops_cli import one_error_line

runner = CliRunner()


def cli(url: str, *args: str):
    return runner.invoke(app, ["--catalog", url, *map(str, args)])


def cli_json(url: str, *args: str):
    result = cli(url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def rows(engine):
    with open_session(engine) as s:
        made = {
            name: add_artifact(s, name, **fields)
            for name, fields in {
                "anime": dict(rank_min=16, rank_max=16, search_text="anime girl"),
                "cat": dict(base="sdxl", rank_min=4, rank_max=4, search_text="orange cat"),
                "loha": dict(kind="lycoris", format="lycoris", rank_min=8, rank_max=8),
                "twin-a": dict(sha256="ab" * 32, path="/x/twin.safetensors"),
                "twin-b": dict(sha256="ab" * 32, path="/y/twin.safetensors"),
            }.items()
        }
        edits.set_tags(s, made["cat"], add=["animal"])
    return made


def tags(engine, artifact) -> list[str]:
    with open_session(engine) as s:
        return lookup.tags_of(s, s.get(Artifact, artifact.id))


def test_list_json_matches_the_library(catalog_url, engine, rows):
    listed = cli_json(catalog_url, "list")["artifacts"]
    assert {r["name"] for r in listed} == set(rows)
    row = next(r for r in listed if r["name"] == "cat")
    for key in ("id", "name", "path", "kind", "format", "base", "status", "rank_min", "rank_max", "sha256", "autov2"):
        assert key in row
    assert row["tags"] == ["animal"] and row["base"] == "sdxl"
    with open_session(engine) as s:
        for args, flt, limit in [
            (["--kind", "lycoris"], Filter(kind="lycoris"), None),
            (["--base", "sdxl"], Filter(base="sdxl"), None),
            (["--tag", "animal"], Filter(tag="animal"), None),
            (["--text", "GIRL"], Filter(text="girl"), None),
            (["--rank-min", "8", "--rank-max", "16"], Filter(rank_min=8, rank_max=16), None),
            (["--status", "ok", "--sort", "-rank", "--limit", "2"], Filter(status="ok", sort="-rank"), 2),
        ]:
            got = [r["id"] for r in cli_json(catalog_url, "list", *args)["artifacts"]]
            assert got == [a.id for a in orm.find(s, flt, limit=limit)], args


def test_usage_errors_exit_2(catalog_url, rows):
    assert cli(catalog_url, "list", "--sort", "colour").exit_code == 2
    assert cli(catalog_url, "list", "--limit", "0").exit_code == 2
    assert cli(catalog_url, "check", "anime").exit_code == 2  # --base is required
    assert cli(catalog_url, "frobnicate").exit_code == 2
    assert cli(catalog_url, "show").exit_code == 2
    assert cli(catalog_url, "tag", "anime", "--jsn").exit_code == 2  # a mistyped option is not a tag


def test_unknown_and_ambiguous_refs_are_one_line_errors(catalog_url, rows):
    one_error_line(cli(catalog_url, "show", "nothing-like-it"), "nothing-like-it")
    one_error_line(cli(catalog_url, "show", "ababab"), "2 artifacts", "/x/twin.safetensors", "/y/twin.safetensors")
    one_error_line(cli(catalog_url, "tag", "nothing", "+x"), "nothing")


def test_show_json_has_everything(catalog_url, rows):
    data = cli_json(catalog_url, "show", str(rows["cat"].id))
    assert data["name"] == "cat" and data["tags"] == ["animal"] and data["sha256"] == rows["cat"].sha256
    assert data["lineage"] == {"made_by": [], "used_in": []} and "layers" in data and "training_metadata" in data
    result = cli(catalog_url, "show", "cat")
    assert result.exit_code == 0 and "orange" not in result.stderr


def test_a_listing_that_matches_nothing_prints_its_headers_and_a_count_of_zero(catalog_url, rows):
    result = cli(catalog_url, "list", "--tag", "no-such-tag")
    assert result.exit_code == 0, result.output
    assert "name" in result.stdout and "0 artifacts" in result.stdout


def test_a_listing_s_table_is_framed_whole_with_a_newline_in_a_name_written_as_its_escape(catalog_url, engine, rows):
    with open_session(engine) as s:
        add_artifact(s, "two\nlines", path="/x/two.safetensors")
    lines = cli(catalog_url, "list").stdout.splitlines()
    framed = [line for line in lines if line.startswith(("┏", "┃", "┡", "│", "└"))]
    assert len(framed) == len(lines) - 1 == 4 + len(rows) + 1  # rules, header and rows; the count below
    assert len({len(line) for line in framed}) == 1
    assert any("two\\x0alines" in line for line in framed)


def test_show_json_lists_the_columns_in_the_models_order(catalog_url, rows):
    data = cli_json(catalog_url, "show", "cat")
    columns = [name for name in Artifact.model_fields if name != "search_text"]
    assert list(data)[: len(columns)] == columns
    assert list(data)[len(columns) :] == [
        "effective_base",
        "tags",
        "layers",
        "lineage",
        "previews",
        "publications",
        "trained_on",
        "hash_mismatches",
        "civitai",
    ]


def test_tag_adds_and_removes_with_plus_minus_double_dash_and_options(catalog_url, engine, rows):
    anime = rows["anime"]
    assert cli(catalog_url, "tag", "anime", "+style", "+old", "fav").exit_code == 0
    assert tags(engine, anime) == ["fav", "old", "style"]
    result = cli(catalog_url, "tag", "anime", "-old")  # looks like an option; still a removal
    assert result.exit_code == 0, result.output
    assert tags(engine, anime) == ["fav", "style"]
    assert cli(catalog_url, "tag", "anime", "--", "-style", "+new").exit_code == 0
    assert tags(engine, anime) == ["fav", "new"]
    assert cli_json(catalog_url, "tag", "anime", "--add", "x", "--remove", "fav")["tags"] == ["new", "x"]
    assert cli_json(catalog_url, "tag", str(anime.id))["tags"] == ["new", "x"]


def test_a_tag_removal_holding_an_h_removes_the_tag_instead_of_printing_help(catalog_url, engine, rows):
    assert cli(catalog_url, "tag", "anime", "+sketch", "+hd").exit_code == 0
    result = cli(catalog_url, "tag", "anime", "-sketch", "-hd")
    assert result.exit_code == 0, result.output
    assert tags(engine, rows["anime"]) == []


def test_note_sets_shows_and_clears(catalog_url, engine, rows):
    assert cli(catalog_url, "note", "loha", "try 0.6 with detail prompts").exit_code == 0
    with open_session(engine) as s:
        assert s.get(Artifact, rows["loha"].id).notes == "try 0.6 with detail prompts"
    assert cli_json(catalog_url, "note", "loha")["notes"] == "try 0.6 with detail prompts"
    assert cli_json(catalog_url, "note", "loha", "")["notes"] == ""


def test_dupes_json(catalog_url, rows):
    groups = cli_json(catalog_url, "dupes")["groups"]
    assert [sorted(a["path"] for a in g["artifacts"]) for g in groups] == [
        ["/x/twin.safetensors", "/y/twin.safetensors"]
    ]


def test_check_and_fits_from_probed_rows(catalog_url, engine, zoo):
    from loradex.adapters import probe

    with open_session(engine) as s:
        made = {
            n: add_probed(s, probe(zoo[n].path), n)
            for n in ("sd1-single", "sdxl-single", "sd1-kohya-lora", "sdxl-kohya-lora")
        }
    good = cli_json(catalog_url, "check", "sd1-kohya-lora", "--base", "sd1-single")
    assert (good["verdict"], good["matched"], good["total"]) == ("compatible", 84, 84)
    bad = cli(catalog_url, "check", "sd1-kohya-lora", "--base", "sdxl-single", "--json")
    assert bad.exit_code == 4 and json.loads(bad.stdout)["verdict"] == "incompatible"
    assert cli(catalog_url, "check", "sd1-kohya-lora", "--base", "sdxl-single").exit_code == 4
    one_error_line(cli(catalog_url, "check", "sd1-single", "--base", "sd1-kohya-lora"), "not a base checkpoint")
    listed = cli_json(catalog_url, "list", "--fits", "sdxl-single")["artifacts"]
    with open_session(engine) as s:
        expected = compat.fits(s, s.get(Artifact, made["sdxl-single"].id))
    assert [r["id"] for r in listed] == [made["sdxl-kohya-lora"].id] == [f.id for f in expected]


def test_the_catalog_comes_from_the_environment_without_the_option(tmp_path, monkeypatch):
    path = tmp_path / "env.db"
    monkeypatch.setenv("LORADEX_CATALOG", str(path))
    engine = open_catalog(path)
    with open_session(engine) as s:
        add_artifact(s, "from-env")
    engine.dispose()
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0 and [r["name"] for r in json.loads(result.stdout)["artifacts"]] == ["from-env"]


def test_a_bad_catalog_location_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = runner.invoke(app, ["--catalog", str(blocker / "sub" / "catalog.db"), "scan", str(tmp_path)])
    one_error_line(result, "does not exist", "sub")


# ---------------------------------------------------------------------------------------
# End to end: scan a copy of the zoo


@pytest.fixture
def zoo_copy(zoo, tmp_path) -> Path:
    root = tmp_path / "library"
    shutil.copytree(zoo.root / "adapters", root / "adapters")
    shutil.copytree(zoo.root / "bases", root / "bases")
    return root


def test_scan_then_query_a_copy_of_the_zoo(catalog_url, engine, zoo, zoo_copy):
    report = cli_json(catalog_url, "scan", zoo_copy, "--workers", "2")
    assert report["added"] == len(zoo) and report["errors"] == []
    with open_session(engine) as s:
        found = orm.find(s)
        assert len(found) == len(zoo) and all(a.status == "ok" for a in found)
        lora = orm.resolve(s, str(zoo_copy / "adapters" / "sd1-kohya-lora.safetensors"))
        sd1 = orm.resolve(s, str(zoo_copy / "bases" / "tiny-sd1.safetensors"))
        fitting = {f.name for f in compat.fits(s, sd1)}
    assert "sd1-kohya-lora" in fitting and not any(n.startswith("sdxl") for n in fitting)
    # Refs by hash work on scanned rows.
    assert cli_json(catalog_url, "show", lora.sha256[:8])["id"] == lora.id
    assert cli_json(catalog_url, "show", lora.autov2)["id"] == lora.id
    # And by the hashes Civitai shows, in its upper case.
    for ref in (lora.autov3, lora.blake3[:10], lora.crc32):
        assert cli_json(catalog_url, "show", ref.upper())["id"] == lora.id, ref
    shown = cli_json(catalog_url, "show", str(lora.id))
    assert (shown["autov3"], shown["blake3"], shown["crc32"]) == (lora.autov3, lora.blake3, lora.crc32)
    assert shown["hash_mismatches"] == []
    xl = str(zoo_copy / "bases" / "tiny-sdxl.safetensors")
    incompatible = cli(catalog_url, "check", str(lora.id), "--base", xl, "--json")
    assert incompatible.exit_code == 4 and json.loads(incompatible.stdout)["verdict"] == "incompatible"
    assert cli_json(catalog_url, "check", str(lora.id), "--base", str(sd1.id))["verdict"] == "compatible"

    # A copy is a duplicate; a vanished file is missing after the next scan.
    shutil.copy(zoo_copy / "adapters" / "sd1-kohya-lora.safetensors", zoo_copy / "adapters" / "again.safetensors")
    (zoo_copy / "adapters" / "sdxl-ti.safetensors").unlink()
    again = cli_json(catalog_url, "scan", zoo_copy)
    assert again["added"] == 1 and again["missing"] == 1
    assert len(cli_json(catalog_url, "dupes")["groups"]) == 1
    assert [r["name"] for r in cli_json(catalog_url, "list", "--status", "missing")["artifacts"]] == ["sdxl-ti"]
    verified = cli_json(catalog_url, "verify")
    assert verified["changed"] == [] and verified["checked"] == len(zoo)
    # Human output of the same commands works too.
    for args in (["scan", zoo_copy], ["verify"], ["dupes"], ["list"], ["show", str(lora.id)]):
        result = cli(catalog_url, *args)
        assert result.exit_code == 0, (args, result.output)


def test_scan_of_a_missing_folder_is_an_error_that_records_nothing(tmp_path, zoo_copy):
    path = tmp_path / "new.db"
    one_error_line(cli(str(path), "scan", tmp_path / "typo"), str(tmp_path / "typo"), "no such file or folder")
    assert not path.exists()  # not even an empty catalog for a typo
    cli_json(str(path), "scan", zoo_copy)
    one_error_line(cli(str(path), "scan", zoo_copy, tmp_path / "typo"), str(tmp_path / "typo"))
    engine = open_catalog(str(path))
    with open_session(engine) as s:
        assert s.exec(select(ScanRoot.path)).all() == [str(zoo_copy)]
    engine.dispose()


def test_check_exits_4_unless_every_layer_fits_also_for_files_outside_the_catalog(catalog_url, engine, zoo):
    lora, sd1, xl = (str(zoo[n].path) for n in ("sd1-kohya-lora", "sd1-single", "sdxl-single"))
    assert cli(catalog_url, "check", lora, "--base", sd1).exit_code == 0
    for args in ([], ["--json"]):
        result = cli(catalog_url, "check", lora, "--base", xl, *args)
        assert result.exit_code == 4 and "incompatible" in result.stdout and "error" not in result.stderr, result.output
    assert set(json.loads(result.stdout)) >= {"verdict", "share", "matched", "total"}  # the JSON as before


def test_verify_exits_4_when_it_finds_changes_and_the_rows_say_so(catalog_url, zoo_copy):
    clean = cli(catalog_url, "scan", zoo_copy)
    assert clean.exit_code == 0 and cli(catalog_url, "verify").exit_code == 0
    lora = zoo_copy / "adapters" / "sd1-kohya-lora.safetensors"
    st = lora.stat()
    data = bytearray(lora.read_bytes())
    data[-1] ^= 0xFF
    lora.write_bytes(bytes(data))
    os.utime(lora, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: a scan cannot see it
    (zoo_copy / "adapters" / "sdxl-ti.safetensors").unlink()
    result = cli(catalog_url, "verify", "--json")
    assert result.exit_code == 4, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"checked", "changed", "missing", "errors", "elapsed"}
    assert [c["path"] for c in report["changed"]] == [str(lora)]
    assert report["missing"] == [str(zoo_copy / "adapters" / "sdxl-ti.safetensors")]
    listed = {r["name"]: r["status"] for r in cli_json(catalog_url, "list")["artifacts"]}
    assert (listed["sd1-kohya-lora"], listed["sdxl-ti"]) == ("error", "missing")
    assert cli(catalog_url, "verify").exit_code == 0  # what it found is recorded: nothing new


def test_demo_builds_scans_and_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    data = cli_json(url, "demo", "--dir", tmp_path / "zoo")
    counts = {(c["kind"], c["format"], c["base"]): c["count"] for c in data["counts"]}
    assert data["scan"]["errors"] == []
    assert counts[("checkpoint", "ldm_single_file", "sd1")] == 2  # the .safetensors and the .ckpt
    engine = open_catalog(url)
    with open_session(engine) as s:
        assert sum(counts.values()) == len(orm.find(s)) == data["scan"]["added"]
    engine.dispose()


def test_a_read_only_command_creates_no_default_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LORADEX_CATALOG", raising=False)
    from loradex.registry.store.db import default_catalog_path

    for args in (["list"], ["show", "x"], ["dupes"], ["verify"], ["check", "a", "--base", "b"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and ("scan DIR" in result.stderr or "no such file 'a'" in result.stderr), (
            result.output
        )
    assert not default_catalog_path().exists() and not (tmp_path / "xdg").exists()


def test_a_catalog_in_a_folder_that_does_not_exist_is_an_error_not_a_new_folder(tmp_path):
    result = runner.invoke(app, ["--catalog", str(tmp_path / "no" / "such" / "c.db"), "scan", str(tmp_path)])
    assert result.exit_code == 1 and "does not exist" in result.stderr
    assert not (tmp_path / "no").exists()


def test_scan_creates_the_default_catalog_and_says_where(zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LORADEX_CATALOG", raising=False)
    from loradex.registry.store.db import default_catalog_path

    result = runner.invoke(app, ["scan", str(zoo["sd1-kohya-lora"].path)])
    assert result.exit_code == 0, result.output
    assert default_catalog_path().exists() and str(default_catalog_path()) in result.stderr


@pytest.mark.parametrize("spelling", ["sd15", "sd1.5", "SD 1.5", "sd1"])
def test_list_takes_common_spellings_of_a_base(engine, rows, spelling):
    url = engine.url.render_as_string(hide_password=False)
    assert (
        {a["name"] for a in cli_json(url, "list", "--base", spelling)["artifacts"]}
        == {a["name"] for a in cli_json(url, "list", "--base", "sd1")["artifacts"]}
        != set()
    )


@pytest.mark.parametrize(("option", "value", "valid"), [("--kind", "loras", "lycoris"), ("--base", "sdx", "sdxl")])
def test_an_unknown_kind_or_base_is_a_usage_error_listing_the_valid_ones(engine, option, value, valid):
    result = cli(engine.url.render_as_string(hide_password=False), "list", option, value)
    assert result.exit_code == 2 and valid in result.stderr and value in result.stderr


# ---------------------------------------------------------------------------------------
# Long listings stream


def test_a_long_listing_streams_every_row_reading_only_the_listed_columns_in_chunks(catalog_url, engine, monkeypatch):
    from loradex.registry.queries import reading
    from loradex.registry.queries.views import Listed
    from loradex.tui.output.library import TABLE_ROWS
    from tests.support.catalog_rows import add_many

    n = 2 * lookup.CHUNK + 500
    assert n > TABLE_ROWS
    ids = add_many(engine, n, tag="many", every=7)
    statements: list[tuple[str, object]] = []
    for driver in (reading._SqliteReader, reading._AlchemyReader):  # whichever runs the queries

        def recorded(self, sql, params=None, *, _rows=driver.rows, **options):
            statements.append((sql, params))
            return _rows(self, sql, params, **options)

        monkeypatch.setattr(driver, "rows", recorded)
    listed = cli_json(catalog_url, "list")["artifacts"]
    plain = cli(catalog_url, "list")
    assert [r["id"] for r in listed] == ids
    assert [r["tags"] for r in listed] == [["many"] if k % 7 == 0 else [] for k in range(n)]
    assert listed[0] == {
        "id": ids[0],
        "name": "lora-00001",
        "path": "/catalog-test/many/lora-00001.safetensors",
        "kind": "lora",
        "format": "kohya",
        "base": "sd1",
        "detected_base": "sd1",
        "line": None,
        "status": "missing",
        "rank_min": 8,
        "rank_max": 8,
        "ranks": [8],
        "size": 0,
        "sha256": f"{1:064x}",
        "autov2": None,
        "autov3": None,
        "blake3": None,
        "crc32": None,
        "source": "local",
        "sources": ["local"],
        "tags": ["many"],
    }
    # Past TABLE_ROWS: plain aligned lines, a header, every row, the count.
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "kind", "format", "base/line", "ranks", "size", "status", "tags"]
    assert [int(line.split()[0]) for line in lines[1:-1]] == ids and lines[-1] == f"{n} artifacts"
    # Neither the metadata nor any other column the listing does not show is read, and the
    # tags come a chunk at a time (one query for 2,500 ids was one parameter per row).
    selects = [s for s, _ in statements if s.startswith("SELECT") and "FROM artifact a" in s and 'a."name"' in s]
    assert selects and all("training_metadata" not in s and "trigger_words" not in s for s in selects)
    assert all(s.count('a."') == len(fields(Listed)) for s in selects)
    assert max(len(p) for _, p in statements if p) <= lookup.CHUNK + 1


def test_a_header_whose_tensor_hash_is_wrong_is_one_line_in_scan_and_a_warning_in_show(catalog_url, zoo, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    src = zoo["sd1-kohya-lora"].path
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    changed = tmp_path / "loras" / "changed.safetensors"
    changed.parent.mkdir()
    save_file({k: v * 2 for k, v in load_file(src).items()}, changed, meta)
    scanned = cli(catalog_url, "scan", changed.parent)
    assert scanned.exit_code == 0, scanned.output
    assert [line for line in scanned.stdout.splitlines() if "sshs_model_hash" in line] == [
        f"  {changed}: sshs_model_hash says {meta['sshs_model_hash'][:12]}… but the tensor data hashes to "
        f"{cli_json(catalog_url, 'show', 'changed')['tensor_hash'][:12]}… (the weights changed after it was written)"
    ]
    shown = cli(catalog_url, "show", "changed")
    assert shown.exit_code == 0 and "warning: sshs_model_hash says" in shown.stdout
    (mismatch,) = cli_json(catalog_url, "show", "changed")["hash_mismatches"]
    assert (mismatch["key"], mismatch["claimed"]) == ("sshs_model_hash", meta["sshs_model_hash"])
