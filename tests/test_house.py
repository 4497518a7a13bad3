"""The house rules a maintainer relies on, held by tests of the fast layer: the package passes mypy --strict,
no module imports one that imports it back, and ARCHITECTURE.md names only modules that exist and every
module that does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that this file imports, anywhere in it (a function's own import, or one for the
    type checker only, ties two modules as much as one at the top)."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return (found & known) - {name}


def import_graph(top: str) -> dict[str, set[str]]:
    files = {_module_name(p): p for p in (ROOT / top).rglob("*.py")}
    return {name: _imported(path, set(files)) for name, path in files.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each once, as the path that closes it."""
    found: dict[frozenset[str], list[str]] = {}

    def walk(path: list[str]) -> None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt in path:
                loop = path[path.index(nxt):] + [nxt]
                found.setdefault(frozenset(loop), loop)
            elif nxt > path[0]:  # each circle is found from its smallest module
                walk(path + [nxt])

    for start in sorted(graph):
        walk([start])
    return list(found.values())


def test_a_circle_is_found_when_there_is_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("top", ["autograder", "benchmarks"])
def test_no_module_imports_one_that_imports_it_back(top):
    assert circles(import_graph(top)) == []


def test_the_package_passes_mypy_strict():
    from mypy import api

    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "autograder")])
    assert status == 0, out + err


def test_architecture_names_every_module_and_only_modules_that_exist():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    modules = {p.stem for p in (ROOT / "autograder").rglob("*.py") if p.stem != "__init__" and "migrations" not in p.parts}
    named = set(re.findall(r"`(?:autograder/)?(?:service/|harness/)?([a-z_]+)\.py`", text))
    for block in re.findall(r"```\n(.*?)```", text, re.S):  # the pictures: a module's name, then its job
        named |= set(re.findall(r"^([a-z_]+)\s{2,}", block, re.M))
    assert named - modules == set(), "ARCHITECTURE.md names modules that do not exist"
    assert modules - named - {"_version", "__main__"} == set(), "modules ARCHITECTURE.md does not place"
