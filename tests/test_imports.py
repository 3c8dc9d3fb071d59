"""The import graph of webapp/: no module reaches itself again through its imports.

A static check of every import statement (at module level and inside
functions alike: an import moved into a function still ties the two modules
together). Importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`,
so those count as imported too. One kind of edge is left out: a module that
imports its own package (`from webapp.auth import bp` in `webapp/auth/routes.py`,
registered by the package's `__init__`) is the package's own wiring, Flask's
blueprint pattern, not a dependency between two parts.
"""
import ast
import os

from tests.servers import ROOT

PACKAGE = "webapp"


def module_files() -> dict[str, str]:
    """Every module of the package: dotted name -> file path."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(folder, file)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts.pop()
                modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: str, modules: dict[str, str]) -> set[str]:
    """The modules of ours that importing `name` imports, its own ancestor packages left out."""
    is_package = path.endswith("__init__.py")
    targets = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in modules else base)
    edges = set()
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):  # the package's __init__ runs before its module
            edges.add(".".join(parts[:end]))
    own_packages = {".".join(name.split(".")[:end]) for end in range(1, name.count(".") + 1)}
    return {edge for edge in edges if edge in modules and edge != name and edge not in own_packages}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import one another, directly or round about (Tarjan's strongly connected sets)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_of_webapp_imports_itself_back_through_others():
    modules = module_files()
    assert len(modules) > 40  # the walk found the package
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    assert cycles(graph) == []


def test_the_check_finds_a_cycle_hidden_in_a_function_and_one_through_a_package():
    graph = {"a.export": {"a.export_copy"}, "a.export_copy": {"a.export"}, "a.errors": {"a.intake"},
             "a.intake": {"a.errors"}, "a.intake.spool": {"a.intake"}, "a.alone": set()}
    assert cycles(graph) == [["a.errors", "a.intake"], ["a.export", "a.export_copy"]]


def test_no_module_of_the_webhook_passes_anything_through_flask_g():
    users = []
    for name, path in module_files().items():
        if not name.startswith(f"{PACKAGE}.intake"):
            continue
        for node in ast.walk(ast.parse(open(path).read(), path)):
            imports_g = isinstance(node, ast.ImportFrom) and node.module == "flask" and any(
                alias.name == "g" for alias in node.names)
            reads_g = isinstance(node, ast.Attribute) and node.attr == "g" and getattr(node.value, "id", "") == "flask"
            if imports_g or reads_g:
                users.append(f"{name}:{node.lineno}")
    assert len([name for name in module_files() if name.startswith(f"{PACKAGE}.intake.")]) >= 10
    assert users == []  # each step hands the next an IntakeOutcome instead
