"""Start-up cost: probing and the catalog's modules must not load torch, diffusers or transformers.

Every CLI call that probes or lists pays for what it imports, and importing torch alone costs
over a second; only building tensors (pickles, operations) needs it. Each test runs a fresh
interpreter, since this one imported torch long ago, and has it print which of those modules
it loaded; the check happens here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from loradex.adapters.model.architectures import BASES
from loradex.adapters.model.layermap import layer_map

HEAVY = ("torch", "diffusers", "transformers")


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (same environment, so the same layer-map cache);
    return what it printed last as JSON, plus the heavy modules it left in sys.modules."""
    script = (
        f"{code}\nimport json as _json, sys as _sys\n"
        f"print(_json.dumps({{'result': locals().get('result'), "
        f"'heavy': [m for m in {HEAVY!r} if m in _sys.modules]}}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.splitlines()[-1])


def warm_layer_map(base: str) -> None:
    # Building a family's map needs torch and diffusers on the meta device; only the cached
    # path, what every later process takes, must do without them.
    if base in BASES:
        layer_map(base)


@pytest.mark.parametrize(
    "name",
    [
        "sd1-kohya-lora",
        "sdxl-kohya-lora",
        "sd1-diffusers-lora",
        "sd1-kohya-locon",
        "sd1-lycoris-loha",
        "sdxl-ti",
        "sd2-ti-a1111",
        "sd1-single",
        "sdxl-single",
    ],
)
def test_probing_a_safetensors_artifact_loads_no_torch(zoo, name):
    item = zoo[name]
    warm_layer_map(item.base)
    child = loaded_after(
        f"from loradex.adapters.model.probe import probe\n"
        f"info = probe({str(item.path)!r})\nresult = [info.kind, info.base]"
    )
    assert child["result"] == [item.kind, item.base]
    assert child["heavy"] == []


def test_importing_probe_from_the_package_loads_no_torch():
    child = loaded_after("from loradex.adapters import probe\nresult = callable(probe)")
    assert child == {"result": True, "heavy": []}


def test_importing_the_error_classes_loads_no_torch():
    child = loaded_after("from loradex.adapters.errors import LoradexError\nresult = LoradexError.__name__")
    assert child == {"result": "LoradexError", "heavy": []}


def test_hashing_a_safetensors_file_loads_no_torch(zoo):
    path = zoo["sd1-kohya-lora"].path
    child = loaded_after(
        f"from loradex.adapters.io.hashing import hash_file\nresult = hash_file({str(path)!r}).tensor_hash is not None"
    )
    assert child == {"result": True, "heavy": []}


@pytest.mark.parametrize(
    "module",
    [
        "store.db",
        "store.models",
        "queries.orm",
        "queries.compat",
        "services.records",
        "services.scan",
        "services.discovery",
        "services.sidecars",
        "services.edits",
    ],
)
def test_importing_a_catalog_module_loads_no_torch(module):
    child = loaded_after(f"import loradex.registry.{module}")
    assert child["heavy"] == []


def test_the_scripting_api_is_one_import_per_package_and_costs_nothing_until_used():
    # The names a script needs, from the two packages, as the README shows them.
    child = loaded_after(
        "import loradex.adapters as a, loradex.registry as r, sys\n"
        "result = [sorted(a.__all__), sorted(r.__all__), 'sqlalchemy' in sys.modules]"
    )
    adapters_api, registry_api, database_loaded = child["result"]
    assert {"probe", "inspect", "convert", "mix", "resize", "bake", "extract", "rebuild", "Recipe", "run"} <= set(
        adapters_api
    )
    assert registry_api == ["find", "open_catalog", "publish", "pull", "scan"]
    assert child["heavy"] == [] and database_loaded is False


@pytest.mark.parametrize(
    ("package", "name", "module"),
    [
        ("adapters", "mix", "ops.mix"),
        ("adapters", "bake", "ops.bake"),
        ("adapters", "run", "ops.runner"),
        ("adapters", "Recipe", "ops.recipe"),
        ("registry", "open_catalog", "store.db"),
        ("registry", "scan", "services.scan"),
        ("registry", "publish", "hub.publish"),
    ],
)
def test_a_public_name_is_the_one_its_module_defines(package, name, module):
    import importlib

    exported = getattr(importlib.import_module(f"loradex.{package}"), name)
    assert exported is getattr(importlib.import_module(f"loradex.{package}.{module}"), name)


@pytest.mark.parametrize(
    "module",
    ["queries.reading", "queries.scanned", "services.discovery", "services.scan_plan", "services.edits"],
)
def test_the_plain_sqlite_paths_load_no_database_layer(module):
    # What `list`, `show`, `tag` and a rescan that finds nothing changed run on: SQLAlchemy,
    # SQLModel and pydantic cost those commands more than their work.
    child = loaded_after(
        f"import loradex.registry.{module}, sys\n"
        "result = sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pydantic', 'alembic') if m in sys.modules)"
    )
    assert child == {"result": [], "heavy": []}
