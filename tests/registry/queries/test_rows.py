"""The plain rows the read path returns mirror the catalog's tables, column for column."""

from __future__ import annotations

from dataclasses import fields

import pytest

from loradex.registry.queries.rows import ArtifactRow, CivitaiRow, PreviewRow, PublicationRow, RecipeInputRow, RecipeRow
from loradex.registry.queries.views import Listed
from loradex.registry.store.models import Artifact, CivitaiRecord, Preview, Publication, Recipe, RecipeInput


@pytest.mark.parametrize(
    ("row", "table"),
    [
        (ArtifactRow, Artifact),
        (CivitaiRow, CivitaiRecord),
        (PreviewRow, Preview),
        (PublicationRow, Publication),
        (RecipeRow, Recipe),
        (RecipeInputRow, RecipeInput),
    ],
    ids=lambda c: c.__name__,
)
def test_a_row_has_its_table_s_columns_in_the_table_s_order(row, table):
    assert [f.name for f in fields(row)] == list(table.__table__.columns.keys())


def test_a_listed_row_reads_only_columns_of_the_artifact_table():
    assert {f.name for f in fields(Listed)} <= set(Artifact.__table__.columns.keys())


def test_an_artifact_row_defaults_as_a_new_artifact_does():
    new = Artifact(path="/x.safetensors", name="x", kind="lora", format="kohya", base="sd1")
    row = ArtifactRow(path="/x.safetensors", name="x", kind="lora", format="kohya", base="sd1")
    assert {f.name: getattr(row, f.name) for f in fields(row) if f.name not in {"created_at"}} == {
        name: getattr(new, name) for name in Artifact.__table__.columns.keys() if name != "created_at"
    }
