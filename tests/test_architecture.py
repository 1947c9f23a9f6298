"""The import rules of ARCHITECTURE.md ("Which way imports run"), checked over the import graph.

``cli``/``workers`` -> ``server`` -> ``protocols`` (http core -> its backends) and
-> ``adapters``, ``middleware`` -> ``observability``; never the other way, never across.

The graph is read with ``ast`` from every module under ``uvicorn/``: every ``import``
and ``from ... import`` statement, relative ones resolved, at any depth (imports inside
functions are runtime imports too). Imports under ``if TYPE_CHECKING:`` are kept in the
graph but marked *typing-only* and reported separately, because they never execute.

Decisions taken here, where the rules leave room:

* ``middleware``, ``adapters`` and ``observability`` may name
  ``uvicorn.server.protocols.context`` under ``TYPE_CHECKING`` only. That module holds
  ``ServerState``/``ServerContext``, the small value types the server hands to the
  layers (the concurrency admission reads ``ServerState``); importing it for annotations
  couples nothing at runtime. Any other protocol module is refused even for typing, and
  every runtime import of ``uvicorn.server`` from these packages is refused.
* Backends may import only their own core (``uvicorn.server.protocols.<kind>`` and
  below) and the ASGI type names of ``uvicorn._types``, for typing or at runtime.
* Supervisors and protocol cores must not name each other at all, not even for typing:
  processes and requests meet only in ``Server``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import uvicorn

PACKAGE_DIR = Path(uvicorn.__file__).resolve().parent


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    typing_only: bool

    def __str__(self) -> str:
        kind = "TYPE_CHECKING" if self.typing_only else "runtime"
        return f"{self.source}:{self.line} -> {self.target} ({kind})"


def module_names(root: Path) -> dict[str, Path]:
    """``{dotted name: file}`` for every module of the package rooted at ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING"
    return False


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: set[str], prefix: str) -> None:
        self.module = module
        self.is_package = is_package
        self.known = known
        self.prefix = prefix
        self.typing_depth = 0
        self.edges: list[Edge] = []

    def _add(self, target: str, node: ast.stmt) -> None:
        if target == self.prefix or target.startswith(self.prefix + "."):
            self.edges.append(Edge(self.module, target, node.lineno, self.typing_depth > 0))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.typing_depth += 1
            for child in node.body:
                self.visit(child)
            self.typing_depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.module.split(".")
            if not self.is_package:
                parts = parts[:-1]
            if node.level > 1:
                parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            self._add(candidate if candidate in self.known else base, node)


def import_graph(root: Path) -> list[Edge]:
    modules = module_names(root)
    known = set(modules)
    edges: list[Edge] = []
    for name, path in modules.items():
        collector = _ImportCollector(name, path.name == "__init__.py", known, root.name)
        collector.visit(ast.parse(path.read_text(), filename=str(path)))
        edges.extend(collector.edges)
    return edges


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def report(violations: list[Edge]) -> str:
    runtime = [str(edge) for edge in violations if not edge.typing_only]
    typing = [str(edge) for edge in violations if edge.typing_only]
    return (
        "runtime imports:\n  "
        + "\n  ".join(runtime or ["none"])
        + ("\nTYPE_CHECKING imports:\n  " + "\n  ".join(typing or ["none"]))
    )


@pytest.fixture(scope="module")
def graph() -> list[Edge]:
    return import_graph(PACKAGE_DIR)


# the walker itself ------------------------------------------------------------------------------


def test_walker_on_a_known_package(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("from .sub import leaf\n")
    (root / "other.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "leaf.py").write_text(
        "from __future__ import annotations\n"
        "import os\n"
        "import pkg.other\n"
        "from typing import TYPE_CHECKING\n"
        "from .. import other\n"
        "from . import leaf as me\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.sub import nothing_here\n"
        "else:\n"
        "    import pkg.sub\n"
        "def later():\n"
        "    from ..other import thing\n"
    )
    edges = {(e.source, e.target, e.typing_only) for e in import_graph(root)}
    assert edges == {
        ("pkg", "pkg.sub.leaf", False),
        ("pkg.sub.leaf", "pkg.other", False),
        ("pkg.sub.leaf", "pkg.sub.leaf", False),
        ("pkg.sub.leaf", "pkg.sub", True),
        ("pkg.sub.leaf", "pkg.sub", False),
    }
    lines = sorted(e.line for e in import_graph(root) if e.source == "pkg.sub.leaf")
    assert lines == [3, 5, 6, 8, 10, 12]


def test_graph_covers_the_package(graph: list[Edge]) -> None:
    sources = {edge.source for edge in graph}
    assert "uvicorn.server.server" in sources
    assert any(
        edge.source == "uvicorn.server.server" and within(edge.target, "uvicorn.server.protocols")
        for edge in graph
    ), "Server should be where requests (protocols) and processes meet"
    assert any(edge.typing_only for edge in graph)


# the rules --------------------------------------------------------------------------------------


def _backend_packages() -> list[tuple[str, str]]:
    """``(backends package, its own core)`` for each protocol kind that has backends."""
    found = []
    protocols = PACKAGE_DIR / "server" / "protocols"
    for backends in sorted(protocols.glob("*/backends")):
        kind = backends.parent.name
        core = f"uvicorn.server.protocols.{kind}"
        found.append((f"{core}.backends", core))
    return found


def test_backends_know_only_their_own_core(graph: list[Edge]) -> None:
    packages = _backend_packages()
    assert ("uvicorn.server.protocols.http.backends", "uvicorn.server.protocols.http") in packages
    violations = []
    for edge in graph:
        for backends, core in packages:
            if not within(edge.source, backends):
                continue
            if within(edge.target, core) or edge.target == "uvicorn._types":
                continue
            violations.append(edge)
    assert not violations, report(violations)


def test_backends_import_no_middleware_observability_or_server(graph: list[Edge]) -> None:
    forbidden = ("uvicorn.middleware", "uvicorn.observability", "uvicorn.adapters")
    violations = [
        edge
        for edge in graph
        if within(edge.source, "uvicorn.server.protocols.http.backends")
        and (
            any(within(edge.target, package) for package in forbidden)
            or (
                within(edge.target, "uvicorn.server")
                and not within(edge.target, "uvicorn.server.protocols.http")
            )
        )
    ]
    assert not violations, report(violations)


LAYERS = ("uvicorn.middleware", "uvicorn.adapters", "uvicorn.observability")


def test_layers_never_import_protocol_cores(graph: list[Edge]) -> None:
    violations = [
        edge
        for edge in graph
        if any(within(edge.source, layer) for layer in LAYERS)
        and within(edge.target, "uvicorn.server.protocols")
        and not (edge.typing_only and edge.target == "uvicorn.server.protocols.context")
    ]
    assert not violations, report(violations)


def test_layers_never_import_upwards_at_runtime(graph: list[Edge]) -> None:
    upward = ("uvicorn.server", "uvicorn.cli", "uvicorn.workers", "uvicorn.main")
    violations = [
        edge
        for edge in graph
        if any(within(edge.source, layer) for layer in LAYERS)
        and not edge.typing_only
        and any(within(edge.target, package) for package in upward)
    ]
    assert not violations, report(violations)


def test_observability_imports_no_middleware_or_adapters(graph: list[Edge]) -> None:
    violations = [
        edge
        for edge in graph
        if within(edge.source, "uvicorn.observability")
        and not edge.typing_only
        and (within(edge.target, "uvicorn.middleware") or within(edge.target, "uvicorn.adapters"))
    ]
    assert not violations, report(violations)


def test_supervisors_and_cores_never_meet(graph: list[Edge]) -> None:
    supervisors, protocols = "uvicorn.server.supervisors", "uvicorn.server.protocols"
    violations = [
        edge
        for edge in graph
        if (within(edge.source, supervisors) and within(edge.target, protocols))
        or (within(edge.source, protocols) and within(edge.target, supervisors))
    ]
    assert not violations, report(violations)


def test_protocols_never_import_upwards_or_across_at_runtime(graph: list[Edge]) -> None:
    """Protocol cores get what they need through ServerContext, composed by the server."""
    violations = [
        edge
        for edge in graph
        if within(edge.source, "uvicorn.server.protocols")
        and not edge.typing_only
        and (
            (
                within(edge.target, "uvicorn.server")
                and not within(edge.target, "uvicorn.server.protocols")
            )
            or any(within(edge.target, package) for package in (*LAYERS, "uvicorn.cli"))
        )
    ]
    assert not violations, report(violations)
