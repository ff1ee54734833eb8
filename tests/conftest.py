"""Shared fixtures. The Hub is never reached: everything runs from the local zoo."""

from __future__ import annotations

import io
import logging
import os
import shutil
from pathlib import Path

# First of all: the user's own folders are out of reach for the whole session (and its checks).
from tests.support.user_folders import pytest_sessionfinish  # noqa: F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Read once, when huggingface_hub is imported: the fake Hub (tests/support/fakehub.py) speaks plain HTTP + LFS, not Xet,
# and no test may phone home. HF_ENDPOINT stays unset: hub tests pass endpoint= (or set it in a child's env).
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# torch computes on one thread in every test and every command a test runs (children inherit it):
# the suite shares the machine, and results must not depend on how busy it is.
os.environ.setdefault("LORADEX_THREADS", "1")

import pytest  # noqa: E402

from loradex.adapters.zoo import Zoo, build_zoo  # noqa: E402
from tests.support.civitai_fixtures import fake_civitai  # noqa: E402, F401  (the fake Civitai fixture)
from tests.support.hub_fixtures import fake_hub  # noqa: E402, F401  (the fake Hugging Face Hub fixture)
from tests.support.ops_cli import cli  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def torch_threads_pinned() -> None:
    """torch's own code that a test runs beside loradex's (a peer's pipeline, an oracle) on the count
    loradex's operations choose ($LORADEX_THREADS above): on a busy core a second OpenMP thread
    made a 0.2 s tiny render take 5 s."""
    import torch

    from loradex.adapters.threads import choose_threads

    torch.set_num_threads(choose_threads())


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
    parser.addoption(
        "--pg-url",
        default=os.environ.get("LORADEX_TEST_PG_URL"),
        help="PostgreSQL server URL (a database on it is created per test)",
    )


def _pg_unavailable(config: pytest.Config) -> str | None:
    """Why the catalog tests cannot also run on PostgreSQL, or None when the server answers."""
    admin_url = config.getoption("--pg-url")
    if not admin_url:
        return "no server given (--pg-url or LORADEX_TEST_PG_URL; .ci/run starts one)"
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    try:
        create_engine(admin_url).connect().close()
    except OperationalError as exc:
        return f"{admin_url} is not reachable: {str(exc).splitlines()[0]}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a server, the PostgreSQL runs of the catalog tests are left out, and said so once."""
    if not any(_runs_on_postgresql(item) for item in items) or (reason := _pg_unavailable(config)) is None:
        return
    left_out = [item for item in items if _runs_on_postgresql(item)]
    items[:] = [item for item in items if not _runs_on_postgresql(item)]
    config.hook.pytest_deselected(items=left_out)
    config.stash[_PG_LEFT_OUT] = f"{len(left_out)} catalog tests ran on SQLite only, not PostgreSQL: {reason}"


def _runs_on_postgresql(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("catalog_url") == "postgresql"


_PG_LEFT_OUT = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if note := config.stash.get(_PG_LEFT_OUT, None):
        terminalreporter.write_line(note, yellow=True)


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
    """URL of an empty catalog: a SQLite file, or a new database on the PostgreSQL server (whose
    runs are left out at collection when there is none)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    yield from _pg_database(request.config.getoption("--pg-url"))


@pytest.fixture
def engine(catalog_url):
    """An open, migrated catalog on either backend."""
    from loradex.registry.store.db import open_catalog

    eng = open_catalog(catalog_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sd1_pipe(zoo):
    """The tiny SD1 pipeline in fp32 (tests deep-copy it before loading LoRAs)."""
    from tests.support.oracles import load_pipeline

    return load_pipeline(zoo["sd1-diffusers"].path)


@pytest.fixture(scope="session")
def sd1_ckpt(zoo: Zoo) -> Path:
    """The zoo's SD1 single file as LDM training saved it (a .ckpt with ``state_dict``)."""
    return zoo["sd1-ckpt"].path


@pytest.fixture(scope="session")
def sd1_unet_only(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zoo's SD1 single file cut to its UNet (``model.diffusion_model.``), as a UNet-only
    download ships: a file without text encoders."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("unet-only") / "sd1-unet-only.safetensors"
    with safe_open(zoo["sd1-single"].path, "pt") as f:
        save_file({k: f.get_tensor(k) for k in f.keys() if k.startswith("model.diffusion_model.")}, path)
    return path


@pytest.fixture(autouse=True)
def no_default_catalog(tmp_path, monkeypatch):
    """Each test starts without a default catalog (its own data folder under tmp_path); the
    session-wide redirect of the user's folders (user_folders.py) is already in place."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


# ---------------------------------------------------------------------------------------
# The operation CLI tests (test_ops_cli*.py)


@pytest.fixture(scope="module")
def files(zoo, tmp_path_factory) -> dict[str, Path]:
    """Copies of the zoo files the tests use (the catalog tests scan this folder), and one
    CLI bake of the SD1 LoRA into the SD1 single file, shared by the bake/rebuild/extract tests."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("ops")
    lib = root / "lib"
    lib.mkdir()
    made = {}
    for key, name in [
        ("lora", "sd1-kohya-lora"),
        ("locon", "sd1-kohya-locon"),
        ("sdxl", "sdxl-kohya-lora"),
        ("base", "sd1-single"),
    ]:
        made[key] = Path(shutil.copy2(zoo[name].path, lib / zoo[name].path.name))
    # A LoRA with one layer that matches nothing in an SD1 base.
    tensors = load_file(made["lora"])
    with safe_open(made["lora"], "pt") as f:
        metadata = f.metadata()
    stem = "lora_unet_made_up_block_proj"
    made["partial"] = root / "partial.safetensors"
    save_file(
        {
            **tensors,
            f"{stem}.lora_down.weight": torch.zeros(4, 8, dtype=torch.float16),
            f"{stem}.lora_up.weight": torch.zeros(8, 4, dtype=torch.float16),
            f"{stem}.alpha": torch.tensor(4.0, dtype=torch.float16),
        },
        made["partial"],
        metadata,
    )
    # A LoRA on a few layers only: extract runs one SVD per changed layer of the checkpoint.
    made["small"] = root / "small.safetensors"
    save_file(
        {k: v for k, v in tensors.items() if "attn2_to_k" in k or "layers_0_self_attn_q_proj" in k},
        made["small"],
        metadata,
    )
    made["baked"] = root / "baked.safetensors"
    made["bake_json"] = root / "bake.json"
    result = cli("bake", "--base", made["base"], f"{made['small']}:0.8", "-o", made["baked"], "--json")
    assert result.exit_code == 0, result.output
    made["bake_json"].write_text(result.stdout)
    return made


# ---------------------------------------------------------------------------------------
# Without a catalog


@pytest.fixture
def catalog(catalog_url, files):
    """A catalog holding the scanned copies of the zoo files."""
    result = cli("scan", files["lora"].parent, catalog=catalog_url)
    assert result.exit_code == 0, result.output
    return catalog_url


@pytest.fixture(autouse=True)
def notifications_kept(monkeypatch):
    """Every notification a Textual app posts, kept past its time on screen (``app.posted``): on a
    loaded machine a test may look for the second one after the first has expired."""
    from textual.app import App

    post = App.notify

    def notify(self, message, *args, **kwargs):
        vars(self).setdefault("posted", []).append((str(message), kwargs.get("severity", "information")))
        return post(self, message, *args, **kwargs)

    monkeypatch.setattr(App, "notify", notify)
