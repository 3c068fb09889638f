"""The layering of the code: what each package may import, read from the source itself.

``verifier`` is the standalone library a partner city installs: it imports nothing from
``service``. Inside ``service`` each package (or top-level module) may import only the ones
below it in ``MAY_IMPORT``; ``cli``, ``app``, ``api`` and ``web`` are the top, and no domain
package imports them. A new package must be placed in the table before it can land. Every
import counts, also one inside a function or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FOUNDATION = frozenset({"service.config", "service.clock", "service.storage"})
DOMAIN_ORDER = (  # each may import those before it
    "service.audit",
    "service.issuing",
    "service.lifecycle",
    "service.wallet",
    "service.anchoring",
    "service.trust",
)
DOMAIN = frozenset(DOMAIN_ORDER)
SIDEWAYS = {  # domain packages of the same height that must not import each other
    "service.lifecycle": frozenset({"service.wallet"}),
    "service.wallet": frozenset({"service.lifecycle"}),
}


def _domain_allowed(package: str) -> frozenset[str]:
    below = DOMAIN_ORDER[: DOMAIN_ORDER.index(package)]
    return FOUNDATION | (frozenset(below) - SIDEWAYS.get(package, frozenset()))


MAY_IMPORT: dict[str, frozenset[str]] = {
    "service": frozenset(),
    "service.clock": frozenset(),
    "service.config": frozenset(),
    "service.storage": frozenset({"service.config", "service.clock"}),
    **{package: _domain_allowed(package) for package in DOMAIN_ORDER},
    "service.runtime": FOUNDATION | DOMAIN,
    "service.api": FOUNDATION | DOMAIN | {"service.runtime"},
    "service.web": FOUNDATION | DOMAIN | {"service.runtime", "service.api"},
    "service.app": FOUNDATION | DOMAIN | {"service.runtime", "service.api", "service.web"},
    "service.cli": FOUNDATION | DOMAIN | {"service.runtime", "service.app"},
}
TOP = frozenset({"service.cli", "service.app", "service.api", "service.web"})


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    base = ROOT / package
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every module an import in ``path`` names, with its line (``from a import b`` names
    ``a.b`` as well, since ``b`` may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno


def unit_of(module: str) -> str | None:
    """The layering unit of a ``service`` module: its subpackage, or the top-level module."""
    parts = module.split(".")
    if parts[0] != "service":
        return None
    if len(parts) == 1:
        return "service"
    return f"service.{parts[1]}"


def service_edges(root: Path = ROOT) -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) → where (file:line) for every cross-unit import in ``service``."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, path in _modules("service"):
        source = unit_of(name)
        assert source is not None
        for target_module, line in _imports(path):
            target = unit_of(target_module)
            if target is None or target == source or target == "service":
                continue
            if (ROOT / Path(*target.split("."))).exists() or (
                ROOT / (Path(*target.split(".")).as_posix() + ".py")
            ).exists():
                edges.setdefault((source, target), []).append(f"{path.relative_to(root)}:{line}")
    return edges


def layering_violations(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    """Every edge that ``MAY_IMPORT`` does not allow, and every unit it does not place."""
    problems = []
    units = {source for source, _ in edges} | {target for _, target in edges}
    for unit in sorted(units - MAY_IMPORT.keys()):
        problems.append(f"{unit} is not placed in MAY_IMPORT (tests/test_layering.py)")
    for (source, target), where in sorted(edges.items()):
        if source in MAY_IMPORT and target not in MAY_IMPORT[source]:
            problems.append(f"{source} must not import {target}: {', '.join(where)}")
    return problems


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (import cycles between packages)."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_verifier_imports_nothing_from_the_service() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for _, path in _modules("verifier")
        for module, line in _imports(path)
        if module == "service" or module.startswith("service.")
    ]
    assert not offenders, "\n".join(offenders)


def test_every_service_import_follows_the_layers() -> None:
    problems = layering_violations(service_edges())
    assert not problems, "\n".join(problems)


def test_no_import_cycle_between_service_packages() -> None:
    found = cycles(service_edges())
    assert not found, "\n".join(" ↔ ".join(group) for group in found)


def test_no_domain_package_imports_the_top() -> None:
    edges = service_edges()
    upward = [
        f"{source} imports {target}"
        for source, target in edges
        if source not in TOP and source != "service.runtime" and target in TOP
    ]
    assert not upward, "\n".join(upward)


def test_only_the_cli_parses_arguments() -> None:
    parsing = sorted(
        f"{path.relative_to(ROOT)}:{line}"
        for name, path in _modules("service")
        if unit_of(name) != "service.cli"
        for module, line in _imports(path)
        if module == "argparse" or module.startswith("argparse.")
    )
    assert not parsing, "argparse outside service/cli: " + ", ".join(parsing)


def test_every_service_package_says_what_it_owns_and_may_import() -> None:
    for init in sorted((ROOT / "service").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "May import" in doc or "may import" in doc, init.relative_to(ROOT)


# ---------------------------------------------------------------------- the checks can fail


@pytest.mark.parametrize(
    ("edge", "expected"),
    [
        (("service.issuing", "service.cli"), "service.issuing must not import service.cli"),
        (("service.audit", "service.issuing"), "service.audit must not import service.issuing"),
        (("service.lifecycle", "service.wallet"), "must not import service.wallet"),
        (("service.api", "service.web"), "service.api must not import service.web"),
        (("service.ledger", "service.storage"), "service.ledger is not placed"),
    ],
)
def test_a_forbidden_edge_is_named(edge: tuple[str, str], expected: str) -> None:
    problems = layering_violations({edge: ["somewhere.py:1"]})
    assert any(expected in p for p in problems), problems


def test_a_cycle_is_found() -> None:
    edges = {
        ("service.issuing", "service.audit"): ["a.py:1"],
        ("service.audit", "service.issuing"): ["b.py:1"],
        ("service.trust", "service.issuing"): ["c.py:1"],
    }
    assert cycles(edges) == [["service.audit", "service.issuing"]]
