"""`training.sample_rows` on a PostgreSQL table whose window is larger than the worker's memory
budget: extract, validate and train run in one worker process whose peak memory (beyond its
imports) stays inside the budget, while validation still judges every row of the window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.support import PG_ADMIN_URL, REPO, postgres_databases, service_unavailable

pytestmark = pytest.mark.integration

ROWS = 500_000
SAMPLE_ROWS = 10_000
# The worker's budget for data, beyond what its libraries take: the whole window as a DataFrame
# is asserted to be larger than this, the run's peak is asserted to stay below it.
BUDGET_MB = 64
WINDOW_END = "2026-02-12T00:00:00+00:00"  # churn.yaml: rows in (end - 42 days, end - 7 days]
BROKEN_SHARE = 0.08  # of rows with region 'North' (not an allowed category), above new_category_share 0.05

LOAD = f"""
CREATE TABLE customer_snapshots AS
SELECT 'c' || lpad(g::text, 9, '0') AS customer_id,
       timestamp '2026-01-01 00:00:10' + g * interval '6 seconds' AS snapshot_at,
       (g % 73) AS tenure_months,
       20 + (g % 997) / 10.0 AS monthly_charges,
       CAST(g % 5 AS double precision) AS support_tickets_90d,
       (ARRAY['month_to_month', 'one_year', 'two_year'])[1 + g % 3] AS contract,
       (ARRAY['electronic_check', 'mailed_check', 'bank_transfer', 'credit_card'])[1 + g % 4] AS payment_method,
       CASE WHEN g % 1000 < {int(BROKEN_SHARE * 1000)} THEN 'North'
            ELSE (ARRAY['north', 'south', 'east', 'west'])[1 + (g / 7) % 4] END AS region,
       CASE WHEN (g::bigint * 7919) % 100 < 20 + (g % 3) * 10 THEN 1 ELSE 0 END AS churned
FROM generate_series(1, {ROWS}) AS g;
CREATE INDEX ON customer_snapshots (snapshot_at);
"""

WORKER = """
import json, sys, gc
from datetime import datetime
from pathlib import Path
import great_expectations, mlflow.sklearn, sklearn.ensemble, skops.io, pandas as pd  # the worker's libraries
from include.retraining import retrain as retrain_steps
from include.retraining.artifacts import read_snapshot
from include.retraining.common import load_settings
from include.retraining.config import load_model_config
from include.retraining.learning import DataValidationError
from include.retraining.runs import RunInfo, StepContext
from include.retraining.warehouse import Warehouse

def status_mb(key):
    return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) / 1024

def step(name, call):
    # Each step's peak over the process's size when it starts (libraries already loaded by
    # earlier steps included): VmHWM reset to the current size first.
    gc.collect()
    open("/proc/self/clear_refs", "w").write("5")
    before = status_mb("VmRSS")
    try:
        return call()
    finally:
        out["peak_mb"][name] = status_mb("VmHWM") - before

url, models = sys.argv[1], Path(sys.argv[2])
strict = load_model_config(models / "churn.yaml")
strict = strict.model_copy(update={"training": strict.training.model_copy(update={"sample_rows": SAMPLE_ROWS})})
# The run that trains tolerates the new region name; the strict one (churn.yaml's 5%) refuses it.
tolerant = strict.model_copy(update={"validation": strict.validation.model_copy(update={"new_category_share": 0.2})})
run = RunInfo("retrain_churn", "test", datetime.fromisoformat("WINDOW_END"))
ctx = StepContext.create(tolerant, load_settings(), run, Warehouse(url))
out = {"peak_mb": {}}
extracted = step("extract", lambda: retrain_steps.extract(ctx))
out.update(rows=extracted.rows, sample_bytes=int(read_snapshot(extracted.path).memory_usage(deep=True).sum()))
out["validation"] = step("validate", lambda: retrain_steps.validate(ctx, extracted)).evaluated
out["trained"] = step("train", lambda: retrain_steps.train(ctx, extracted)).run_id
try:
    retrain_steps.validate(StepContext.create(strict, ctx.settings, run, Warehouse(url)), extracted)
except DataValidationError as exc:
    out["failed"] = [[f.expectation, f.column, f.detail] for f in exc.report.failed]
print(json.dumps(out))
""".replace("SAMPLE_ROWS", str(SAMPLE_ROWS)).replace("WINDOW_END", WINDOW_END)


@pytest.fixture(scope="module")
def big_warehouse() -> Iterator[str]:
    name = f"wh_sample_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(name)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means it is not there
        service_unavailable(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    import sqlalchemy as sa

    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = sa.create_engine(url)
    try:
        raw = engine.raw_connection()
        try:
            raw.cursor().execute(LOAD)  # no parameters: psycopg2 leaves the SQL's % alone
            raw.commit()
        finally:
            raw.close()
        engine.dispose()
        yield url
    finally:
        postgres_databases(name, drop=True)


@pytest.fixture(scope="module")
def worker(big_warehouse: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One worker process: extract, validate and train with sample_rows, then a strict validate."""
    tmp_path = tmp_path_factory.mktemp("sample_rows")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RETRAINING_DATA_DIR": str(tmp_path / "data"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "RETRAINING_FIT_THREADS": "1",
        "GX_ANALYTICS_ENABLED": "False",
    }
    args = [sys.executable, "-c", WORKER, big_warehouse, str(REPO / "include" / "models")]
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_sampled_window_trains_inside_the_memory_budget(worker: dict) -> None:
    window_mb = worker["sample_bytes"] * ROWS / worker["rows"] / 2**20

    assert abs(worker["rows"] - SAMPLE_ROWS) < SAMPLE_ROWS * 0.1, worker
    assert window_mb > BUDGET_MB, f"the whole window ({window_mb:.0f} MB) must not fit the budget"
    assert max(worker["peak_mb"].values()) < BUDGET_MB, worker
    assert worker["trained"] and worker["validation"] > 0


def test_validation_judges_every_row_of_the_window_in_the_warehouse(worker: dict) -> None:
    whole = [(f[0], f[1]) for f in worker["failed"] if f[2].startswith("whole window")]

    assert whole == [("expect_column_values_to_be_in_set", "region")]
