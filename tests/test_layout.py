"""The shape of the tree: stages/ shows dvc.yaml's stages, mlp/ stays a plain library, no import cycles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support import PROJECT
from tests.support import yaml12 as yaml

PACKAGES = ("mlp", "stages", "tools")
# What mlp may import besides NumPy and itself: no YAML, command line or pipeline modules.
LIBRARY_STANDARD_MODULES = {
    "__future__", "collections", "contextlib", "dataclasses", "errno", "functools", "importlib", "io",
    "itertools", "json", "math", "os", "pathlib", "re", "stat", "struct", "tempfile", "typing", "zipfile",
    "zlib",
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (absolute names; `from a import b` counts a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _project_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports."""
    files = {_module_name(path): path for package in PACKAGES for path in (PROJECT / package).rglob("*.py")}
    return {
        name: {other for other in _imports(path) if other in files and other != name}
        for name, path in files.items()
    }


def test_stages_folder_shows_the_pipeline():
    # Opening stages/ shows one module (or package) per dvc.yaml stage, the shared helpers, nothing else.
    stages = set(yaml.safe_load((PROJECT / "dvc.yaml").read_text())["stages"])
    entries = {path.stem for path in (PROJECT / "stages").iterdir() if path.name != "__pycache__"}
    assert entries == stages | {"__init__", "common"}


def test_mlp_is_a_plain_library():
    # mlp imports only NumPy, itself and a few standard modules: nothing of the pipeline, YAML or argv.
    for path in (PROJECT / "mlp").rglob("*.py"):
        top_levels = {name.split(".")[0] for name in _imports(path)}
        foreign = top_levels - {"mlp", "numpy"} - LIBRARY_STANDARD_MODULES
        assert not foreign, f"{path.relative_to(PROJECT)} imports {sorted(foreign)}"


def test_dependencies_point_one_way_without_cycles():
    # tools -> stages -> stages.common -> mlp, and no module imports one that imports it back.
    graph = _project_graph()
    rank = {"tools": 3, "stages": 2, "stages.common": 1, "mlp": 0}

    def layer(module: str) -> int:
        return rank["stages.common"] if module.startswith("stages.common") else rank[module.split(".")[0]]

    for module, imported in graph.items():
        upward = [other for other in imported if layer(other) > layer(module)]
        assert not upward, f"{module} imports {upward} from a layer above it"
    visiting, done = set(), set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join([*path, module])}"
        if module in done:
            return
        visiting.add(module)
        for other in sorted(graph[module]):
            visit(other, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_every_test_the_docs_cite_exists():
    # docs/errors.md backs each case with tests (`FILE::TEST[ID]`, `…::TEST` for the same file): a
    # renamed or removed test must not leave the docs citing nothing.
    cited, file = [], None
    for reference in re.findall(
        r"`((?:[\w/]+\.py|…)::\w+)(?:\[[^\]`]*\])?`", (PROJECT / "docs/errors.md").read_text()
    ):
        named, test = reference.split("::")
        file = file if named == "…" else named
        cited.append((file, test))
    assert len(cited) > 50
    missing = [
        f"{file}::{test}"
        for file, test in cited
        if not re.search(rf"^def {test}\(", (PROJECT / "tests" / file).read_text(), re.MULTILINE)
    ]
    assert not missing, missing


def test_mlp_names_load_from_the_modules_its_table_names():
    # mlp imports its public names on first use from mlp.HOMES; the type checkers' list must match.
    import mlp

    tree = ast.parse((PROJECT / "mlp/__init__.py").read_text())
    typed = {
        alias.asname for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert typed - {None} == set(mlp.HOMES) == set(mlp.__all__)
    for name, home in mlp.HOMES.items():
        assert name.isupper() or getattr(mlp, name).__module__ == f"mlp.{home}", name


def test_every_library_the_code_imports_is_declared():
    # An import that works only because another package pulls it in breaks with that package.
    import sys
    import tomllib

    declared = {
        re.split(r"[<>=\[ ]", spec)[0].lower()
        for spec in tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    distribution = {"sklearn": "scikit-learn", "ruamel": "ruamel.yaml", "PIL": "pillow"}
    imported = {
        name.split(".")[0]
        for package in PACKAGES
        for path in (PROJECT / package).rglob("*.py")
        for name in _imports(path)
    }
    third_party = imported - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}
    assert {distribution.get(name, name) for name in third_party} <= declared


def test_dvc_reads_yaml_with_ruamels_c_parser():
    # DVC loads dvc.yaml and dvc.lock about a hundred times per `dvc exp run`; without
    # ruamel.yaml.clib (no longer installed by ruamel.yaml 0.19 itself) each load is pure Python.
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__name__ == "CParser"
