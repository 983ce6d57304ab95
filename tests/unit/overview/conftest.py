from __future__ import annotations

from pathlib import Path

import pytest

from include.retraining.common import Settings, load_settings
from include.retraining.warehouse import Database
from tests.unit.overview.support import seed


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"RETRAINING_DATA_DIR": str(tmp_path), "RETRAINING_MLFLOW_UI_URL": "http://mlflow.test"})


@pytest.fixture
def db(settings: Settings) -> Database:
    return seed(Database(settings.warehouse_default_url))
