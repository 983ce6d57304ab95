"""Writes the pipeline database fixtures of tests/unit/tables/test_migrate.py and
tests/integration/test_migrate_postgres.py with the code of main at 3315f52, the last release
before migrations: run it from a checkout of that commit, e.g.

    git worktree add /tmp/at-3315f52 3315f52 && cd /tmp/at-3315f52 && \
    PYTHONPATH=$PWD python <this file> OUT_FOLDER [POSTGRES_URL]

It writes OUT_FOLDER/pipeline-3315f52.db (SQLite) and, given a PostgreSQL database URL,
fills that database; pipeline-3315f52.sql is its `pg_dump --no-owner --no-privileges --inserts`,
without the psql-only `\\restrict` lines.
"""

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from include.retraining.common import Window
from include.retraining.tables import (
    PromotionAction,
    PromotionRecord,
    append_once,
    replace_interval,
    replace_monitoring_row,
)
from include.retraining.warehouse import Database

END = datetime(2026, 3, 2, 3, tzinfo=UTC)


def _row(week: int, served: bool) -> dict:
    end = END + timedelta(weeks=week)
    row = {
        "model": "churn",
        "window_start": (end - timedelta(days=7)).replace(tzinfo=None),
        "window_end": end.replace(tzinfo=None),
        "airflow_run_id": f"scheduled__{end:%Y-%m-%dT%H:%M:%S}",
        "champion_version": "1",
        "rows_current": 1500,
        "rows_matured": 1500,
        "rows_current_read": 1500,
        "rows_matured_read": 1500,
        "sampled": False,
        "drift_share": 0.1 * week,
        "drifted_columns": "monthly_charges" if week else "",
        # The first row has no prediction PSI: pandas typed the column from it.
        "prediction_psi": None if week == 0 else 0.02,
        "metric": "roc_auc",
        "metric_holdout": 0.83,
        "metric_current": None if week == 0 else 0.8,
        "performance_drop": None if week == 0 else 0.03,
        "drift_detected": week == 2,
        "decision": "retrain" if week == 2 else "none",
        "reasons": "drift" if week == 2 else "",
        "report_path": f"/data/artifacts/churn/monitoring/{week}/drift_report.html",
        "drift_signature": "monthly_charges" if week == 2 else "",
        "mlflow_run_id": f"run{week}",
    }
    if served:  # the served-prediction columns, added to the table by a later row
        row |= {
            "prediction_source": "served",
            "performance_source": "served",
            "rows_served": 1400,
            "label_coverage": 0.9,
            "challenger_version": None,
            "challenger_metric": None,
            "champion_shadow_metric": None,
            "served_figures": "{}",
        }
    return row


def write(db: Database) -> None:
    for week in range(3):
        replace_monitoring_row(db, _row(week, served=week > 0))
    append_once(db, PromotionRecord("churn", "1", PromotionAction.PROMOTE, "first model", figures={"roc_auc": 0.83}))
    append_once(db, PromotionRecord("churn", "2", PromotionAction.PROMOTE, "better", "1", {"lower_bound": 0.01}))
    append_once(db, PromotionRecord("churn", "1", PromotionAction.ROLLBACK, "broken load", "2", actor="admin"))
    interval = Window(END - timedelta(days=1), END)
    times = pd.date_range(interval.start.replace(tzinfo=None), periods=5, freq="h") + timedelta(minutes=1)
    frame = pd.DataFrame(
        {
            "model": "churn",
            "model_version": "1",
            "alias": "champion",
            "id": [f"C{i}" for i in range(5)],
            "event_time": times,
            "score": np.linspace(0.1, 0.9, 5),
            "interval_start": interval.start.replace(tzinfo=None),
            "interval_end": interval.end.replace(tzinfo=None),
            "scored_at": END.replace(tzinfo=None),
            "run_id": "scheduled__2026-03-02",
        }
    )
    replace_interval(db, "churn_predictions", frame, "churn", interval)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    write(Database(f"sqlite:///{out / 'pipeline-3315f52.db'}"))
    if len(sys.argv) > 2:
        write(Database(sys.argv[2]))
