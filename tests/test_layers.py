"""The package's layers: a module imports its own layer and the layers below it, never above.

Every module under ``server/understudy`` is parsed with ``ast`` (nothing is imported), and
its runtime imports are collected: imports inside functions count, imports under
``if TYPE_CHECKING:`` do not, relative imports are resolved, and ``from understudy.x import
y`` where ``y`` is a submodule is an import of ``understudy.x.y``. Then three rules hold:
every module is in exactly one layer, no import goes up a layer, and no runtime import
cycle joins modules.
"""

from __future__ import annotations

import ast
import textwrap
from collections import deque
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

PACKAGE = "understudy"
SOURCE_ROOT = Path(__file__).resolve().parents[1] / "server"

# Bottom to top: (name, modules). An entry covers the module of that name and everything
# under it, except the package itself, which covers only understudy/__init__.py.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # 0: the version string and the server settings; they import nothing of the package.
    ("leaves", ("understudy._version", "understudy.settings")),
    # 1: the neutral request and reply, API errors, ids, the tokenizer, rate limits.
    ("core", ("understudy.core",)),
    # 1b: the file formats users write: YAML/JSON read with lines, strict models with short
    # forms, errors as file:line: field: message. Scenarios, chaos and engine profiles all
    # read their files through it, so it sits below faults, the lowest of them.
    ("format", ("understudy.format",)),
    # 2: when each token is due, and the paced SSE writer that sends the frames.
    ("stream", ("understudy.stream",)),
    # 3: the wire formats: OpenAI Chat and Responses, Anthropic Messages, their base class.
    ("providers", ("understudy.providers",)),
    # 4: fault specs, per-reply fault plans, framing chaos and deliberate wire violations.
    ("faults", ("understudy.faults",)),
    # 5: the scenario format, loading files, matching requests, the catalog, runtime scenarios.
    ("scenarios", ("understudy.scenarios",)),
    # 6: the reply plan: everything a renderer and the writer need for one request.
    ("plan", ("understudy.plan",)),
    # 6b: the simulated inference engine: slots, queue, load-driven pace, vLLM metrics.
    ("engine", ("understudy.engine",)),
    # 7: the request journal and the Prometheus metrics.
    ("record", ("understudy.record",)),
    # 8: the server's mutable state: catalog, counters, stored responses, journal, metrics.
    ("state", ("understudy.state",)),
    # 9: the one request pipeline, API-key checks and GET /v1/models.
    ("http", ("understudy.http",)),
    # 10: the admin API under /_understudy/, its OpenAPI document and hot reload.
    ("control", ("understudy.control",)),
    # 11: composition: the ASGI app, the command line, the test helpers and pytest plugin.
    (
        "composition",
        (
            "understudy",
            "understudy.app",
            "understudy.cli",
            "understudy.testing",
            "understudy.pytest_plugin",
            "understudy.__main__",
        ),
    ),
)

Layers = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Import:
    importer: str
    path: Path
    line: int
    target: str

    def where(self) -> str:
        return f"{self.importer} ({self.path}:{self.line})"


@dataclass(frozen=True)
class Package:
    modules: dict[str, Path]  # dotted name -> file, for every .py file
    namespaces: frozenset[str]  # folders without __init__.py that hold modules
    imports: tuple[Import, ...]  # runtime imports of the package by its own modules

    def edges(self) -> set[tuple[str, str]]:
        return {(i.importer, i.target) for i in self.imports if i.importer != i.target}


# --- parsing ------------------------------------------------------------------------------


def discover(root: Path, package: str) -> tuple[dict[str, Path], frozenset[str]]:
    """Every module of ``package`` under the source root ``root``, and its namespace folders."""
    modules: dict[str, Path] = {}
    namespaces: set[str] = set()
    for path in sorted((root / package).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
        for depth in range(1, len(parts)):
            folder = ".".join(parts[:depth])
            if not (root / Path(*parts[:depth]) / "__init__.py").exists():
                namespaces.add(folder)
    return modules, frozenset(namespaces)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _RuntimeImports(ast.NodeVisitor):
    """Collects (line, dotted name, imported names or None) for the imports that run."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.found: list[tuple[int, str, list[str] | None]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for statement in node.orelse:  # only the else branch runs
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((node.lineno, alias.name, None))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.module.split(".")
            if not self.is_package:
                parts.pop()
            if node.level - 1 >= len(parts):
                raise ValueError(f"{self.module}:{node.lineno}: relative import beyond the top")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        self.found.append((node.lineno, base, [alias.name for alias in node.names]))

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("understudy.x") and __import__("understudy.x") with a literal
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if (
            name in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            self.found.append((node.lineno, node.args[0].value, None))
        self.generic_visit(node)


def parse_package(root: Path, package: str) -> Package:
    """Parse every module of ``package`` and resolve its runtime imports of the package."""
    modules, namespaces = discover(root, package)
    known = set(modules) | namespaces

    def resolve(name: str) -> str:
        # the longest prefix that is a module: `import a.b.c` and `from a.b import Attr`
        candidate = name
        while candidate and candidate not in known:
            candidate = candidate.rpartition(".")[0]
        return candidate or name

    def internal(name: str) -> bool:
        return name == package or name.startswith(package + ".")

    imports: list[Import] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        visitor = _RuntimeImports(module, path.name == "__init__.py")
        visitor.visit(tree)
        for line, name, names in visitor.found:
            if not internal(name):
                continue
            if names is None or "*" in names:
                targets = [resolve(name)]
            else:
                targets = [
                    f"{name}.{each}" if f"{name}.{each}" in known else resolve(name)
                    for each in names
                ]
            for target in dict.fromkeys(targets):
                imports.append(Import(module, path.relative_to(root.parent), line, target))
    shown = {module: path.relative_to(root.parent) for module, path in modules.items()}
    return Package(shown, namespaces, tuple(imports))


# --- the rules ----------------------------------------------------------------------------


def layers_of(module: str, layers: Layers, package: str) -> list[int]:
    """The indices of the layers that claim ``module`` (one, if the table is right)."""
    return [
        index
        for index, (_, entries) in enumerate(layers)
        if any(
            module == entry or (entry != package and module.startswith(entry + "."))
            for entry in entries
        )
    ]


def _layer(index: int, layers: Layers) -> str:
    return f"layer {index} '{layers[index][0]}'"


def placement_problems(pkg: Package, layers: Layers, package: str) -> list[str]:
    problems = []
    for module, path in pkg.modules.items():
        claims = layers_of(module, layers, package)
        if not claims:
            problems.append(
                f"{module} ({path}) is in no layer: place it in LAYERS in tests/test_layers.py "
                "(the lowest layer whose modules it needs, below everything that imports it)"
            )
        elif len(claims) > 1:
            names = " and ".join(_layer(index, layers) for index in claims)
            problems.append(f"{module} ({path}) is in {names}: LAYERS must place it only once")
    return problems


def layer_violations(pkg: Package, layers: Layers, package: str) -> list[str]:
    problems = []
    for imp in pkg.imports:
        own = layers_of(imp.importer, layers, package)
        their = layers_of(imp.target, layers, package)
        if len(own) != 1 or len(their) != 1:
            continue  # reported by placement_problems
        [own], [their] = own, their
        if their > own:
            problems.append(
                f"{imp.where()} imports {imp.target}: {_layer(own, layers)} "
                f"may not import {_layer(their, layers)}, which is above it"
            )
    return problems


def strongly_connected(nodes: list[str], graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of ``graph``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in nodes:
        if node not in index:
            visit(node)
    return components


def import_cycles(pkg: Package) -> list[str]:
    """One shortest cycle per strongly connected group of modules, with the import lines."""
    first_line: dict[tuple[str, str], Import] = {}
    for imp in pkg.imports:
        if imp.importer != imp.target and imp.target in pkg.modules:
            first_line.setdefault((imp.importer, imp.target), imp)
    graph: dict[str, list[str]] = {}
    for importer, target in first_line:
        graph.setdefault(importer, []).append(target)

    problems = []
    for component in strongly_connected(sorted(pkg.modules), graph):
        if len(component) < 2:
            continue
        members = set(component)
        start = component[0]
        # breadth-first from start, inside the component, to a module that imports start
        parent: dict[str, str | None] = {start: None}
        queue = deque([start])
        last = None
        while queue and last is None:
            node = queue.popleft()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    last = node
                    break
                if nxt in members and nxt not in parent:
                    parent[nxt] = node
                    queue.append(nxt)
        chain: list[str] = []
        step: str | None = last
        while step is not None:
            chain.append(step)
            step = parent[step]
        path = [*reversed(chain), start]
        steps = "\n".join(
            f"    {first_line[(a, b)].where()} imports {b}" for a, b in pairwise(path)
        )
        others = ""
        if len(path) - 1 < len(component):
            others = f"\n  (one of the cycles among {', '.join(component)})"
        problems.append(f"import cycle {' -> '.join(path)}:\n{steps}{others}")
    return problems


# --- the real package ---------------------------------------------------------------------


@cache
def real_package() -> Package:
    return parse_package(SOURCE_ROOT, PACKAGE)


def test_the_checker_sees_the_whole_package() -> None:
    pkg = real_package()
    assert len(pkg.modules) > 40, sorted(pkg.modules)
    assert len(pkg.edges()) > 100, sorted(pkg.edges())


def test_every_module_is_in_exactly_one_layer() -> None:
    problems = placement_problems(real_package(), LAYERS, PACKAGE)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_no_module_imports_a_higher_layer() -> None:
    problems = layer_violations(real_package(), LAYERS, PACKAGE)
    if problems:
        pytest.fail(
            f"{len(problems)} imports go up a layer:\n" + "\n".join(problems), pytrace=False
        )


def test_no_runtime_import_cycles() -> None:
    problems = import_cycles(real_package())
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# --- the checker, on a package made up for it -----------------------------------------------


def test_the_checker_on_a_made_up_package(tmp_path: Path) -> None:
    files = {
        "fake/__init__.py": "from fake import low\n",
        "fake/low.py": """\
            from typing import TYPE_CHECKING

            from fake.ns import leaf
            import fake.ns.leaf as leaf_again

            if TYPE_CHECKING:
                from fake.high.sub import Hidden
            else:
                Hidden = object

            def later():
                from .high import thing
                return thing
            """,
        "fake/ns/leaf.py": "import os\nimport fakery\n",
        "fake/high/__init__.py": "from fake.high import sub\nthing = 1\n",
        "fake/high/sub.py": "from .. import low\nfrom ..ns.leaf import os\n",
        "fake/stray.py": "import fake.ns\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    layers: Layers = (
        ("bottom", ("fake.ns",)),
        ("middle", ("fake.low",)),
        ("top", ("fake.high", "fake")),
    )

    pkg = parse_package(tmp_path, "fake")

    assert set(pkg.modules) == {
        "fake",
        "fake.low",
        "fake.ns.leaf",
        "fake.high",
        "fake.high.sub",
        "fake.stray",
    }
    assert pkg.namespaces == {"fake.ns"}
    assert {(i.importer, i.line, i.target) for i in pkg.imports} == {
        ("fake", 1, "fake.low"),
        ("fake.low", 3, "fake.ns.leaf"),  # a submodule of a namespace folder
        ("fake.low", 4, "fake.ns.leaf"),
        ("fake.low", 12, "fake.high"),  # inside a function, relative; `thing` is no module
        ("fake.high", 1, "fake.high.sub"),
        ("fake.high.sub", 1, "fake.low"),  # `from .. import low`
        ("fake.high.sub", 2, "fake.ns.leaf"),
        ("fake.stray", 1, "fake.ns"),
    }  # nothing from TYPE_CHECKING, nothing outside the package

    assert placement_problems(pkg, layers, "fake") == [
        f"fake.stray ({Path(tmp_path.name, 'fake/stray.py')}) is in no layer: place it in "
        "LAYERS in tests/test_layers.py (the lowest layer whose modules it needs, below "
        "everything that imports it)"
    ]
    [violation] = layer_violations(pkg, layers, "fake")
    assert violation == (
        f"fake.low ({Path(tmp_path.name, 'fake/low.py')}:12) imports fake.high: "
        "layer 1 'middle' may not import layer 2 'top', which is above it"
    )
    [cycle] = import_cycles(pkg)
    assert cycle.startswith("import cycle fake.high -> fake.high.sub -> fake.low -> fake.high:")
    assert f"fake.low ({Path(tmp_path.name, 'fake/low.py')}:12) imports fake.high" in cycle

    # the same package with its layers in order passes
    (tmp_path / "fake/stray.py").unlink()
    (tmp_path / "fake/low.py").write_text("from fake.ns import leaf\n", encoding="utf-8")
    fixed = parse_package(tmp_path, "fake")
    assert placement_problems(fixed, layers, "fake") == []
    assert layer_violations(fixed, layers, "fake") == []
    assert import_cycles(fixed) == []
