"""The command line starts without torch; the catalog commands (``list``, ``show``, ``check``, ``tag``)
and a rescan that finds nothing changed without SQLAlchemy, SQLModel or pydantic; ``--help`` without
Rich or any output module: heavy modules are imported inside the commands that need them."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import loradex.tui

TUI = Path(loradex.tui.__file__).parent
# What needs torch (or is slow to import) and only some commands use.
HEAVY = (
    "torch",
    "diffusers",
    "transformers",
    "gguf",
    "loradex.registry.services.runner",
    "loradex.registry.services.scan",
    "loradex.adapters.ops.convert",
    "loradex.adapters.ops.inspection",
    "loradex.adapters.ops.mix",
    "loradex.adapters.ops.bake",
    "loradex.adapters.ops.extract",
    "loradex.adapters.ops.rebuild",
    "loradex.adapters.zoo",
)


def _module_level_imports(path: Path) -> list[str]:
    """Modules a file imports when it is imported (not inside functions or TYPE_CHECKING)."""
    names = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "loradex.adapters":  # the package's whole public API
                    names.append("loradex.adapters (root)")
                # `from loradex.registry.services import runner` imports a module, too.
                names.extend([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
            elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(ast.parse(path.read_text()).body)
    return names


FRONT_END = sorted([*TUI.glob("cli/*.py"), *TUI.glob("output*.py"), *TUI.glob("output/*.py")])


@pytest.mark.parametrize("path", FRONT_END, ids=lambda p: str(p.relative_to(TUI)))
def test_a_cli_module_imports_nothing_heavy_at_module_level(path):
    heavy = [
        name
        for name in _module_level_imports(path)
        if name == "loradex.adapters (root)" or any(name == h or name.startswith(f"{h}.") for h in HEAVY)
    ]
    assert heavy == [], f"{path.name} imports {heavy} at module level; import them inside the command"


_RUN_CLI = """
import sys
sys.argv = ["loradex", *sys.argv[1:]]
from loradex.tui.cli import main
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print("HEAVY", sorted(m for m in ("torch", "diffusers", "transformers", "gguf", "sqlalchemy", "sqlmodel", "alembic",
                                   "pydantic", "rich", "loradex.tui.output", "loradex.registry.services.scan",
                                   "loradex.adapters.io.reader", "loradex.adapters.model.probe", "rich.table",
                                   "rich._emoji_codes", "loradex.registry.queries.scanned",
                                   "loradex.adapters.model.architectures", "loradex.registry.queries.compat",
                                   "loradex.registry.queries.views")
                     if m in sys.modules))
"""
#: What the catalog commands leave to others: Rich's emoji codes (names and metadata print as
#: written), the scan's queries (``dupes``', a scan's), the architectures' tables (``inspect``'s).
ELSEWHERE = {"rich._emoji_codes", "loradex.registry.queries.scanned", "loradex.adapters.model.architectures"}
#: The database layer: SQLAlchemy and SQLModel alone took ~0.8 s to import, longer than the rest of `list`.
DATABASE = {"sqlalchemy", "sqlmodel", "alembic", "pydantic"}


@pytest.fixture(scope="module")
def catalogued(zoo, tmp_path_factory):
    """A catalog holding copies of the zoo's SD1 kohya LoRA and SD1 checkpoint; the
    layer-map cache is warm, as after any earlier run."""
    from loradex.adapters.model.layermap import layer_map

    layer_map("sd1")
    root = tmp_path_factory.mktemp("startup")
    lora = Path(shutil.copy2(zoo["sd1-kohya-lora"].path, root / "style.safetensors"))
    shutil.copy2(zoo["sd1-single"].path, root / "sd1-base.safetensors")
    catalog = root / "catalog.db"
    _cli("--catalog", catalog, "scan", root)
    return lora, catalog


def _cli(*args) -> list[str]:
    """Run ``loradex ARGS`` in a fresh interpreter; the heavy modules (torch's and the database
    layer's) it had loaded at the end."""
    run = subprocess.run(
        [sys.executable, "-c", _RUN_CLI, *map(str, args)],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    assert run.returncode == 0, run.stderr
    return eval(run.stdout.rsplit("HEAVY ", 1)[1])


@pytest.mark.parametrize(
    "command",
    [
        ("--help",),
        ("probe", "{lora}"),
        ("list",),
        ("show", "style"),
        ("check", "style", "--base", "sd1-base"),
        ("tag", "style", "+fast"),
        ("note", "style", "quick"),
    ],
    ids=lambda c: " ".join(c),
)
def test_a_command_that_does_no_tensor_math_never_imports_torch(catalogued, command):
    lora, catalog = catalogued
    loaded = _cli("--catalog", catalog, *(part.format(lora=lora) for part in command))
    assert not {"torch", "diffusers", "transformers"} & set(loaded)


@pytest.mark.parametrize(
    "command",
    [
        ("--help",),
        ("list",),
        ("list", "--json"),
        ("list", "--fits", "sd1-base"),
        ("show", "style"),
        ("show", "style", "--json"),
        ("check", "style", "--base", "sd1-base"),
        ("dupes",),
    ],
    ids=lambda c: " ".join(c),
)
def test_a_command_that_only_reads_a_sqlite_catalog_never_imports_the_database_layer(catalogued, command):
    _, catalog = catalogued
    assert not DATABASE & set(_cli("--catalog", catalog, *command))


@pytest.mark.parametrize(
    "command", [("list",), ("show", "style"), ("check", "style", "--base", "sd1-base")], ids=" ".join
)
def test_a_command_that_reads_only_the_catalog_imports_no_weights_reader(catalogued, command):
    _, catalog = catalogued
    assert "loradex.adapters.io.reader" not in _cli("--catalog", catalog, *command)


@pytest.mark.parametrize("command", [("tag", "style", "+fast", "-slow"), ("tag", "style")], ids=" ".join)
def test_tagging_in_a_sqlite_catalog_never_imports_the_database_layer(catalogued, command):
    _, catalog = catalogued
    assert not DATABASE & set(_cli("--catalog", catalog, *command))


@pytest.mark.parametrize(
    "command", [("list",), ("check", "style", "--base", "sd1-base"), ("tag", "style", "+fast")], ids=" ".join
)
def test_a_catalog_command_that_draws_no_table_never_imports_rich_s_table(catalogued, command):
    _, catalog = catalogued
    assert "rich.table" not in _cli("--catalog", catalog, *command)


@pytest.mark.parametrize(
    "command",
    [("list",), ("show", "style"), ("check", "style", "--base", "sd1-base"), ("tag", "style", "+fast")],
    ids=" ".join,
)
def test_a_catalog_command_imports_nothing_only_other_commands_use(catalogued, command):
    _, catalog = catalogued
    assert not ELSEWHERE & set(_cli("--catalog", catalog, *command))


@pytest.mark.parametrize("command", [("list",), ("show", "style"), ("tag", "style", "+fast")], ids=" ".join)
def test_a_catalog_command_that_fits_nothing_to_a_base_never_imports_the_compatibility_queries(catalogued, command):
    _, catalog = catalogued
    assert "loradex.registry.queries.compat" not in _cli("--catalog", catalog, *command)


@pytest.mark.parametrize("command", [("check", "style", "--base", "sd1-base"), ("tag", "style", "+fast")], ids=" ".join)
def test_a_catalog_command_that_lists_and_shows_nothing_never_imports_the_views(catalogued, command):
    _, catalog = catalogued
    assert "loradex.registry.queries.views" not in _cli("--catalog", catalog, *command)


def test_help_imports_no_output_module_nor_rich(catalogued):
    _, catalog = catalogued
    assert not {"rich", "loradex.tui.output"} & set(_cli("--catalog", catalog, "--help"))


def test_a_rescan_that_finds_nothing_changed_imports_neither_the_scan_nor_the_database_layer(catalogued):
    lora, catalog = catalogued
    loaded = set(_cli("--catalog", catalog, "scan", lora.parent))
    assert not (DATABASE | {"torch", "loradex.registry.services.scan", "loradex.adapters.model.probe"}) & loaded


def test_the_console_script_freezes_what_the_cli_s_imports_made_and_collects_what_a_command_makes():
    code = (
        "import gc, sys\n"
        "sys.argv = ['loradex', '--help']\n"
        "from loradex.tui.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    print(gc.isenabled(), gc.get_freeze_count())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    enabled, frozen = run.stdout.split()[-2:]
    assert enabled == "True" and int(frozen) > 10_000  # the CLI's modules, classes and functions
