"""The catalog's use-cases that the CLI, the TUI and scripts share (``registry/services``) and the
questions the TUI asks (``registry/queries``): rescan, edit, forget and delete, quick-test and
record; usable checkpoints, an artifact's layers, the total. Real SQLite catalogs in tmp_path.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import select

from loradex.adapters.errors import ArtifactNotFoundError
from loradex.adapters.generate.grid import Grid, JobSize
from loradex.adapters.generate.records import FileRef, ImageRecord
from loradex.registry.errors import CatalogError, QueryError
from loradex.registry.queries import lookup, orm, table
from loradex.registry.queries.checkpoints import Checkpoint, usable
from loradex.registry.queries.layers import Layer, layers
from loradex.registry.services.edits import edit
from loradex.registry.services.forget import Forgotten, delete_file, forget
from loradex.registry.services.previews import quick_test
from loradex.registry.services.rescan import rescan
from loradex.registry.services.scan import scan
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.registry.store.models import Artifact, Preview
from tests.support.catalog_rows import add_artifact


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}", create=True)
    yield engine
    engine.dispose()


@pytest.fixture
def lib(zoo, tmp_path) -> Path:
    """A folder of two zoo LoRAs and the SD1 single-file checkpoint."""
    folder = tmp_path / "lib"
    folder.mkdir()
    for name in ("sd1-kohya-lora", "sd1-kohya-locon", "sd1-single"):
        shutil.copy2(zoo[name].path, folder / zoo[name].path.name)
    return folder


def row(engine, ref: str) -> Artifact:
    with open_session(engine) as session:
        return orm.resolve(session, ref)


# -- edit ---------------------------------------------------------------------------------


def test_edit_sets_exactly_the_given_tags_the_note_and_the_weight(sqlite_engine):
    with open_session(sqlite_engine) as session:
        artifact = add_artifact(session, "cat", notes="old")
        tags = edit(session, artifact, tags=["old"], note="", weight=None)
        tags = edit(session, artifact, tags=["Style", " cats ", "style", ""], note=" good at 0.7 ", weight=0.7)
        assert tags == ["cats", "style"] == lookup.tags_of(session, artifact)
    again = row(sqlite_engine, "cat")
    assert again.notes == "good at 0.7" and again.preferred_weight == 0.7


def test_edit_refuses_a_weight_that_is_not_finite_and_changes_nothing(sqlite_engine):
    with open_session(sqlite_engine) as session:
        artifact = add_artifact(session, "cat", notes="kept")
        with pytest.raises(QueryError):
            edit(session, artifact, tags=["new"], note="lost", weight=float("inf"))
        assert lookup.tags_of(session, artifact) == []
    assert row(sqlite_engine, "cat").notes == "kept"


# -- forget and delete -------------------------------------------------------------------


def test_forget_says_what_it_forgot_and_leaves_the_file(sqlite_engine, lib):
    scan([lib], engine=sqlite_engine)
    with open_session(sqlite_engine) as session:
        gone = forget(session, orm.resolve(session, "sd1-kohya-lora"))
        assert session.exec(select(Artifact).where(Artifact.name == "sd1-kohya-lora")).first() is None
    assert gone == Forgotten("sd1-kohya-lora", str(lib / "sd1-kohya-lora.safetensors"), False)
    assert Path(gone.path).is_file()


def test_delete_file_removes_a_folder_with_everything_in_it(tmp_path):
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "weights.safetensors").write_bytes(b"x")
    assert delete_file(str(folder)) == str(folder)
    assert not folder.exists()


def test_delete_file_removes_a_link_and_not_what_it_points_to(tmp_path):
    target = tmp_path / "real.safetensors"
    target.write_bytes(b"x")
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    delete_file(str(link))
    assert not link.is_symlink() and target.is_file()


def test_delete_file_of_a_file_already_gone_is_an_error_naming_it(tmp_path):
    with pytest.raises(ArtifactNotFoundError, match="already gone") as raised:
        delete_file(str(tmp_path / "gone.safetensors"))
    assert raised.value.path == tmp_path / "gone.safetensors"


# -- rescan ------------------------------------------------------------------------------


def test_rescan_scans_the_recorded_roots_again(sqlite_engine, lib):
    scan([lib], engine=sqlite_engine)
    shutil.copy2(lib / "sd1-kohya-lora.safetensors", lib / "copy.safetensors")
    done = rescan(sqlite_engine)
    assert done.roots == [str(lib)] and done.absent == []
    assert done.report.added == 1 and row(sqlite_engine, "copy").path == str(lib / "copy.safetensors")


def test_rescan_skips_an_absent_root_and_leaves_its_rows_as_they_were(sqlite_engine, lib, tmp_path):
    other = tmp_path / "drive"
    other.mkdir()
    shutil.copy2(lib / "sd1-kohya-locon.safetensors", other / "away.safetensors")
    scan([lib, other], engine=sqlite_engine)
    other.rename(tmp_path / "unplugged")
    done = rescan(sqlite_engine)
    assert done.roots == [str(lib)] and done.absent == [str(other)]
    with sqlite3.connect(tmp_path / "catalog.db") as conn:  # as stored: a read says "missing" while it is away
        stored = conn.execute("SELECT status FROM artifact WHERE name = 'away'").fetchone()[0]
    assert done.report.missing == 0 and stored == "ok"


def test_rescan_of_a_catalog_without_scan_roots_says_to_scan_a_folder_first(sqlite_engine):
    with pytest.raises(CatalogError, match="no scan roots"):
        rescan(sqlite_engine)


def test_rescan_when_no_root_is_present_is_an_error_naming_one(sqlite_engine, lib, tmp_path):
    scan([lib], engine=sqlite_engine)
    lib.rename(tmp_path / "elsewhere")
    with pytest.raises(CatalogError, match="none of the 1 scan roots is present"):
        rescan(sqlite_engine)


# -- quick-test and record ---------------------------------------------------------------


@dataclass
class _Base:
    family: str = "sd1"


@dataclass
class FakeBench:
    """Renders without a model: one image record per seed and scale, as Workbench.render returns
    them (the real render is tested in test_try_cli.py and test_tui_actions.py)."""

    out: Path
    base: _Base = field(default_factory=_Base)
    asked: dict = field(default_factory=dict)

    def render(self, adapters, *, seeds=(1,), scales=(1.0,), **options) -> Grid:
        self.asked = {"adapters": list(adapters), "seeds": seeds, "scales": scales, **options}
        refs = [FileRef(str(path), "ab" * 32, "lora", weight) for path, weight in adapters]
        images = []
        for seed in seeds:
            for scale in scales:
                path = self.out / f"{seed}-{scale}.png"
                path.write_bytes(b"png")
                images.append(
                    ImageRecord(
                        options.get("prompt") or "",
                        "",
                        seed,
                        2,
                        7.0,
                        32,
                        32,
                        {},
                        "euler",
                        "cpu",
                        scale,
                        "float32",
                        "StableDiffusionPipeline",
                        FileRef("/bases/tiny", "cd" * 32),
                        refs,
                        path=str(path),
                    )
                )
        return Grid(images, list(seeds), list(scales), JobSize(len(images), 2 * len(images)))


def test_quick_test_renders_then_records_each_image_as_a_preview_of_the_adapter(sqlite_engine, lib, tmp_path):
    scan([lib], engine=sqlite_engine)
    lora = str(lib / "sd1-kohya-lora.safetensors")
    bench = FakeBench(tmp_path)
    done = quick_test(bench, [(lora, 0.8)], engine=sqlite_engine, prompt="a cat", seeds=[1], scales=[0.0, 1.0])
    assert bench.asked["prompt"] == "a cat" and bench.asked["adapters"] == [(lora, 0.8)]
    assert done.recorded == 2 and len(done.grid.images) == 2
    with open_session(sqlite_engine) as session:
        previews = session.exec(select(Preview).order_by(Preview.scale)).all()
    lora_id = row(sqlite_engine, lora).id
    assert [(p.artifact_id, p.scale, p.base_family) for p in previews] == [(lora_id, 0.0, "sd1"), (lora_id, 1.0, "sd1")]


def test_quick_test_without_a_catalog_renders_and_records_nothing(tmp_path, lib):
    done = quick_test(FakeBench(tmp_path), [(str(lib / "sd1-kohya-lora.safetensors"), 1.0)], engine=None)
    assert done.recorded is None and len(done.grid.images) == 1


# -- what the TUI asks -------------------------------------------------------------------


def test_usable_checkpoints_are_the_ok_ones_by_name_with_their_effective_base(sqlite_engine):
    with open_session(sqlite_engine) as session:
        add_artifact(session, "zeta", kind="checkpoint", format="ldm_single_file", path="/m/zeta.safetensors")
        add_artifact(
            session, "alpha", kind="checkpoint", format="ldm_single_file", path="/m/alpha.safetensors",
            base="sd1", base_override="sdxl",
        )  # fmt: skip
        add_artifact(session, "gone", kind="checkpoint", format="ldm_single_file", status="missing")
        add_artifact(session, "a-lora")
        assert usable(session) == [
            Checkpoint("alpha", "/m/alpha.safetensors", "sdxl"),
            Checkpoint("zeta", "/m/zeta.safetensors", "sd1"),
        ]


def test_layers_are_an_adapters_module_rows_in_file_order(sqlite_engine, lib):
    scan([lib], engine=sqlite_engine)
    with open_session(sqlite_engine) as session:
        artifact = orm.resolve(session, "sd1-kohya-lora")
        found = layers(session, artifact.id)
        assert len(found) == artifact.layer_count and all(isinstance(layer, Layer) for layer in found)
        assert found[0].component in ("unet", "text_encoder") and found[0].rank == artifact.rank_max
        assert layers(session, orm.resolve(session, "tiny-sd1").id) == []  # a checkpoint has none


def test_total_counts_every_artifact(sqlite_engine, lib):
    scan([lib], engine=sqlite_engine)
    with open_session(sqlite_engine) as session:
        assert table.total(session) == 3
