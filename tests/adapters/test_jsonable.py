"""The one JSON encoder (loradex.adapters.jsonable): reports, rows and views as plain JSON values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

from loradex.adapters.jsonable import jsonable
from loradex.adapters.ops.recipe_sources import given
from loradex.adapters.vocabulary import Kind


class Pair(NamedTuple):
    name: str
    count: int


@dataclass
class Inner:
    path: Path
    kind: Kind


@dataclass
class Report:
    inner: Inner
    pairs: list[Pair] = field(default_factory=list)
    by_name: dict[Path, float] = field(default_factory=dict)
    json_computed: ClassVar = ("total",)

    @property
    def total(self) -> int:
        return sum(p.count for p in self.pairs)


def test_a_dataclass_is_its_fields_recursively_with_the_properties_it_names():
    report = Report(Inner(Path("/a/b.safetensors"), Kind.LORA), [Pair("x", 2)], {Path("k"): 0.5})
    assert jsonable(report) == {
        "inner": {"path": "/a/b.safetensors", "kind": "lora"},
        "pairs": [["x", 2]],
        "by_name": {"k": 0.5},
        "total": 2,
    }


def test_the_result_is_plain_json():
    report = Report(Inner(Path("p"), Kind.CHECKPOINT), [Pair("y", 1)])
    assert json.loads(json.dumps(jsonable(report))) == jsonable(report)


def test_a_recipe_is_its_embedded_layout_not_its_fields():
    recipe = given("mix", [("a.safetensors", 0.5)], method="svd", rank=4)
    assert jsonable(recipe) == json.loads(recipe.to_json())
    assert set(jsonable(recipe)) == {"op", "params", "format", "loradex_version", "inputs"}
