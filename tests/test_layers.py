"""The import layers of the product, checked on its import graph (grimp).

The graph holds every import grimp finds in the source: at module level, inside functions and under
``if TYPE_CHECKING:``. A type-only import is still a dependency of the design, and an import inside a
function still runs; neither is a way around a rule.

Rules:

- the core (``workbench``) imports none of its front doors: ``server``, ``kernel_ext``, ``launch``;
- the block contract (``workbench.block``) and the block library (``blocks``) import nothing from the
  engine, the services, the store or the server: a block sees the platform only through its
  ``RunContext`` (``workbench.block.context``);
- no module-level import cycle (A imports B imports ... A).

Package ``__init__`` modules count like any other module. ``workbench/__init__.py`` loads its public
names lazily, but names them under ``if TYPE_CHECKING:`` for type checkers, so the graph has an edge from
the package root to each module it re-exports, as it has at run time once a name is used. A module
inside ``workbench`` therefore imports the submodule it needs (``from workbench.config import
Settings``), never the package root (``import workbench``), or it closes a cycle through the root.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(
    name
    for name in ("workbench", "blocks", "server", "kernel_ext", "launch")
    if (ROOT / name / "__init__.py").is_file()
)
"""Our top-level packages (``launch`` once it exists)."""
FRONT_DOORS = ("server", "kernel_ext", "launch")
BLOCK_LAYER = ("workbench.block", "blocks")
BELOW_BLOCKS_FORBIDDEN = ("workbench.engine", "workbench.services", "workbench.store", "server")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """The import graph of our packages, type-checking imports included, without third-party ones."""
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False, cache_dir=None)


def _within(module: str, packages: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``packages`` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def _where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    """``importer -> imported`` with the line(s) that import it."""
    details = graph.get_import_details(importer=importer, imported=imported)
    lines = "; ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)
    return f"{importer} -> {imported} ({lines})"


def _imports_between(
    graph: grimp.ImportGraph, importers: Iterable[str], imported: Iterable[str]
) -> list[str]:
    """Each direct import from a module in ``importers`` of one in ``imported``, located."""
    importers, imported = tuple(importers), tuple(imported)
    return [
        _where(graph, module, target)
        for module in sorted(graph.modules)
        if _within(module, importers)
        for target in sorted(graph.find_modules_directly_imported_by(module))
        if _within(target, imported)
    ]


def _strongly_connected(graph: grimp.ImportGraph) -> Iterator[set[str]]:
    """The strongly connected components of the import graph (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[module] = min(low[module], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == module:
                            break
                    yield component


def _shortest_cycle(graph: grimp.ImportGraph, component: set[str]) -> list[str]:
    """One shortest cycle through the first module (by name) of a strongly connected component."""
    start = min(component)
    best: tuple[str, ...] | None = None
    for nxt in graph.find_modules_directly_imported_by(start) & component:
        back = graph.find_shortest_chain(importer=nxt, imported=start)
        if back is not None and (best is None or len(back) < len(best)):
            best = back
    assert best is not None, f"{start} is in a strongly connected component but on no cycle"
    return [start, *best]


def test_all_our_packages_are_in_the_graph(graph: grimp.ImportGraph) -> None:
    assert {"workbench", "blocks", "server", "kernel_ext"} <= set(PACKAGES)
    assert {"workbench.block.context", "workbench.engine.run", "blocks.ai_agent"} <= graph.modules


def test_the_core_imports_no_front_door(graph: grimp.ImportGraph) -> None:
    found = _imports_between(graph, ["workbench"], FRONT_DOORS)
    assert not found, "the core package imports a front door:\n" + "\n".join(found)


def test_blocks_see_the_platform_only_through_their_context(graph: grimp.ImportGraph) -> None:
    found = _imports_between(graph, BLOCK_LAYER, BELOW_BLOCKS_FORBIDDEN)
    assert not found, "the block contract or a block imports the engine, services, store or server:\n" + (
        "\n".join(found)
    )


def test_no_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles = []
    for component in _strongly_connected(graph):
        if len(component) > 1:
            chain = _shortest_cycle(graph, component)
            steps = "\n    ".join(_where(graph, a, b) for a, b in pairwise(chain))
            cycles.append(
                f"{' -> '.join(chain)}\n    {steps}\n    (component of {len(component)}: "
                f"{', '.join(sorted(component))})"
            )
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(cycles)


def test_the_cycle_finder_reports_a_chain() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(module)
    for importer, imported in (
        ("pkg.a", "pkg.b"),
        ("pkg.b", "pkg.c"),
        ("pkg.c", "pkg.a"),
        ("pkg.c", "pkg.d"),
    ):
        graph.add_import(
            importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}"
        )
    components = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert components == [{"pkg.a", "pkg.b", "pkg.c"}]
    assert _shortest_cycle(graph, components[0]) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
