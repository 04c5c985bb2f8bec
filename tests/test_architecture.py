"""The shape of the package: no import cycle, one composition root, modules of a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import depbot

# the package under test: the source tree, or the installed wheel when the suite runs against it
PACKAGE = Path(depbot.__file__).resolve().parent
MAX_LINES = 420


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every depbot module ``path`` imports, anywhere in the file (type-only imports too)."""
    found: set[str] = set()
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                )
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name in MODULES}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for child in sorted(GRAPH[node]):
            # a package's __init__ importing its own submodules is how packages are built
            if node == child.rpartition(".")[0] or child == node.rpartition(".")[0]:
                continue
            if state.get(child) == 1:
                return [*stack[stack.index(child) :], child]
            if child not in state and (found := visit(child)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    assert _cycle() is None


def test_the_graph_sees_imports_inside_functions_and_type_checking_blocks() -> None:
    # the check above would be vacuous if the parser missed these
    assert "depbot.pipeline" in GRAPH["depbot.app"]
    assert "depbot.forge.local" in GRAPH["depbot.app"]  # imported inside a function
    assert "depbot.terminal" in GRAPH["depbot.demo"]  # imported under TYPE_CHECKING


def test_only_the_cli_imports_the_cli() -> None:
    importers = sorted(name for name, deps in GRAPH.items() if "depbot.cli" in deps)
    assert importers == ["depbot.__main__"]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_alone_in_a_fresh_interpreter(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_size_a_reader_holds(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]}: {lines} lines"
