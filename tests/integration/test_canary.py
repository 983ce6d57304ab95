"""The canary on simulated traffic, end to end on real parts: a real MLflow store holding three
versions of churn (a weak champion trained with its three strongest features shuffled, a truly
better one, one trained on shuffled labels), the REST app (FastAPI's test client over the real
followers and the inference log) writing to a PostgreSQL pipeline database, the labels arriving
in the source table there, and the monitor's own steps (its served-window read, its canary task's
step) deciding, the ended canary's alert through the real outbox.

The story: the gate passes the better version with `serving.canary` set; it goes on canary (no
move); a week of requests, 30% of rows answered by it; once labels arrive the monitor promotes
it (one `promote` row), and a rerun adds nothing. Then the no-skill version goes on canary against
the new champion; a week later it is ended (one `reject` row, alias removed, one alert)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.support import REPO, fresh_postgres_databases, registry
from tests.support_served import labels_arrive, log_version

if TYPE_CHECKING:
    from include.retraining.common import Settings
    from include.retraining.config import ModelConfig

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, tzinfo=UTC)
WEEK = timedelta(days=7)
FIRST = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 9, tzinfo=UTC))
SECOND = (FIRST[1], FIRST[1] + WEEK)
FRACTION = 0.3
ROWS_PER_WEEK, ROWS_PER_REQUEST = 2000, 50
STRONG = ["tenure_months", "contract", "support_tickets_90d"]  # what the weak champion never learned


@dataclass
class World:
    settings: Settings
    config: ModelConfig
    url: str  # the pipeline database: predictions, source (labels), promotion log, outbox
    weak: str
    better: str
    worse: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from demo.churn_data import generate_snapshots
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config

    root = tmp_path_factory.mktemp("canary")
    config = yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text())
    config["serving"] = {"canary": {"fraction": FRACTION}}
    config["training"].update(estimator="logistic_regression", params={})  # a cheap fit; skill is the data's
    (root / "models").mkdir()
    (root / "models" / "churn.yaml").write_text(yaml.safe_dump(config))
    with fresh_postgres_databases("canary") as (url,), pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = load_settings(
            {"RETRAINING_DATA_DIR": str(root / "data"), "RETRAINING_MODELS_DIR": str(root / "models")}
        )
        config = load_model_config(root / "models" / "churn.yaml")
        train = generate_snapshots(3000, START, START + WEEK, seed=1)
        rng = np.random.default_rng(0)
        weak = train.assign(**{c: rng.permutation(train[c].to_numpy()) for c in STRONG})
        noise = train.assign(churned=rng.permutation(train["churned"].to_numpy()))
        versions = [log_version(settings, config, frame, seed) for seed, frame in enumerate((weak, train, noise))]
        registry("churn", settings).promote(versions[0], {})
        yield World(settings, config, url, *versions)


def _context(world: World, dag_id: str, run_id: str, window_end: datetime):
    from include.retraining.runs import RunInfo, StepContext
    from include.retraining.warehouse import Database, Warehouse

    run = RunInfo(dag_id, run_id, window_end)
    return StepContext.create(world.config, world.settings, run, Warehouse(world.url), Database(world.url))


def _gate_passes(world: World, version: str, champion: str) -> Any:
    """The retrain's promote step after a passing gate (apply_decision, as promote_or_block calls it)."""
    from include.retraining.promotion import Evaluated, apply_decision

    ctx = _context(world, "retrain_churn", f"manual__{version}", FIRST[0])
    evaluated = Evaluated(champion_version=champion, promote=True, reason="the gate passed", metric="roc_auc")
    return apply_decision(ctx, evaluated, version, FIRST[0], {})


def _traffic(world: World, week: tuple[datetime, datetime], seed: int) -> tuple[pd.DataFrame, list[str]]:
    """A week of requests through the app, the source rows kept beside them with labels not yet
    arrived; the rows and each request's X-Model-Version."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from demo.churn_data import generate_snapshots
    from serving.__main__ import build_canary, build_follower
    from serving.app import VERSION_HEADER, create_app
    from serving.inference_log import open_inference_log

    rows = generate_snapshots(ROWS_PER_WEEK, *week, seed=seed)
    engine = sa.create_engine(world.url)
    try:
        unlabelled = rows.assign(churned=pd.array([None] * len(rows), dtype="Int64"))
        unlabelled.to_sql("customer_snapshots", engine, if_exists="append", index=False)
    finally:
        engine.dispose()
    follower = build_follower(world.settings, "churn", "champion", 1.0)
    canary = build_canary(world.settings, world.config, "champion", 1.0)
    inference_log = open_inference_log(world.settings, world.config, {"SERVING_INFERENCE_LOG_DB": world.url})
    records = json.loads(rows.drop(columns=["churned"]).to_json(orient="records", date_format="iso"))
    versions = []
    app = create_app(follower, follow=False, inference_log=inference_log, canary=canary)
    with TestClient(app) as client:
        follower.poll_once()
        canary.follower.poll_once()
        for start in range(0, len(records), ROWS_PER_REQUEST):
            answer = client.post("/invocations", json={"dataframe_records": records[start : start + ROWS_PER_REQUEST]})
            assert answer.status_code == 200, answer.text
            versions.append(answer.headers[VERSION_HEADER])
    return rows, versions


def _monitor_canary(world: World, week: tuple[datetime, datetime], run_id: str, folder: Path) -> Any:
    """The monitor run a week after `week`: its served-window read, then its canary task's step."""
    from include.retraining.common import Window
    from include.retraining.monitor import CurrentWindow
    from include.retraining.monitor.served import served_windows
    from include.retraining.promotion import settle_canary_window

    matured = Window(*week)
    window = Window(matured.start + WEEK, matured.end + WEEK)
    ctx = _context(world, "monitor_churn", run_id, window.end)
    cur = CurrentWindow(window, matured, "", "", 0, 0, 0, 0, **served_windows(ctx, window, matured, folder))
    return settle_canary_window(ctx, cur.served_matured, cur.matured_window)


def _answered(world: World, week: tuple[datetime, datetime]) -> dict[tuple[str, bool], int]:
    """The week's REST rows by (version, answered): which version's score each client got."""
    import sqlalchemy as sa

    sql = (
        "SELECT model_version, answered, COUNT(*) AS n FROM churn_predictions WHERE source = 'rest'"
        " AND event_time > :start AND event_time <= :end GROUP BY 1, 2"
    )
    engine = sa.create_engine(world.url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(sql), {"start": week[0].replace(tzinfo=None), "end": week[1].replace(tzinfo=None)}
            )
            return {(row.model_version, bool(row.answered)): row.n for row in found}
    finally:
        engine.dispose()


def _log(world: World) -> list[tuple[str, str | None, str]]:
    from include.retraining.tables import history
    from include.retraining.warehouse import Database

    return [(r.action.value, r.from_version, r.to_version) for r in reversed(history(Database(world.url), "churn"))]


def _aliases(world: World) -> dict[str, str | None]:
    found = registry("churn", world.settings)
    return {alias: (v.version if (v := found.alias(alias)) else None) for alias in ("champion", "challenger")}


def test_a_truly_better_canary_is_promoted_once_its_labels_mature(world: World, tmp_path: Path) -> None:
    from include.retraining.promotion import CanaryOutcome, NoCanary

    applied = _gate_passes(world, world.better, world.weak)
    assert applied.canary and _aliases(world) == {"champion": world.weak, "challenger": world.better}

    rows, versions = _traffic(world, FIRST, seed=11)
    waiting = _monitor_canary(world, FIRST, "scheduled__1", tmp_path / "1")
    labels_arrive(world.url, rows)
    promoted = _monitor_canary(world, FIRST, "scheduled__2", tmp_path / "2")

    assert set(versions) == {f"{world.weak},{world.better}"}  # 50 rows a request: each has some of both
    answered = _answered(world, FIRST)  # every row answered once; each canary row paired with a shadow score
    canary_rows = answered[(world.better, True)]
    assert set(answered) == {(world.weak, True), (world.weak, False), (world.better, True)}
    assert answered[(world.weak, False)] == canary_rows and canary_rows + answered[(world.weak, True)] == ROWS_PER_WEEK
    assert waiting.outcome is CanaryOutcome.WAITING and "0 labelled pairs" in waiting.reason
    assert promoted.outcome is CanaryOutcome.PROMOTED, promoted.reason
    assert promoted.interval["lower"] > 0 and promoted.interval["rows"] == pytest.approx(
        FRACTION * ROWS_PER_WEEK, rel=0.15
    )
    assert _aliases(world) == {"champion": world.better, "challenger": None}
    assert _log(world) == [("promote", world.weak, world.better)]
    with pytest.raises(NoCanary):  # the next run: nothing on canary, nothing more in the log
        _monitor_canary(world, FIRST, "scheduled__3", tmp_path / "3")
    assert len(_log(world)) == 1


def test_a_truly_worse_canary_is_ended_with_one_alert(world: World, tmp_path: Path) -> None:
    from include.retraining.alerts import Outbox, deliver, read_alerts
    from include.retraining.promotion import CanaryOutcome, NoCanary
    from include.retraining.warehouse import Database

    champion = _aliases(world)["champion"]
    assert _gate_passes(world, world.worse, champion).canary
    rows, _ = _traffic(world, SECOND, seed=12)
    labels_arrive(world.url, rows)

    ended = _monitor_canary(world, SECOND, "scheduled__4", tmp_path / "4")
    outbox, sent = Outbox(Database(world.url)), []
    statuses = [deliver(outbox, ended.alert, "slack_alerts", lambda a, c: sent.append(a) or "test") for _ in (1, 2)]

    assert ended.outcome is CanaryOutcome.ENDED and ended.interval["upper"] < 0, ended.reason
    assert _aliases(world) == {"champion": champion, "challenger": None}
    assert _log(world)[-1] == ("reject", champion, world.worse) and len(_log(world)) == 2
    assert len(sent) == 1 and statuses == ["delivered", "delivered"]
    assert [a["dedup_key"] for a in read_alerts(outbox)] == [f"churn/canary/{world.worse}/ended"]
    with pytest.raises(NoCanary):
        _monitor_canary(world, SECOND, "scheduled__5", tmp_path / "5")
    assert len(_log(world)) == 2
