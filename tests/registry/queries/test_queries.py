"""Catalog queries and layer compatibility, on SQLite and PostgreSQL.

Rows are written directly through the ORM (``add_artifact``), and for compatibility from
what ``probe`` says about the zoo's real files, so these tests do not depend on the scanner.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from sqlmodel import select

from loradex.adapters import ArtifactInfo, probe
from loradex.adapters.jsonable import jsonable
from loradex.registry.errors import AmbiguousRefError, NoLayersError, QueryError, RefNotFoundError
from loradex.registry.queries import artifact_detail, compat, lookup, orm
from loradex.registry.queries.filters import Filter
from loradex.registry.queries.rows import shape_text
from loradex.registry.queries.sort_keys import NO_LINE
from loradex.registry.queries.table import browse, facets, matching_ids, parse_filter
from loradex.registry.services import edits
from loradex.registry.services.forget import forget
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import (
    Artifact,
    CivitaiRecord,
    LayerSetLayer,
    Preview,
    Recipe,
    RecipeInput,
    Tag,
)
from tests.support.catalog_rows import add_artifact, add_probed


@pytest.fixture
def session(engine):
    with open_session(engine) as s:
        yield s


@pytest.fixture(scope="module")
def zoo_infos(zoo) -> dict[str, ArtifactInfo]:
    names = [
        "sd1-single",
        "sdxl-single",
        "sd2-single",
        "sd1-kohya-lora",
        "sdxl-kohya-lora",
        "sd1-kohya-locon",
        "sdxl-kohya-slider",
        "sd1-ti-a1111",
        "sd2-kohya-lora",
        "sd1-diffusers",
    ]
    return {name: probe(zoo[name].path) for name in names}


@pytest.fixture
def library(session):
    """Five adapters and a checkpoint with known fields."""
    rows = {
        "anime-style": add_artifact(
            session,
            "anime-style",
            rank_min=16,
            rank_max=32,
            size=300,
            search_text="anime-style 1girl masterpiece 100%_real",
        ),
        "cat-sdxl": add_artifact(
            session, "cat-sdxl", base="sdxl", rank_min=4, rank_max=4, size=100, search_text="cat-sdxl orange cat"
        ),
        "cat-override": add_artifact(
            session,
            "cat-override",
            base="sd1",
            base_override="sdxl",
            rank_min=8,
            rank_max=8,
            size=200,
            search_text="cat-override orange cat",
        ),
        "loha-detail": add_artifact(
            session,
            "loha-detail",
            kind="lycoris",
            format="lycoris",
            rank_min=8,
            rank_max=64,
            size=50,
            search_text="loha-detail detail tweaker",
        ),
        "broken": add_artifact(
            session, "broken", status="error", kind="unknown", format="unknown", base="unknown", size=10
        ),
        "base-model": add_artifact(session, "base-model", kind="checkpoint", format="ldm_single_file", size=2000),
    }
    edits.set_tags(session, rows["anime-style"], add=["style", "Anime"])
    edits.set_tags(session, rows["cat-sdxl"], add=["animal"])
    edits.set_tags(session, rows["cat-override"], add=["animal", "style"])
    return rows


def names(artifacts) -> list[str]:
    return [a.name for a in artifacts]


# ---------------------------------------------------------------------------------------
# resolve


def test_resolve_by_id_name_path_hash_prefix_and_autov2(session, library, tmp_path, monkeypatch):
    cat = library["cat-sdxl"]
    assert orm.resolve(session, str(cat.id)).id == cat.id
    assert orm.resolve(session, "cat-sdxl").id == cat.id
    assert orm.resolve(session, cat.path).id == cat.id
    assert orm.resolve(session, cat.sha256[:6]).id == cat.id
    assert orm.resolve(session, cat.sha256[:12].upper()).id == cat.id
    assert orm.resolve(session, cat.autov2).id == cat.id
    assert orm.resolve(session, cat.sha256).id == cat.id
    # A relative path is resolved against the current folder.
    file = tmp_path / "models" / "x.safetensors"
    here = add_artifact(session, "x", path=str(file))
    monkeypatch.chdir(tmp_path)
    assert orm.resolve(session, "models/x.safetensors").id == here.id
    assert orm.resolve(session, "./models/../models/x.safetensors").id == here.id


def test_resolve_rejects_short_prefixes_and_unknown_refs(session, library):
    with pytest.raises(RefNotFoundError, match="nothing-here"):
        orm.resolve(session, "nothing-here")
    with pytest.raises(LookupError):  # a five-digit prefix is too short to be a hash
        orm.resolve(session, library["cat-sdxl"].sha256[:5])
    with pytest.raises(RefNotFoundError):
        orm.resolve(session, "999999")


def test_an_ambiguous_ref_names_its_candidates(session):
    first = add_artifact(session, "twin", path="/a/twin.safetensors", sha256="ab" * 32)
    second = add_artifact(session, "twin", path="/b/twin.safetensors", sha256="ab" * 31 + "cd")
    with pytest.raises(AmbiguousRefError) as caught:
        orm.resolve(session, "twin")
    message = str(caught.value)
    assert f"{first.id} twin /a/twin.safetensors" in message and f"{second.id} twin /b/twin.safetensors" in message
    assert "\n" not in message
    with pytest.raises(AmbiguousRefError, match="2 artifacts"):
        orm.resolve(session, "ababab")
    assert orm.resolve(session, "ab" * 31 + "c").id == second.id


def test_an_ambiguity_message_names_at_most_five(session):
    for i in range(7):
        add_artifact(session, "many", path=f"/m/{i}.safetensors")
    with pytest.raises(AmbiguousRefError) as caught:
        orm.resolve(session, "many")
    assert str(caught.value).count("/m/") == 5 and "7 artifacts" in str(caught.value)
    assert "2 more" in str(caught.value)


# ---------------------------------------------------------------------------------------
# find


def test_each_filter(session, library):
    assert names(orm.find(session, Filter(kind="lycoris"))) == ["loha-detail"]
    assert names(orm.find(session, Filter(kind="checkpoint"))) == ["base-model"]
    # base honours the user's override
    assert names(orm.find(session, Filter(base="sdxl"))) == ["cat-override", "cat-sdxl"]
    assert "cat-override" not in names(orm.find(session, Filter(base="sd1")))
    assert names(orm.find(session, Filter(tag="style"))) == ["anime-style", "cat-override"]
    assert names(orm.find(session, Filter(tag="ANIME"))) == ["anime-style"]
    assert names(orm.find(session, Filter(tag="nope"))) == []
    assert names(orm.find(session, Filter(text="ORANGE"))) == ["cat-override", "cat-sdxl"]
    assert names(orm.find(session, Filter(text="100%_r"))) == ["anime-style"]
    assert names(orm.find(session, Filter(text="1%_r"))) == []  # % and _ are literal, not wildcards
    assert names(orm.find(session, Filter(rank_min=16))) == ["anime-style", "loha-detail"]
    assert names(orm.find(session, Filter(rank_max=4))) == ["cat-sdxl"]
    assert names(orm.find(session, Filter(rank_min=5, rank_max=10))) == ["cat-override", "loha-detail"]
    assert names(orm.find(session, Filter(status="error"))) == ["broken"]


def test_filters_combine(session, library):
    assert names(orm.find(session, Filter(kind="lora", base="sdxl", tag="animal", text="cat"))) == [
        "cat-override",
        "cat-sdxl",
    ]
    assert names(orm.find(session, Filter(kind="lora", base="sdxl", tag="style", text="cat", rank_min=8))) == [
        "cat-override"
    ]
    assert orm.find(session, Filter(kind="lycoris", tag="animal")) == []


def test_civitai_filters_by_what_civitai_said(session, library):
    for name, state in (("anime-style", "matched"), ("cat-sdxl", "deleted"), ("cat-override", "not-found")):
        session.add(CivitaiRecord(artifact_id=library[name].id, state=state))
    session.commit()
    assert names(orm.find(session, Filter(civitai="yes"))) == ["anime-style"]
    assert names(orm.find(session, Filter(civitai="deleted"))) == ["cat-sdxl"]
    # not found there, or never looked up
    assert names(orm.find(session, Filter(civitai="no"))) == ["base-model", "broken", "cat-override", "loha-detail"]
    assert names(orm.find(session, Filter(civitai="yes", tag="style"))) == ["anime-style"]
    with pytest.raises(QueryError, match="unknown civitai filter 'maybe'; one of yes, no, deleted"):
        orm.find(session, Filter(civitai="maybe"))


def test_the_filter_text_takes_civitai_words(session, library):
    session.add(CivitaiRecord(artifact_id=library["loha-detail"].id, state="matched"))
    session.commit()
    flt = parse_filter("civitai:YES kind:lycoris")
    assert flt == Filter(kind="lycoris", civitai="yes")
    assert matching_ids(session, flt) == [library["loha-detail"].id]
    assert matching_ids(session, parse_filter("civitai:no kind:lycoris")) == []
    with pytest.raises(QueryError, match="unknown civitai filter 'perhaps'"):
        parse_filter("civitai:perhaps")


#: The facets' values of an ORM row, as :func:`.table.facets` counts them.
FACET_OF = {
    "kind": lambda row: row.kind,
    "base": lambda row: row.base_override or row.base,
    "line": lambda row: row.line or NO_LINE,
}


@pytest.mark.parametrize(
    "text",
    [
        "cat",
        "e",
        "ca kind:lora",
        "cat kind:lora base:sdxl",
        "e line:none sort:-size",
        "kind:lora",
        "base:sdxl rank>=8",
        "",
    ],
)
def test_the_tables_ids_are_the_listing_s_and_each_facet_counts_the_rows_of_the_other_conditions(
    session, library, text
):
    flt = parse_filter(text)
    assert matching_ids(session, flt) == [row.id for row in orm.find(session, flt)]
    counts = facets(session, flt)
    for facet, value_of in FACET_OF.items():
        under_the_others = orm.find(session, replace(flt, **{facet: None}))
        assert counts[facet] == Counter(value_of(row) for row in under_the_others), facet


def test_the_tables_rows_come_in_the_order_of_the_ids_asked_leaving_out_those_gone(session, library):
    ids = [library["cat-sdxl"].id, 10**9, library["anime-style"].id]
    rows = browse(session, ids)
    assert [(r.name, r.tags) for r in rows] == [("cat-sdxl", ("animal",)), ("anime-style", ("anime", "style"))]


def test_the_tables_rows_say_the_status_a_listing_says_a_file_gone_since_its_scan_missing(session, library):
    listed = {row.id: row.status for row, _ in lookup.listing(session)}
    assert "missing" in listed.values()  # the library's files are not on disk
    assert {row.id: row.status for row in browse(session, list(listed))} == listed


def test_sort_and_limit(session, library):
    assert names(orm.find(session, Filter(sort="-size"), limit=3)) == ["base-model", "anime-style", "cat-override"]
    assert names(orm.find(session, Filter(sort="size")))[:2] == ["broken", "loha-detail"]
    by_rank = names(orm.find(session, Filter(sort="-rank")))
    assert by_rank[:2] == ["loha-detail", "anime-style"]
    assert set(by_rank[-2:]) == {"base-model", "broken"}  # no ranks: last, on both backends
    assert names(orm.find(session, Filter(sort="rank")))[0] == "cat-sdxl"
    assert names(orm.find(session, Filter(sort="kind")))[0] == "base-model"
    with pytest.raises(QueryError, match="sort"):
        orm.find(session, Filter(sort="colour"))


def test_a_listing_without_details_defers_them_until_accessed(engine, library):
    from sqlalchemy import inspect as orm_state

    with open_session(engine) as s:
        light = orm.find(s, Filter(text="orange"), details=False)
        assert names(light) == ["cat-override", "cat-sdxl"]
        assert {"training_metadata", "search_text"} <= orm_state(light[0]).unloaded
        assert light[0].search_text == "cat-override orange cat"  # loaded on access
        assert orm.find(s, Filter(kind="checkpoint"), details=False)[0].id == library["base-model"].id


# ---------------------------------------------------------------------------------------
# tags, notes, duplicates, lineage


def test_tags_add_and_remove(session, library):
    art = library["anime-style"]
    assert lookup.tags_of(session, art) == ["anime", "style"]
    assert edits.set_tags(session, art, add=["  Favourite  Style ", "style"], remove=["anime"]) == [
        "favourite style",
        "style",
    ]
    assert edits.set_tags(session, art, remove=["not-there"]) == ["favourite style", "style"]
    # "anime" is used by no one now: the tag itself is gone.
    assert orm.find(session, Filter(tag="anime")) == []
    by_id = lookup.tags_by_artifact(session, library.values())
    assert by_id[library["cat-override"].id] == ["animal", "style"] and library["broken"].id not in by_id
    with pytest.raises(QueryError):
        edits.set_tags(session, art, add=["  "])


def test_notes(session, library, engine):
    art = library["cat-sdxl"]
    edits.set_note(session, art, "  great at 0.7  ")
    with open_session(engine) as other:
        assert other.get(Artifact, art.id).notes == "great at 0.7"
    edits.set_note(session, art, "")
    with open_session(engine) as other:
        assert other.get(Artifact, art.id).notes == ""


def test_preferred_weight(session, library, engine):
    art = library["cat-sdxl"]
    edits.set_preferred_weight(session, art, 0.75)
    with open_session(engine) as other:
        assert other.get(Artifact, art.id).preferred_weight == 0.75
    edits.set_preferred_weight(session, art, None)
    with open_session(engine) as other:
        assert other.get(Artifact, art.id).preferred_weight is None
    with pytest.raises(QueryError):
        edits.set_preferred_weight(session, art, float("nan"))


def test_forget_removes_the_row_and_what_hangs_on_it_but_keeps_recipes_inputs(session, library, engine):
    art = library["cat-sdxl"]
    session.add(Preview(artifact_id=art.id, path="/previews/cat.png"))
    made = Recipe(artifact_id=art.id, output_sha256="ab" * 32, op="mix")
    session.add(made)
    session.commit()
    ident, recipe_id = art.id, made.id
    forget(session, art)
    with open_session(engine) as other:
        assert other.get(Artifact, ident) is None
        assert other.exec(select(Preview).where(Preview.artifact_id == ident)).all() == []
        assert other.get(Recipe, recipe_id).artifact_id is None  # the recipe stays, unlinked
    assert orm.find(session, Filter(tag="animal")) == [library["cat-override"]]  # the tag stays for its other user
    forget(session, library["cat-override"])
    assert session.exec(select(Tag).where(Tag.name == "animal")).first() is None  # used by no one: gone
    assert names(orm.find(session, Filter(tag="style"))) == ["anime-style"]


def test_duplicates_group_files_with_equal_sha256(session):
    same = "cd" * 32
    add_artifact(session, "a", path="/x/a.safetensors", sha256=same, size=5)
    add_artifact(session, "b", path="/y/b.safetensors", sha256=same, size=5)
    add_artifact(session, "gone", path="/z/gone.safetensors", sha256=same, status="missing")
    add_artifact(session, "alone", sha256="ef" * 32)
    groups = lookup.duplicates(session)
    assert [[a.path for a in g] for g in groups] == [["/x/a.safetensors", "/y/b.safetensors"]]


def test_lineage_resolves_inputs_and_outputs(session):
    a = add_artifact(session, "style-a")
    b = add_artifact(session, "style-b")
    mix = add_artifact(session, "mix")
    recipe = Recipe(artifact_id=mix.id, output_sha256=mix.sha256, op="mix", params={"rank": 8})
    session.add(recipe)
    session.flush()
    session.add_all(
        [
            RecipeInput(recipe_id=recipe.id, position=0, sha256=a.sha256, ref="style-a", weight=0.7),
            RecipeInput(recipe_id=recipe.id, position=1, sha256=b.sha256, ref="style-b", weight=0.3),
            RecipeInput(recipe_id=recipe.id, position=2, sha256="00" * 32, ref="lost.safetensors", weight=0.1),
        ]
    )
    # A later bake of the mix whose output is known only by hash.
    baked = add_artifact(session, "baked", kind="checkpoint", format="ldm_single_file")
    bake = Recipe(output_sha256=baked.sha256, op="bake", params={})
    session.add(bake)
    session.flush()
    session.add(RecipeInput(recipe_id=bake.id, sha256=mix.sha256, ref="mix", weight=0.8))
    session.commit()

    made = artifact_detail.lineage(session, mix)
    assert [r.op for r in made.made_by] == ["mix"] and made.made_by[0].params == {"rank": 8}
    inputs = made.made_by[0].inputs
    assert [(i.artifact.name if i.artifact else None, i.weight) for i in inputs] == [
        ("style-a", 0.7),
        ("style-b", 0.3),
        (None, 0.1),
    ]
    assert [(u.op, u.artifact.name, u.weight) for u in made.used_in] == [("bake", "baked", 0.8)]

    source = artifact_detail.lineage(session, a)
    assert source.made_by == [] and [u.artifact.name for u in source.used_in] == ["mix"]
    assert [r.op for r in artifact_detail.lineage(session, baked).made_by] == ["bake"]


def test_lineage_as_json_names_artifacts_briefly(session):
    a = add_artifact(session, "style-a")
    mix = add_artifact(session, "mix")
    recipe = Recipe(artifact_id=mix.id, output_sha256=mix.sha256, op="mix", params={})
    session.add(recipe)
    session.flush()
    session.add(RecipeInput(recipe_id=recipe.id, position=0, sha256=a.sha256, ref="style-a", weight=0.5))
    session.commit()
    made = jsonable(artifact_detail.lineage(session, mix))["made_by"]
    assert made[0]["inputs"][0]["artifact"] == {"id": a.id, "name": "style-a", "path": a.path}
    used = jsonable(artifact_detail.lineage(session, a))["used_in"]
    assert used == [
        {
            "id": recipe.id,
            "op": "mix",
            "role": "input",
            "weight": 0.5,
            "artifact": {"id": mix.id, "name": "mix", "path": mix.path},
        }
    ]


def test_counts_and_layer_summary(session, zoo_infos):
    lora = add_probed(session, zoo_infos["sd1-kohya-lora"], "sd1-kohya-lora")
    base = add_probed(session, zoo_infos["sd1-single"], "sd1-single")
    summary = artifact_detail.layer_summary(session, lora, first=3)
    assert summary.layers == 84 and summary.by_algorithm == {"lora": 84}
    assert set(summary.by_component) == {"unet", "text_encoder"} and summary.by_rank == {"4": 84}
    assert len(summary.first) == 3 and summary.first[0][0].startswith("lora_")
    assert artifact_detail.layer_summary(session, base).layers == len(zoo_infos["sd1-single"].inventory)
    assert [(c.kind, c.format, c.base, c.count) for c in orm.counts(session)] == [
        ("checkpoint", "ldm_single_file", "sd1", 1),
        ("lora", "kohya", "sd1", 1),
    ]


def test_an_artifact_without_layers_has_an_empty_summary(session):
    bare = add_artifact(session, "bare")
    assert jsonable(artifact_detail.layer_summary(session, bare)) == {
        "layers": 0,
        "by_component": {},
        "by_algorithm": {},
        "by_rank": {},
        "first": [],
    }


# ---------------------------------------------------------------------------------------
# compatibility


@pytest.fixture
def zoo_rows(session, zoo_infos) -> dict[str, Artifact]:
    return {name: add_probed(session, info, name) for name, info in zoo_infos.items()}


def test_a_kohya_sd1_lora_fits_an_sd1_base_and_not_sdxl(session, zoo_rows):
    lora = zoo_rows["sd1-kohya-lora"]
    ok = compat.check(session, lora, zoo_rows["sd1-single"])
    assert (ok.verdict, ok.matched, ok.total, ok.share) == ("compatible", 84, 84, 1.0)
    assert ok.summary() == "84/84 layers fit sd1-single (compatible)"
    # The diffusers folder of the same base holds the same layers.
    assert compat.check(session, lora, zoo_rows["sd1-diffusers"]).verdict == "compatible"

    bad = compat.check(session, lora, zoo_rows["sdxl-single"])
    assert bad.verdict == "incompatible" and bad.share < 0.5
    assert bad.missing and bad.missing == sorted(bad.missing)
    assert bad.matched + len(bad.missing) + len(bad.mismatched) == bad.total == 84
    line = bad.summary()
    assert line.startswith(f"{bad.matched}/84 layers fit sdxl-single: ") and "family sd1 vs sdxl" in line
    assert line.endswith("(incompatible)") and bad.missing[0] in line and "\n" not in line
    assert jsonable(bad)["verdict"] == "incompatible"

    assert compat.check(session, zoo_rows["sdxl-kohya-lora"], zoo_rows["sdxl-single"]).verdict == "compatible"
    assert compat.check(session, zoo_rows["sd2-kohya-lora"], zoo_rows["sd1-single"]).verdict == "incompatible"


def test_a_partial_fit_names_missing_and_mismatched_layers(session, zoo_rows, zoo_infos):
    base = zoo_rows["sd1-single"]
    layers = {layer.canonical: shape_text(layer.shape) for layer in zoo_infos["sd1-kohya-lora"].layers}
    canonical = sorted(layers)[0]
    layers[canonical] = "7x7"  # a layer the base has, with another shape
    layers["unet.made_up.block.to_q"] = "64x64"  # a layer the base lacks
    odd = add_artifact(
        session,
        "odd-lora",
        layers=layers,
        unmatched=1,
        modules=[dict(stem="lora_unet_weird_thing", canonical=None, algorithm="lora", rank=4)],
    )
    result = compat.check(session, odd, base)
    assert result.verdict == "partial" and result.total == 86 and result.matched == 83
    assert result.missing == ["unet.made_up.block.to_q"] and result.unmatched == ["lora_unet_weird_thing"]
    assert result.mismatched == [(canonical, "7x7", layers_of(session, base)[canonical])]
    line = result.summary()
    assert "1 missing, e.g. unet.made_up.block.to_q" in line and "(7x7 vs " in line
    assert "1 key naming no known layer" in line and line.endswith("(partial)")


def layers_of(session, artifact) -> dict[str, str]:
    rows = session.query(LayerSetLayer).filter_by(layer_set_id=artifact.layer_set_id)
    return {r.canonical: r.shape for r in rows}


def test_layerless_adapters_are_judged_by_family_and_bases_must_be_checkpoints(session, zoo_rows):
    ti = zoo_rows["sd1-ti-a1111"]
    assert compat.check(session, ti, zoo_rows["sd1-single"]).verdict == "compatible"
    assert compat.check(session, ti, zoo_rows["sdxl-single"]).summary().endswith("family sd1 vs sdxl (incompatible)")
    with pytest.raises(QueryError, match="not a base checkpoint"):
        compat.check(session, ti, zoo_rows["sd1-kohya-lora"])
    bare = add_artifact(session, "bare-base", kind="checkpoint", format="ldm_single_file")
    with pytest.raises(NoLayersError, match="rescan"):
        compat.fits(session, bare)


def test_fits_lists_only_fitting_adapters(session, zoo_rows, zoo_infos):
    layers = {layer.canonical: shape_text(layer.shape) for layer in zoo_infos["sd1-kohya-lora"].layers}
    layers["unet.made_up.block.to_q"] = "64x64"
    add_artifact(session, "partial-lora", layers=layers)
    add_artifact(session, "errored", layers=layers, status="error")
    sd1 = zoo_rows["sd1-single"]
    fitting = compat.fits(session, sd1)
    assert {f.name for f in fitting} == {"sd1-kohya-lora", "sd1-kohya-locon"}
    assert all(f.share == 1.0 for f in fitting)
    loose = compat.fits(session, sd1, min_share=0.9)
    assert loose[-1].name == "partial-lora" and loose[-1].share == pytest.approx(84 / 85)
    assert {f.name for f in compat.fits(session, zoo_rows["sdxl-single"])} == {"sdxl-kohya-lora", "sdxl-kohya-slider"}
    # find(fits=…) selects the same artifacts and combines with other filters.
    assert set(names(orm.find(session, fits=sd1))) == {"sd1-kohya-lora", "sd1-kohya-locon"}
    assert names(orm.find(session, Filter(text="locon"), fits=sd1)) == ["sd1-kohya-locon"]
    with pytest.raises(QueryError):
        compat.fits(session, sd1, min_share=1.5)


def test_fit_by_checkpoint_agrees_with_check_for_every_pair_of_the_example_catalog(tmp_path):
    """One grouped query gives, per checkpoint, the share and verdict ``check`` gives pair by pair."""
    import shutil
    from pathlib import Path

    from loradex.registry.store.db import open_catalog

    copy = shutil.copy(Path(__file__).parents[3] / "catalog.db.example", tmp_path / "catalog.db")
    engine = open_catalog(str(copy))
    with open_session(engine) as s:
        adapters = list(s.exec(select(Artifact).order_by(Artifact.id)))
        checked = 0
        for adapter in adapters:
            fits = compat.fit_by_checkpoint(s, adapter)
            shares = [f.share if f.share is not None else -1.0 for f in fits]
            assert shares == sorted(shares, reverse=True)
            assert adapter.id not in {f.base.id for f in fits}
            for fit in fits:
                try:
                    c = compat.check(s, adapter, fit.base)
                except NoLayersError:
                    assert (fit.share, fit.verdict) == (None, "unknown")
                    continue
                assert (fit.matched, fit.total, fit.share, fit.verdict) == (c.matched, c.total, c.share, c.verdict)
                checked += 1
        assert checked > 100
    engine.dispose()
