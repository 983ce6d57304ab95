"""One replayed run of `monitor_<model>`, `retrain_<model>` or `rollback_<model>`: the real steps,
chained as the DAGs chain them (include/orchestration/{monitor,retrain,rollback}_tasks.py), on a
step context of the backtest's isolated namespace. An alert a step returns is recorded, never
delivered.

Each run returns a plain dict, the journal line the report and the summary read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.retraining.common import Settings
from include.retraining.config import ModelConfig
from include.retraining.runs import RunInfo, StepContext
from include.retraining.warehouse import Database, Warehouse

# `<model>__backtest`: the registered model, experiment, artifact folder and tables of a backtest
# can never be taken for the production model's, even in a shared MLflow store.
SUFFIX = "__backtest"
ACTOR = "backtest"
# Who a replayed rollback by hand is logged as, in the isolated promotion log.
HAND_ACTOR = "backtest (replayed by hand)"


def backtest_name(model: str) -> str:
    return f"{model}{SUFFIX}"


@dataclass
class Isolated:
    """Where a backtest reads and writes: the production source (read only; `earlier`, the source
    as it was before each time, oldest first), and everything else in its own folder: an MLflow
    store, the pipeline's tables in a SQLite file, the artifacts."""

    config: ModelConfig
    settings: Settings
    warehouse: Warehouse
    pipeline_db: Database
    earlier: tuple[tuple[datetime, Warehouse], ...] = ()
    _mlflow: tuple[Any, Any] | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(
        cls,
        config: ModelConfig,
        settings: Settings,
        source: Warehouse,
        out: Path,
        earlier: tuple[tuple[datetime, Warehouse], ...] = (),
    ) -> Isolated:
        from include.retraining.tables import upgrade_schema

        out = out.resolve()
        out.mkdir(parents=True, exist_ok=True)
        own = replace(
            settings,
            data_dir=out,
            artifact_root=out / "artifacts",
            tracking_uri=f"sqlite:///{out / 'mlflow.db'}",
            pipeline_default_url=f"sqlite:///{out / 'pipeline.db'}",
            alerts_file=out / "alerts.jsonl",
        )
        pipeline_db = Database(own.pipeline_default_url)
        upgrade_schema(pipeline_db)
        renamed = config.model_copy(update={"name": backtest_name(config.name)})
        return cls(renamed, own, source, pipeline_db, tuple(sorted(earlier, key=lambda pair: pair[0])))

    def source_at(self, at: datetime) -> Warehouse:
        """The source a run at `at` reads: the earliest state given for a time after `at`, else the
        model's connection as it is now."""
        return next((warehouse for until, warehouse in self.earlier if at < until), self.warehouse)

    def context(self, dag_id: str, at: datetime, trigger: str, tag: str = "") -> StepContext:
        run = RunInfo(dag_id, f"backtest__{at:%Y%m%dT%H%M%S}{tag}", at, trigger=trigger, actor=ACTOR)
        tracker, registry = self.mlflow()
        return StepContext(self.config, self.settings, run, tracker, registry, self.source_at(at), self.pipeline_db)

    def mlflow(self) -> tuple[Any, Any]:
        """One tracker and registry for every run: each new client opens the store again (~1 s)."""
        if self._mlflow is None:
            created = StepContext.create(self.config, self.settings, _idle())
            self._mlflow = (created.tracker, created.registry)
        return self._mlflow

    def champion(self) -> dict[str, str] | None:
        """The isolated registered model's champion: version and the URI of that version."""
        champion = self.mlflow()[1].champion()
        return None if champion is None else {"version": str(champion.version), "uri": champion.model_uri}

    def tracker(self) -> Any:
        """The isolated MLflow store's tracker, trusting the model file's types as the steps do."""
        return self.mlflow()[0]


def _idle() -> RunInfo:
    """The run of a context built only for its MLflow adapters (no step runs in it)."""
    return RunInfo("backtest", "backtest", datetime(2000, 1, 1, tzinfo=UTC), actor=ACTOR)


def _alerts(*alerts: Any) -> list[dict[str, str]]:
    return [{"kind": a.kind, "title": a.title, "text": "; ".join(a.lines)} for a in alerts if a is not None]


def monitor_run(iso: Isolated, at: datetime) -> dict[str, Any]:
    """monitor_<model> at `at`: reference, current, seasonal reference, data drift, performance,
    decide (no retrain running: the backtest runs one thing at a time), report, the degradation
    alerts, and trigger when the decision says so."""
    from include.retraining import monitor
    from include.retraining.alerts import drift_alert, gate_key
    from include.retraining.degradation import degradation_alerts

    started = time.monotonic()
    ctx = iso.context(iso.config.monitor_dag_id, at, "schedule")
    try:
        ref = monitor.reference(ctx)
        cur = monitor.current(ctx, ref)
        drift = monitor.data_drift(ctx, ref, cur, monitor.seasonal_reference(ctx, cur))
        perf = monitor.performance(ctx, ref, cur)
    except monitor.MonitoringSkipped as exc:
        return {"kind": "monitor", "at": at.isoformat(), "outcome": "skipped", "reasons": [str(exc)],
                "seconds": time.monotonic() - started}  # fmt: skip
    decision = monitor.decide(ctx, drift, perf, False)
    results = monitor.MonitoringResults(ref=ref, cur=cur, drift=drift, perf=perf, decision=decision)
    monitor.report(ctx, results)
    alerts = degradation_alerts(ctx, results, {})
    event = None
    if decision.retrain:
        event = monitor.drift_event(ctx, cur, drift, decision)
        key = gate_key(ctx.run.dag_id, ctx.run.run_id, "drift")
        alerts.append(drift_alert(iso.config.name, decision.to_dict(), drift.to_xcom(), {}, key))
        monitor.mark_triggered(ctx, cur)
    return {
        "kind": "monitor",
        "at": at.isoformat(),
        "outcome": decision.outcome.value,
        "champion_version": ref.version,
        "drift_detected": decision.drift_detected,
        "trigger": decision.retrain,
        "reasons": list(decision.reasons),
        "blocked_by": decision.blocked_by,
        "drifted_columns": list(drift.drifted_columns),
        "drift_share": drift.summary.drift_share,
        "prediction_psi": drift.prediction_psi,
        "metric_matured": perf.current_value,
        "drift_window_end": event.window_end if event else None,
        "drift_reason": event.reason if event else None,
        "alerts": _alerts(*alerts),
        "seconds": time.monotonic() - started,
    }


def retrain_run(iso: Isolated, at: datetime, trigger: str) -> dict[str, Any]:
    """retrain_<model> over the window ending `at`: extract, validate, train, evaluate, promote.
    A step that stops the DAG run (no rows, failed validation, untrainable rows) ends the record
    with its reason and the alert it would have sent."""
    from include.retraining import retrain
    from include.retraining.alerts import extraction_stopped_alert, validation_failed_alert
    from include.retraining.learning import DataValidationError, TrainingDataError
    from include.retraining.warehouse import WarehouseError

    started = time.monotonic()
    drift = trigger.startswith("drift")
    ctx = iso.context(iso.config.retrain_dag_id, at, trigger, "__drift" if drift else "")
    record: dict[str, Any] = {"kind": "retrain", "at": at.isoformat(), "trigger": "drift" if drift else "schedule"}
    name, key = iso.config.name, ctx.run.dedup_prefix
    try:
        extracted = retrain.extract(ctx)
        retrain.validate(ctx, extracted)
        trained = retrain.train(ctx, extracted)
    except (TrainingDataError, WarehouseError) as exc:
        alert = extraction_stopped_alert(name, str(exc), {}, f"{key}/extract")
        return {**record, "outcome": "stopped", "reason": str(exc), "alerts": _alerts(alert),
                "seconds": time.monotonic() - started, "train_seconds": time.monotonic() - started}  # fmt: skip
    except DataValidationError as exc:
        alert = validation_failed_alert(name, exc.report.summary(), {}, f"{key}/validate")
        return {**record, "outcome": "validation_failed", "reason": exc.report.summary(), "alerts": _alerts(alert),
                "seconds": time.monotonic() - started, "train_seconds": time.monotonic() - started}  # fmt: skip
    train_seconds = time.monotonic() - started
    evaluated, unusable = retrain.evaluate(ctx, extracted, trained)
    promotion, blocked = retrain.promote(ctx, extracted, trained, evaluated, None)
    return {
        **record,
        "outcome": promotion.action.value,
        "reason": promotion.reason,
        "version": promotion.version,
        "run_id": trained.run_id,
        "reused": trained.reused,
        "model_uri": trained.model_uri,
        "rows": extracted.rows,
        "gate": _gate(evaluated),
        "alerts": _alerts(unusable, blocked),
        "train_seconds": train_seconds,
        "seconds": time.monotonic() - started,
    }


def _gate(evaluated: Any) -> dict[str, Any]:
    interval = evaluated.interval or {}
    return {
        "promote": evaluated.promote,
        "reason": evaluated.reason,
        "compared_with": evaluated.compared_with,
        "challenger_value": evaluated.challenger_value,
        "champion_value": evaluated.champion_value,
        "difference": interval.get("difference"),
        "lower": interval.get("lower"),
        "upper": interval.get("upper"),
    }


def rollback_run(iso: Isolated, at: datetime, reason: str) -> dict[str, Any]:
    """rollback_<model> triggered by hand at `at` with `reason` and no `to_version`: `champion` back
    to `previous_champion` through `rollback.roll_back`, its promotion log row (actor HAND_ACTOR)
    first. A refused rollback (no champion, nothing to go back to) moves nothing, with its reason,
    as the DAG run would fail."""
    from include.retraining.rollback import RollbackRefused, RollbackRequest, roll_back, rolled_back_alert

    started = time.monotonic()
    ctx = iso.context(iso.config.rollback_dag_id, at, "manual", "__rollback")
    record: dict[str, Any] = {"kind": "rollback", "at": at.isoformat(), "trigger": "by hand"}
    try:
        done = roll_back(ctx, RollbackRequest(to_version=None, reason=reason, actor=HAND_ACTOR))
    except RollbackRefused as exc:
        return {**record, "outcome": "refused", "reason": str(exc), "alerts": [], "seconds": time.monotonic() - started}
    return {
        **record,
        "outcome": "rolled_back",
        "reason": done.reason,
        "from_version": done.from_version,
        "version": done.to_version,
        "actor": done.actor,
        "alerts": _alerts(rolled_back_alert(ctx, done)),
        "seconds": time.monotonic() - started,
    }
