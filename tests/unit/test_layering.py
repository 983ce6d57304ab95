"""The house rules, read from the source: the domain never imports Airflow, each external
library is imported only by its adapter, and no module or function grows past its limit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

DOMAIN = REPO / "include" / "retraining"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 50
# Each library and the only domain modules that may import it.
ADAPTERS = {
    "mlflow": {"tracking/tracker.py", "tracking/dataset.py", "tracking/registry.py"},
    # the warehouse and the pipeline's tables; tables/served.py: predictions joined with late labels
    "sqlalchemy": {
        "warehouse/reads.py",
        "warehouse/sample.py",
        "tables/monitoring.py",
        "tables/promotions.py",
        "tables/served.py",
        "tables/predictions.py",
    },
    "evidently": {"drift/report.py"},
    "great_expectations": {"learning/validation.py"},
}


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _imported(path: Path) -> set[str]:
    """Top-level package of every import in the module, at any depth (function-level included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_domain_never_imports_airflow() -> None:
    offenders = [p.name for p in _modules(DOMAIN) if "airflow" in _imported(p)]
    assert offenders == [], f"include/retraining must not import airflow: {offenders}"


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_each_library_is_imported_only_by_its_adapter(library: str) -> None:
    importers = {p.relative_to(DOMAIN).as_posix() for p in _modules(DOMAIN) if library in _imported(p)}
    assert importers <= ADAPTERS[library], (
        f"{sorted(importers - ADAPTERS[library])} import {library}; go through {sorted(ADAPTERS[library])}"
    )


def test_no_module_in_include_is_over_the_limit() -> None:
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in _modules(REPO / "include")}
    over = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert over == {}, f"modules over {MAX_MODULE_LINES} lines: {over}"


def test_no_function_in_include_is_over_the_limit() -> None:
    over = {}
    for path in _modules(REPO / "include"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    over[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = lines
    assert over == {}, f"functions over {MAX_FUNCTION_LINES} lines: {over}"


# Libraries a task may import for itself: standard library, or cheap enough not to be preloaded.
NOT_PRELOADED = {"croniter", "pydantic", "threadpoolctl", "yaml"}


def test_every_heavy_library_the_domain_imports_is_preloaded_by_the_workers() -> None:
    """A library missing from worker_preload.LIBRARIES costs every task that imports it seconds
    (include/orchestration/worker_preload.py). The module is read, not imported: importing it is
    the expensive preload itself."""
    import sys

    tree = ast.parse((REPO / "include" / "orchestration" / "worker_preload.py").read_text())
    libraries = next(
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "LIBRARIES" for t in node.targets)
    )
    preloaded = {name.split(".")[0] for name in libraries}
    third_party = set().union(*(_imported(p) for p in _modules(DOMAIN))) - set(sys.stdlib_module_names) - {"include"}

    assert third_party - preloaded - NOT_PRELOADED == set()
