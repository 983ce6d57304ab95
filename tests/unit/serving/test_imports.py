"""What the serving package may import: never Airflow, and mlflow only in the app (registry reads
and model loads go through the project's adapters)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_serving_never_imports_airflow_and_only_the_app_imports_mlflow() -> None:
    modules = {path.name: _imports(path) for path in sorted((REPO / "serving").glob("*.py"))}

    assert [name for name, names in modules.items() if "airflow" in names] == []
    assert [name for name, names in modules.items() if "mlflow" in names] == ["app.py"]
