"""Shared fixtures. The Hub is never reached: everything runs from the local zoo."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

from loradex.adapters.zoo import Zoo, build_zoo  # noqa: E402


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    """Tiny bases and adapters in every convention, built once per test session."""
    return build_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def diffusers_log():
    """Everything diffusers and PEFT log while the test runs."""
    import diffusers

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    loggers = [diffusers.utils.logging.get_logger("diffusers"), logging.getLogger("peft")]
    for logger in loggers:
        logger.addHandler(handler)
    yield buf
    for logger in loggers:
        logger.removeHandler(handler)


# ---------------------------------------------------------------------------------------
# Catalogs: every catalog test runs on a fresh SQLite file and, when a server is given, on a
# fresh PostgreSQL database (.ci/run starts one and sets LORADEX_TEST_PG_URL).


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--pg-url", default=os.environ.get("LORADEX_TEST_PG_URL"),
                     help="PostgreSQL server URL (a database on it is created per test)")


def _pg_database(admin_url: str):
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"loradex_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path):
    """URL of an empty catalog: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    admin_url = request.config.getoption("--pg-url")
    if not admin_url:
        pytest.skip("no PostgreSQL server: pass --pg-url or set LORADEX_TEST_PG_URL (.ci/run starts one)")
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    try:
        create_engine(admin_url).connect().close()
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL at {admin_url} is not reachable: {str(exc).splitlines()[0]}")
    yield from _pg_database(admin_url)


@pytest.fixture
def engine(catalog_url):
    """An open, migrated catalog on either backend."""
    from loradex.registry.db import open_catalog

    eng = open_catalog(catalog_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sd1_pipe(zoo):
    """The tiny SD1 pipeline in fp32 (tests deep-copy it before loading LoRAs)."""
    from oracles import load_pipeline

    return load_pipeline(zoo["sd1-diffusers"].path)



@pytest.fixture(scope="session")
def sd1_ckpt(zoo: Zoo) -> Path:
    """The zoo's SD1 single file as LDM training saved it (a .ckpt with ``state_dict``)."""
    return zoo["sd1-ckpt"].path
