"""Session set-up shared by every tier: a scratch AIRFLOW_HOME and data folder, set before
Airflow is imported anywhere, and the rule that every test declares its tier."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.support import REPO

_SCRATCH = Path(tempfile.mkdtemp(prefix="retraining-tests-"))

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
for name in ("AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_CONN_SLACK_ALERTS", "MLFLOW_TRACKING_URI"):
    os.environ.pop(name, None)

TIERS = {"dags", "unit", "integration", "reliability"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test without its tier's marker, or in the wrong folder, is an error, not a silent extra."""
    for item in items:
        tier = Path(item.fspath).relative_to(REPO / "tests").parts[0]
        marked = {m.name for m in item.iter_markers()} & TIERS
        if marked != {tier}:
            raise pytest.UsageError(
                f"{item.nodeid}: tests under tests/{tier}/ must carry exactly the marker "
                f"'{tier}' (set `pytestmark = pytest.mark.{tier}`); found {sorted(marked) or 'none'}"
            )
