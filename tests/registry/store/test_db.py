"""Which catalog is in use and opening it: the rule every front end shares (registry.store.db)."""

from __future__ import annotations

import pytest

from loradex.registry.errors import CatalogError
from loradex.registry.store.db import catalog_in_use, default_catalog_path, open_catalog, open_catalog_in_use


def test_no_catalog_is_in_use_until_one_is_named_or_the_default_exists(tmp_path, monkeypatch):
    assert not catalog_in_use(None)
    assert catalog_in_use(str(tmp_path / "named.db"))
    monkeypatch.setenv("LORADEX_CATALOG", str(tmp_path / "env.db"))
    assert catalog_in_use(None)


def test_the_default_catalog_is_in_use_once_its_file_exists():
    open_catalog(default_catalog_path()).dispose()
    assert catalog_in_use(None)


def test_opening_the_catalog_in_use_when_there_is_none_creates_nothing(tmp_path):
    assert open_catalog_in_use(None) is None
    assert not default_catalog_path().exists() and not default_catalog_path().parent.exists()


def test_the_catalog_in_use_is_opened_where_it_was_named(tmp_path):
    engine = open_catalog_in_use(str(tmp_path / "named.db"))
    assert engine is not None
    engine.dispose()
    assert (tmp_path / "named.db").exists()


def test_an_unusable_location_is_a_catalog_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CatalogError, match="folder .*sub does not exist"):
        open_catalog(blocker / "sub" / "catalog.db")


def test_a_server_url_is_named_without_its_password():
    with pytest.raises(CatalogError, match=r"cannot open the catalog nosuchdialect://user:\*\*\*@host/db") as caught:
        open_catalog("nosuchdialect://user:secret@host/db")
    assert "secret" not in str(caught.value)


def test_text_that_is_no_url_is_a_catalog_error():
    with pytest.raises(CatalogError, match="cannot open the catalog"):
        open_catalog("://nothing")


def test_a_checkpoint_of_twelve_billion_parameters_and_24_gb_is_recorded(engine):
    from sqlmodel import Session, select

    from loradex.registry.store.models import Artifact

    with Session(engine) as session:
        session.add(
            Artifact(
                path="/x/flux1-dev.safetensors",
                name="flux1-dev",
                kind="checkpoint",
                format="ldm_single_file",
                base="flux",
                size=23_802_932_552,
                parameters=11_901_408_320,
            )
        )
        session.commit()
        row = session.exec(select(Artifact)).one()
    assert (row.size, row.parameters) == (23_802_932_552, 11_901_408_320)
