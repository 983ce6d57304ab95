"""The house rules, read from the source (docs/architecture.md):

- `include/retraining` holds capability packages only, each with a public face (`__all__` from its
  `if TYPE_CHECKING:` imports, loaded lazily);
- code outside a package uses its face only, and a package's modules never use their own face;
- no import circle between packages or between the modules of one package;
- a package stays at most MAX_PACKAGE_MODULES modules and MAX_PACKAGE_LINES lines, a function at
  most MAX_FUNCTION_LINES;
- the domain never imports Airflow, each external library is imported only by its adapter, every
  engine is opened in one place, and every heavy library is preloaded by the workers.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from include.retraining import exports
from tests.support import REPO

pytestmark = pytest.mark.unit

DOMAIN = REPO / "include" / "retraining"
MAX_PACKAGE_MODULES, MAX_PACKAGE_LINES, MAX_FUNCTION_LINES = 12, 1500, 50
# Code that uses the domain from outside it: every import of include.retraining here goes through a face.
USERS = ("include/orchestration", "dags", "plugins", "serving", "retraining", "demo", "bench", "tools")
# Each library and the only domain modules that may import it.
ADAPTERS = {
    "mlflow": {"tracking/tracker.py", "tracking/dataset.py", "tracking/registry.py"},
    "sqlalchemy": {
        "warehouse/database.py",
        "warehouse/source.py",
        "warehouse/reads.py",
        "warehouse/sql.py",
        "warehouse/labels.py",
        "locking/locks.py",
        "tables/monitoring.py",
        "tables/outcomes.py",
        "tables/promotions.py",
        "predictions/served.py",
        "predictions/table.py",
        "tables/alert_outbox.py",
        "tables/migrate.py",
        "tables/migrations/",
        "inference/store.py",
    },
    "alembic": {"tables/migrate.py", "tables/migrations/"},
    "adbc_driver_postgresql": {"warehouse/database.py"},
    "evidently": {"drift/report.py"},
    "great_expectations": {"learning/validation.py"},
    # The artifact store: local folders and object-store URLs alike.
    "upath": {"artifacts/store.py"},
    "fsspec": {"artifacts/store.py"},
}


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _packages() -> list[Path]:
    return sorted(p for p in DOMAIN.iterdir() if p.is_dir() and p.name != "__pycache__")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import in the file, at any depth (functions and
    `if TYPE_CHECKING:` included); `import a.b` gives ("a.b", [])."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _top_level(path: Path) -> set[str]:
    return {module.split(".")[0] for module, _ in _imports(path)}


def _domain_target(module: str, names: list[str]) -> list[tuple[str, str | None]]:
    """(package, module or None for the face) of each domain package an import reaches."""
    parts = module.split(".")
    if parts[:2] != ["include", "retraining"]:
        return []
    if len(parts) == 2:  # from include.retraining import <package>, ...
        return [(name, None) for name in names if (DOMAIN / name).is_dir()]
    return [(parts[2], parts[3] if len(parts) > 3 else None)]


def _package_of(path: Path) -> str:
    """The package a domain file belongs to ("" for include/retraining/__init__.py itself)."""
    parts = path.relative_to(DOMAIN).parts
    return parts[0] if len(parts) > 1 else ""


def test_the_domain_holds_only_packages() -> None:
    loose = sorted(p.name for p in DOMAIN.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"include/retraining holds packages only (move {loose} into the package of their concept)"


@pytest.mark.parametrize("package", [p.name for p in _packages()])
def test_every_package_has_a_face_of_its_own_modules(package: str) -> None:
    init = DOMAIN / package / "__init__.py"
    face = exports(init)
    modules = {p.stem for p in (DOMAIN / package).glob("*.py")} - {"__init__"}

    assert "face(__name__)" in init.read_text(), f"{package}/__init__.py must build its face with face(__name__)"
    assert face, f"{package} has an empty face"
    foreign = {
        name: module for name, (module, _) in face.items() if not module.startswith(f"include.retraining.{package}.")
    }
    assert foreign == {}, f"{package}'s face re-exports other packages' names: {foreign}"
    shadowed = sorted(set(face) & modules)
    assert shadowed == [], f"{package}: face names {shadowed} equal module names (a loaded module would shadow them)"


def test_code_outside_a_package_uses_its_face_only() -> None:
    faces = {p.name: set(exports(p / "__init__.py")) for p in _packages()}
    bypasses = []
    for path in [*_modules(DOMAIN), *(p for user in USERS for p in _modules(REPO / user))]:
        own = _package_of(path) if path.is_relative_to(DOMAIN) else None
        for module, names in _imports(path):
            for package, inner in _domain_target(module, names):
                if package == own:
                    continue
                if inner is not None:
                    bypasses.append(f"{path.relative_to(REPO)}: {module}")
                elif module != "include.retraining":
                    missing = sorted(set(names) - faces[package])
                    bypasses += [f"{path.relative_to(REPO)}: {package}.{name} is not on its face" for name in missing]
    assert bypasses == []


def test_a_package_never_imports_its_own_face() -> None:
    offenders = []
    for path in _modules(DOMAIN):
        own = _package_of(path)
        if not own or path.name == "__init__.py":
            continue
        offenders += [
            f"{path.relative_to(REPO)}: {module}"
            for module, names in _imports(path)
            for package, inner in _domain_target(module, names)
            if package == own and inner is None
        ]
    assert offenders == [], "modules of a package import their siblings directly, not through their own face"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's start, found by depth-first search (enough to name the circle)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_circle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _modules(DOMAIN):
        own = _package_of(path)
        for module, names in _imports(path):
            graph[own] |= {package for package, _ in _domain_target(module, names) if package != own}
    assert _cycles(graph) == []


@pytest.mark.parametrize("package", [p.name for p in _packages()])
def test_no_import_circle_inside_a_package(package: str) -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in _modules(DOMAIN / package):
        for module, _ in _imports(path):
            parts = module.split(".")
            if parts[:3] == ["include", "retraining", package] and len(parts) > 3:
                graph[path.stem].add(parts[3])
    assert _cycles(graph) == []


@pytest.mark.parametrize("package", [p.name for p in _packages()])
def test_a_package_stays_small_enough_to_read(package: str) -> None:
    modules = [p for p in _modules(DOMAIN / package) if p.name != "__init__.py"]
    lines = sum(len(p.read_text().splitlines()) for p in modules)
    assert len(modules) <= MAX_PACKAGE_MODULES, f"{package}: {len(modules)} modules; split it where its concept splits"
    assert lines <= MAX_PACKAGE_LINES, f"{package}: {lines} lines; split it where its concept splits"


def test_no_function_in_include_is_over_the_limit() -> None:
    over = {}
    for path in _modules(REPO / "include"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    over[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = lines
    assert over == {}, f"functions over {MAX_FUNCTION_LINES} lines: {over}"


def test_the_domain_never_imports_airflow() -> None:
    offenders = [str(p.relative_to(DOMAIN)) for p in _modules(DOMAIN) if "airflow" in _top_level(p)]
    assert offenders == [], f"include/retraining must not import airflow: {offenders}"


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_each_library_is_imported_only_by_its_adapter(library: str) -> None:
    importers = {p.relative_to(DOMAIN).as_posix() for p in _modules(DOMAIN) if library in _top_level(p)}
    # An entry ending in "/" is a folder of the adapter's own (Alembic's revisions).
    folders = tuple(a for a in ADAPTERS[library] if a.endswith("/"))
    others = {i for i in importers if i not in ADAPTERS[library] and not i.startswith(folders)}
    assert others == set(), f"{sorted(others)} import {library}; go through {sorted(ADAPTERS[library])}"


def test_every_engine_is_opened_by_the_database_object() -> None:
    """`create_engine` and ADBC's `connect` appear in warehouse/database.py only: every other module
    asks a `Database` (or `Warehouse`) for a connection."""
    openers = {}
    for path in _modules(REPO / "include"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name, owner = node.func.attr, ast.unparse(node.func.value)
                if name == "create_engine" or (name == "connect" and "adbc" in owner):
                    openers.setdefault(str(path.relative_to(REPO)), []).append(f"{owner}.{name}")
    assert set(openers) == {"include/retraining/warehouse/database.py"}, openers


def test_few_url_parameters_are_left() -> None:
    """A database is an object handed to a function, not an address threaded through it: parameters
    named `url` or `*_url` are left only where a URL is what the function is about."""
    found = []
    for path in _modules(REPO / "include"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                found += [
                    f"{path.relative_to(REPO)}:{node.name}({a.arg})"
                    for a in arguments
                    if a.arg == "url" or a.arg.endswith("_url")
                ]
    assert len(found) <= 5, found


# Libraries a task may import for itself: standard library, or cheap enough not to be preloaded.
NOT_PRELOADED = {"croniter", "pydantic", "threadpoolctl", "yaml"}


def test_every_heavy_library_the_domain_imports_is_preloaded_by_the_workers() -> None:
    """A library missing from worker_preload.LIBRARIES costs every task that imports it seconds
    (include/orchestration/worker_preload.py). The module is read, not imported: importing it is
    the expensive preload itself."""
    tree = ast.parse((REPO / "include" / "orchestration" / "worker_preload.py").read_text())
    libraries = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LIBRARIES" for t in node.targets)
    )
    preloaded = {name.split(".")[0] for name in libraries}
    third_party = set().union(*(_top_level(p) for p in _modules(DOMAIN))) - set(sys.stdlib_module_names) - {"include"}

    assert third_party - preloaded - NOT_PRELOADED == set()
