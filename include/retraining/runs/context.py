"""Who is running and what a step needs: the run identity and the per-task step context.

Both are plain frozen dataclasses built once per task by the orchestration layer, so a step takes
one argument, and a unit test builds them by hand with a fake tracker, registry or warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from include.retraining.common import Settings
from include.retraining.config import ModelConfig

if TYPE_CHECKING:
    from include.retraining.tracking import Registry, Tracker
    from include.retraining.warehouse import Database, Warehouse


@dataclass(frozen=True)
class RunInfo:
    """Who is running: the orchestrator's identity of this run, passed in from outside."""

    dag_id: str
    run_id: str
    window_end: datetime
    trigger: str = "schedule"
    dry_run: bool = False
    # Who started the run, for the promotion log: the Airflow user of a manual trigger, else the scheduler.
    actor: str = "scheduler"

    def airflow_url(self, settings: Settings) -> str:
        return f"{settings.airflow_base_url}/dags/{self.dag_id}/runs/{self.run_id}"

    @property
    def dedup_prefix(self) -> str:
        """`<dag_id>/<run_id>`: the start of every alert key this run sends."""
        return f"{self.dag_id}/{self.run_id}"


@dataclass(frozen=True)
class StepContext:
    """Everything a step reads besides its inputs: the model, where things live, who runs it, the
    MLflow adapters (connected on first use), the warehouse the model's rows are read from and the
    database of the pipeline's own tables (None for steps that never touch them)."""

    config: ModelConfig
    settings: Settings
    run: RunInfo
    tracker: Tracker
    registry: Registry
    warehouse: Warehouse | None = None
    pipeline_db: Database | None = None

    @classmethod
    def create(
        cls,
        config: ModelConfig,
        settings: Settings,
        run: RunInfo,
        warehouse: Warehouse | None = None,
        pipeline_db: Database | None = None,
    ) -> StepContext:
        """The production context: MLflow from the settings, trusting the project's model types and
        the model file's `training.trusted_types`; the pipeline's tables in `pipeline_db`, else in the
        warehouse's own database."""
        from include.retraining.learning import trusted_types
        from include.retraining.tracking import Registry, Tracker

        tracker = Tracker(settings, trusted_types=trusted_types(config))
        registry = Registry(tracker, config.name)
        return cls(config, settings, run, tracker, registry, warehouse, pipeline_db or warehouse)

    @property
    def run_url(self) -> str:
        return self.run.airflow_url(self.settings)
