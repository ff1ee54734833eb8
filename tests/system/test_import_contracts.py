"""The floor plan holds: import-linter's contracts in pyproject.toml (packages and floors import
only downward; adapters and registry never import a front end's libraries) are all kept, and no
module imports itself round a circle, even inside one floor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_of_the_floor_plan_is_kept():
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " 0 broken" in run.stdout


def import_cycles() -> list[list[str]]:
    """Each set of loradex modules that import one another in a circle (Tarjan's strongly connected
    components over grimp's graph, the one import-linter builds; imports under TYPE_CHECKING count)."""
    graph = grimp.build_graph("loradex.adapters", "loradex.registry", "loradex.tui")
    ours = sorted(m for m in graph.modules if m.startswith("loradex."))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in ours:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in ours:
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_round_a_circle():
    assert import_cycles() == []
