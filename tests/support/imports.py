"""The project files a module runs when imported: its import closure, read from the code (AST).

Importing `a.b.c` runs a/__init__.py, a/b/__init__.py and a/b/c.py. Imports under
`if TYPE_CHECKING:` never run. `from mlp import NAME` runs the module mlp.HOMES names for it
(mlp imports its public names on first use); a bare `import mlp` may reach any of them.
`importlib.import_module("a.b")` with a literal name counts as an import (a deferred one).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from tests.support import PROJECT

PACKAGES = ("mlp", "stages", "tools")


def module_file(module: str) -> str | None:
    """The project file of `module` (a module file or a package's __init__.py), or None."""
    path = Path(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if (PROJECT / candidate).is_file():
            return candidate.as_posix()
    return None


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:`."""
    nodes, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack += node.orelse
            continue
        nodes.append(node)
        stack += ast.iter_child_nodes(node)
    return nodes


def imported_modules(path: Path) -> set[str]:
    """Project modules the file at `path` imports when it runs (parent packages included)."""
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name)
                names |= {f"{alias.name}.{home}" for home in _homes(alias.name).values()}
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "importlib.import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            homes = _homes(node.module)
            names |= {f"{node.module}.{homes.get(alias.name, alias.name)}" for alias in node.names}
    with_parents = {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 2)}
    return {name for name in with_parents if name.split(".")[0] in PACKAGES and module_file(name)}


def _homes(package: str) -> dict[str, str]:
    """A lazily importing package's name -> submodule table (mlp.HOMES), else {}."""
    if package.split(".")[0] not in PACKAGES or module_file(package) is None:
        return {}
    return dict(getattr(importlib.import_module(package), "HOMES", {}))


def import_closure(*modules: str) -> set[str]:
    """Every project file that running `modules` imports, directly or not, as paths from the root."""
    files: set[str] = set()
    todo = [name for module in modules for name in imported_modules_of_name(module)]
    while todo:
        path = module_file(todo.pop())
        if path is None or path in files:
            continue
        files.add(path)
        todo += imported_modules(PROJECT / path)
    return files


def imported_modules_of_name(module: str) -> list[str]:
    """`module` and its parent packages, which `python -m module` runs first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
