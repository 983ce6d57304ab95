"""Who is running and what a step needs: the run identity and the per-task step context.

Both are plain frozen dataclasses built once per task by the orchestration layer, so a step
takes one argument instead of a `config, settings, run, warehouse_url` tuple, and a unit test
builds them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from include.retraining.common.settings import Settings
from include.retraining.config.model import ModelConfig

if TYPE_CHECKING:
    from include.retraining.tracking.registry import Registry
    from include.retraining.tracking.tracker import Tracker


@dataclass(frozen=True)
class RunInfo:
    """Who is running: the orchestrator's identity of this run, passed in from outside."""

    dag_id: str
    run_id: str
    window_end: datetime
    trigger: str = "schedule"
    dry_run: bool = False
    # The Airflow user who approved this run's promotion (gate.approval: required), else None.
    approved_by: str | None = None
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
    """Everything a step reads besides its inputs: the model, where things live, who runs it,
    the warehouse it reads ("" for steps that never touch the warehouse) and the MLflow adapters.

    The adapters connect on first use (importing mlflow only then); a unit test passes fakes.
    """

    config: ModelConfig
    settings: Settings
    run: RunInfo
    warehouse_url: str = ""
    fake_tracker: Any = None
    fake_registry: Any = None

    @property
    def run_url(self) -> str:
        return self.run.airflow_url(self.settings)

    @cached_property
    def tracker(self) -> Tracker:
        if self.fake_tracker is not None:
            return self.fake_tracker
        from include.retraining.tracking.tracker import Tracker

        return Tracker.connect(self.settings)

    @cached_property
    def registry(self) -> Registry:
        if self.fake_registry is not None:
            return self.fake_registry
        from include.retraining.tracking.registry import Registry

        return Registry(self.tracker.client, self.config.name)
