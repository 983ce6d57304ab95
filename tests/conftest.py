"""Session set-up shared by every tier: a scratch AIRFLOW_HOME and data folder, set before
Airflow is imported anywhere, and the rule that every test declares its tier."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO

_SCRATCH = Path(tempfile.mkdtemp(prefix="retraining-tests-"))
# Gone with the process that made it (each xdist worker makes its own): a run leaves no scratch behind.
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)

# A developer's own pipeline settings (an artifact store, a train queue, ...) must not reach the
# tests; the services the tests are pointed at (RETRAINING_TEST_*, the conformance suite's) stay.
for name in [n for n in os.environ if n.startswith("RETRAINING_")]:
    if not name.startswith(("RETRAINING_TEST_", "RETRAINING_CONFORMANCE_")):
        os.environ.pop(name)

# Airflow reads its configuration once, at import; these must be in place first.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_SCRATCH / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "RETRAINING_DATA_DIR": str(_SCRATCH / "data"),
        "RETRAINING_TASK_RETRIES": "0",
        "GX_ANALYTICS_ENABLED": "False",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
)
for name in (
    "AIRFLOW_CONN_WAREHOUSE",
    "AIRFLOW_CONN_RETRAINING_DB",
    "AIRFLOW_CONN_SLACK_ALERTS",
    "MLFLOW_TRACKING_URI",
):
    os.environ.pop(name, None)

TIERS = {"dags", "unit", "integration", "reliability"}
MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _forget_mlflow_stores() -> None:
    for name in MLFLOW_URI_VARIABLES:
        os.environ.pop(name, None)
    if "mlflow" in sys.modules:  # the in-process defaults behind a client built without URIs
        import mlflow.tracking._model_registry.utils as registry_utils
        import mlflow.tracking._tracking_service.utils as tracking_utils

        tracking_utils._tracking_uri = None
        registry_utils._registry_uri = None


@pytest.fixture(scope="module", autouse=True)
def _no_mlflow_store_from_another_module() -> Iterator[None]:
    """mlflow.set_tracking_uri and set_registry_uri (tracking.configure in an in-process run)
    export MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI, which every child process inherits: a
    module that started a stack or a demo after one that ran in-process sent their models to the
    other module's registry. Each module starts and ends with neither."""
    _forget_mlflow_stores()
    yield
    _forget_mlflow_stores()


# The longest modules, longest first (their fixtures run whole DAG runs, stacks or the demo). Run
# first, with the unit tier's many short files last, the two workers of `make test` finish
# together; xdist's default order (most tests first) left these for the end, one worker busy
# minutes after the other was done.
SLOWEST_FIRST = (
    "integration/test_demo.py",
    "integration/test_native_stack.py",
    "integration/test_ui.py",
    "integration/test_monitor_dag.py",
    "integration/test_warehouse_dialects.py",
    "integration/test_retrain_dag.py",
    "integration/test_rollback_dag.py",
    "integration/test_backtest.py",
)
TIER_ORDER = ("integration", "reliability", "dags", "unit")


def _run_order(item: pytest.Item) -> tuple[int, int]:
    path = Path(item.fspath).relative_to(REPO / "tests").as_posix()
    slow = SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)
    return slow, TIER_ORDER.index(path.split("/")[0])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test without its tier's marker, or in the wrong folder, is an error, not a silent extra.
    Then the slowest modules first (`SLOWEST_FIRST`); a stable sort keeps every module's order."""
    items.sort(key=_run_order)
    for item in items:
        tier = Path(item.fspath).relative_to(REPO / "tests").parts[0]
        marked = {m.name for m in item.iter_markers()} & TIERS
        if marked != {tier}:
            raise pytest.UsageError(
                f"{item.nodeid}: tests under tests/{tier}/ must carry exactly the marker "
                f"'{tier}' (set `pytestmark = pytest.mark.{tier}`); found {sorted(marked) or 'none'}"
            )
