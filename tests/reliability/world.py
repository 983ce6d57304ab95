"""The world every fault test starts from: a champion trained on the window ending CHAMPION_AT,
and a retrain due at NEXT_RUN. The fixtures that build and restore it live in conftest.py; the
names a test module imports live here, so no test imports a conftest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from tests.support import REPO

__all__ = ["CHAMPION_AT", "LEAN", "NEXT_RUN", "START", "World"]

# The champion is trained on the window ending CHAMPION_AT; fault tests retrain at NEXT_RUN.
START = datetime(2026, 1, 5, tzinfo=UTC)
CHAMPION_AT = START + timedelta(weeks=8)
NEXT_RUN = CHAMPION_AT + timedelta(weeks=1)
# Lean settings: the same code paths as the shipped model, a fraction of the CPU.
LEAN = {
    "training": {"params": {"max_iter": 40, "learning_rate": 0.15, "max_leaf_nodes": 15}},
    "gate": {"bootstrap_samples": 200},
}


@dataclass
class World:
    """The folders and URLs one fault test works in; see the `world` fixture."""

    data_dir: Path
    models_dir: Path
    warehouse_url: str

    @property
    def artifact_root(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def env(self) -> dict[str, str]:
        """The environment a DAG run of this world reads."""
        return {
            "RETRAINING_DATA_DIR": str(self.data_dir),
            "RETRAINING_MODELS_DIR": str(self.models_dir),
            "AIRFLOW_CONN_WAREHOUSE": self.warehouse_url,
        }

    def write_model(self, **overrides: dict) -> dict:
        """Rewrite churn.yaml: the shipped file, the lean settings, then `overrides` per section."""
        config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
        for changes in (LEAN, overrides):
            for section, values in changes.items():
                config[section].update(values)
        (self.models_dir / "churn.yaml").write_text(yaml.safe_dump(config))
        return config
