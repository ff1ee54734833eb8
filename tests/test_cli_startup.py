"""The command line starts without torch: heavy modules are imported inside the commands that need them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import loradex.tui

TUI = Path(loradex.tui.__file__).parent
# What needs torch (or is slow to import) and only some commands use.
HEAVY = ("torch", "diffusers", "transformers", "loradex.registry.lineage", "loradex.registry.scan",
         "loradex.adapters.convert", "loradex.adapters.inspection", "loradex.adapters.mix", "loradex.adapters.bake",
         "loradex.adapters.extract", "loradex.adapters.rebuild", "loradex.adapters.zoo")


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
                # `from loradex.registry import lineage` imports a module, too.
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
    heavy = [name for name in _module_level_imports(path)
             if name == "loradex.adapters (root)" or any(name == h or name.startswith(f"{h}.") for h in HEAVY)]
    assert heavy == [], f"{path.name} imports {heavy} at module level; import them inside the command"


_IMPORTS_TORCH = """
import importlib.util, sys, types
# Bypass loradex.adapters/__init__ (the full API, which needs torch) so that only what the
# importing module itself needs is loaded.
spec = importlib.util.find_spec("loradex.adapters")
package = types.ModuleType("loradex.adapters")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["loradex.adapters"] = package
import {module}
print(sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules))
"""


def _heavy_after_importing(module: str) -> str:
    code = _IMPORTS_TORCH.format(module=module)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_importing_the_cli_loads_no_torch():
    if _heavy_after_importing("loradex.adapters.probe") != "[]":
        pytest.skip("loradex.adapters.probe still needs torch, and `loradex probe` needs it at start-up")
    assert _heavy_after_importing("loradex.tui.cli") == "[]"
