"""Where things live, read from the environment so every deployment configures it from outside.

The defaults are the embedded laptop setup: everything under a git-ignored `.data/` folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    artifact_root: Path
    models_dir: Path
    tracking_uri: str
    warehouse_default_url: str
    alerts_file: Path
    airflow_base_url: str

    @property
    def mlflow_artifact_root(self) -> Path:
        """Artifact folder for a local (SQLite or file) tracking store; servers manage their own."""
        return self.data_dir / "mlartifacts"

    @property
    def tracking_is_local(self) -> bool:
        return not self.tracking_uri.startswith(("http://", "https://", "databricks"))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("RETRAINING_DATA_DIR", REPO_ROOT / ".data")).resolve()
    return Settings(
        data_dir=data_dir,
        artifact_root=Path(env.get("RETRAINING_ARTIFACT_ROOT", data_dir / "artifacts")).resolve(),
        models_dir=Path(env.get("RETRAINING_MODELS_DIR", REPO_ROOT / "include" / "models")).resolve(),
        tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{data_dir / 'mlflow.db'}"),
        warehouse_default_url=f"sqlite:///{data_dir / 'warehouse.db'}",
        alerts_file=Path(env.get("RETRAINING_ALERTS_FILE", data_dir / "alerts.jsonl")).resolve(),
        airflow_base_url=env.get("AIRFLOW__API__BASE_URL", "http://localhost:8080").rstrip("/"),
    )
