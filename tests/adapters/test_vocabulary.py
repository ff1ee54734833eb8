"""The vocabulary's enums are the one list of each kind of value: what the catalog stores, what the
CLI offers and what the operations accept are members of them."""

from __future__ import annotations

import shutil

import pytest

from loradex.adapters.model.artifact import FAMILIES, KINDS
from loradex.adapters.ops.options import DTYPES, FORMATS
from loradex.adapters.vocabulary import Dtype, Family, Kind, Safety, Status, TargetFormat
from loradex.registry.queries.table import STATUSES
from tests.support.ops_cli import scanned


def test_the_option_tables_are_the_vocabulary():
    assert (KINDS, FAMILIES, STATUSES, FORMATS, tuple(DTYPES)) == (
        tuple(Kind),
        tuple(Family),
        tuple(Status),
        tuple(TargetFormat),
        tuple(Dtype),
    )


def test_a_member_is_its_string():
    assert Kind.LORA == "lora" and f"{Safety.PICKLE_REFUSED}" == "pickle-refused" and DTYPES["fp16"] == "F16"


@pytest.mark.parametrize("name", ["sd1-kohya-lora", "sdxl-kohya-lora", "sd1-lycoris-loha", "sdxl-ti", "sd1-single"])
def test_what_a_scan_records_is_in_the_vocabulary(zoo, tmp_path, name):
    folder = tmp_path / "lib"
    folder.mkdir()
    shutil.copy2(zoo[name].path, folder / zoo[name].path.name)
    row = scanned(folder, "1", tmp_path / "catalog.db")
    assert row.kind in set(Kind) and row.base in set(Family)
    assert row.safety in set(Safety) and row.status in set(Status)
