"""The retraining pipeline's domain, one capability package per concept (docs/architecture.md).

Nothing here imports Airflow. Each package's `__init__.py` is its public face: the names other
packages, the DAG layer, the UI plugins and the REST server may use, listed once as imports
under `if TYPE_CHECKING:` (which is what editors and type checkers read) and loaded on first use
by `face`. Lazy on purpose: every DAG file parse imports a few faces (config, common), and an
eager face would import pandas, scikit-learn or MLflow at each parse. Modules of one package
import each other directly, never through their own face.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def face(package: str) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """`__all__`, `__getattr__` and `__dir__` for the package named `package`, from the imports
    under its `if TYPE_CHECKING:`: each name is imported from its module on first use and kept
    on the package (the idea of Scientific Python's lazy_loader, SPEC 1, without its stub file).
    Names starting with `_` load the same way but stay out of `__all__`."""
    module = sys.modules[package]
    where = exports(Path(str(module.__file__)))

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attribute = where[name]
        value = getattr(importlib.import_module(module_name), attribute)
        setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(where)

    return sorted(name for name in where if not name.startswith("_")), __getattr__, __dir__


def exports(init: Path) -> dict[str, tuple[str, str]]:
    """Name -> (module, attribute) of every `from <module> import <attribute> [as <name>]` under
    the file's `if TYPE_CHECKING:`."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.parse(init.read_text(encoding="utf-8"), filename=str(init)).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    found.update({a.asname or a.name: (statement.module, a.name) for a in statement.names})
    return found
