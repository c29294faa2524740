"""Print the import cycles inside the posttrain package, read statically (ast); exit 1 when there is one.

    python scripts/import_cycles.py            # src/posttrain
    python scripts/import_cycles.py --deferred # also list cycles that go through imports inside functions
    python scripts/import_cycles.py --root DIR # the posttrain package under DIR instead of src/

A module-level cycle is one where every import is executed when its module is imported (top level,
or under ``try``/``if`` at top level; ``if TYPE_CHECKING:`` blocks do not run and do not count).
Imports inside functions run later and cannot deadlock an import, so they never fail this check;
``--deferred`` lists the cycles they close, which still show two modules that lean on each other.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "posttrain"


def module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """The package modules ``module`` imports at import time, and those it imports inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    top, deferred = set(), set()

    def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        else:
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = {f"{base}.{alias.name}" for alias in node.names}
            # `from pkg import submodule` inside pkg runs nothing of pkg's __init__ that is not already running
            if not (module.startswith(base + ".") and names <= modules.keys()):
                names.add(base)
        return {name for name in names if name in modules and name != module}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit(stmt, in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                (deferred if in_function else top).update(targets(child))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return top, deferred - top


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in sorted(graph.get(node, ())):
            if neighbour not in index:
                connect(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    members = set(component)
    edges = [f"  {a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return f"cycle of {len(component)} modules:\n" + "\n".join(edges)


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--root") + 1]) if "--root" in argv else ROOT
    modules = module_names(root)
    top, everything = {}, {}
    for name, path in modules.items():
        at_import, in_functions = imports(name, path, modules)
        top[name] = at_import
        everything[name] = at_import | in_functions
    module_level = cycles(top)
    for component in module_level:
        print(describe(component, top))
    print(f"{len(module_level)} module-level import cycle(s) in {len(modules)} modules")
    if "--deferred" in argv:
        deferred = [component for component in cycles(everything) if component not in module_level]
        for component in deferred:
            print("deferred " + describe(component, everything))
        print(f"{len(deferred)} cycle(s) closed only by imports inside functions")
    return 1 if module_level else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
