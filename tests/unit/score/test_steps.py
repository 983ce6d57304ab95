"""score_<model>'s steps against fakes of the registry and tracker and a real SQLite warehouse:
which versions a run pins, what is written, and what happens to a shadow challenger that cannot
be loaded or to rows that cannot be scored."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from include.retraining.common import Window, load_settings
from include.retraining.config import CanaryConfig, ScoringConfig, load_model_config
from include.retraining.runs import RunInfo, StepContext
from include.retraining.score import NoChampion, ScoringInputError, ShadowOutcome
from include.retraining.score import steps as score_steps
from include.retraining.tracking import DECISION_TAG, Champion, UnusableModelError
from include.retraining.warehouse import Warehouse, WarehouseError

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
RUN = RunInfo(dag_id="score_churn", run_id="r1", window_end=datetime(2026, 3, 2, 5, 30, tzinfo=UTC))
INTERVAL = Window(datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC))
SCORED_AT = datetime(2026, 3, 2, 6, tzinfo=UTC)


class Registry:
    def __init__(self, tags: dict[str, dict[str, str]] | None = None, **aliases: str) -> None:
        self.aliases = aliases
        self.tags = tags or {}  # version tags: the canary's decision tag

    def alias(self, name: str):
        version = self.aliases.get(name)
        tags = self.tags.get(version, {})
        return Champion(version, f"run-{version}", f"models:/churn@{name}", tags) if version else None

    def champion(self):
        return self.alias("champion")


class Model:
    feature_names_in_ = np.array(CONFIG.features.columns, dtype=object)

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.tile([1 - self.value, self.value], (len(frame), 1))


class Tracker:
    def __init__(self, broken: tuple[str, ...] = ()) -> None:
        self.broken = broken

    def load_model(self, uri: str):
        version = uri.rsplit("/", 1)[1]
        if version in self.broken:
            raise UnusableModelError(f"{uri}: corrupt")
        return Model(float(version) / 10)


def _warehouse(tmp_path: Path, ids: list[str | None]) -> Warehouse:
    """The source table with one row per id inside the interval, and one after it."""
    times = pd.date_range("2026-03-01 05:00", periods=len(ids), freq="h")
    rows = pd.DataFrame({"customer_id": [*ids, "later"], "snapshot_at": [*times, pd.Timestamp("2026-03-02 05:00")]})
    rows = rows.assign(**{c: 1.0 for c in CONFIG.features.columns})
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    warehouse.replace_rows(CONFIG.source.table, rows, "1 = 1", {})
    return warehouse


def _ctx(
    registry: Registry,
    tracker: Tracker | None = None,
    warehouse: Warehouse | None = None,
    source: object = CONFIG.source,
    **scoring: object,
) -> StepContext:
    config = CONFIG.model_copy(
        update={"source": source, "scoring": ScoringConfig(**{"schedule": "0 4 * * *", **scoring})}
    )
    settings = load_settings({"RETRAINING_DATA_DIR": "/nonexistent"})
    return StepContext(config, settings, RUN, tracker or Tracker(), registry, warehouse, warehouse)


def _written(warehouse: Warehouse) -> pd.DataFrame:
    with warehouse.engine(read_only=True) as engine, engine.connect() as conn:
        return pd.read_sql(sa.text("SELECT * FROM churn_predictions ORDER BY alias, id"), conn)


def test_plan_pins_the_grid_interval_and_both_versions() -> None:
    planned = score_steps.plan(_ctx(Registry(champion="3", challenger="4"), shadow=True))

    assert planned.interval == INTERVAL
    assert (planned.champion, planned.challenger, planned.shadow) == ("3", "4", ShadowOutcome.SCORED)
    assert planned.table == "churn_predictions"


def test_plan_writes_to_the_configured_output_table() -> None:
    planned = score_steps.plan(_ctx(Registry(champion="3"), output_table="analytics.churn_scores"))

    assert planned.table == "analytics.churn_scores"


@pytest.mark.parametrize(
    ("aliases", "shadow", "expected"),
    [
        ({"champion": "3", "challenger": "4"}, False, ShadowOutcome.OFF),
        ({"champion": "3"}, True, ShadowOutcome.NONE),
        ({"champion": "3", "challenger": "3"}, True, ShadowOutcome.NONE),  # promoted: no shadow of itself
    ],
)
def test_no_shadow_without_the_setting_or_another_challenger(aliases, shadow, expected) -> None:
    planned = score_steps.plan(_ctx(Registry(**aliases), shadow=shadow))

    assert planned.challenger is None and planned.shadow == expected


def test_no_champion_stops_the_run_with_the_reason() -> None:
    with pytest.raises(NoChampion, match="no alias `champion`"):
        score_steps.plan(_ctx(Registry(challenger="4"), shadow=True))


def test_both_aliases_score_the_intervals_rows_into_the_table(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path, ["a", "b"])
    ctx = _ctx(Registry(champion="3", challenger="4"), warehouse=warehouse, shadow=True)

    result = score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)

    written = _written(warehouse)
    assert result.rows == 4 and result.shadow == ShadowOutcome.SCORED and result.interval == INTERVAL
    assert [(s.alias.value, s.version, s.rows) for s in result.scored] == [("champion", "3", 2), ("challenger", "4", 2)]
    assert written["alias"].tolist() == ["challenger", "challenger", "champion", "champion"]
    assert written["score"].tolist() == pytest.approx([0.4, 0.4, 0.3, 0.3]) and "later" not in set(written["id"])


def test_an_unusable_challenger_leaves_the_champion_scoring_alone(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path, ["a", "b"])
    ctx = _ctx(Registry(champion="3", challenger="4"), Tracker(broken=("4",)), warehouse, shadow=True)

    result = score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)

    written = _written(warehouse)
    assert result.shadow == ShadowOutcome.UNUSABLE and "challenger version 4" in result.shadow_error
    assert result.rows == 2 and set(written["alias"]) == {"champion"}
    assert written["score"].tolist() == pytest.approx([0.3, 0.3])


def test_a_null_id_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path, ["a", None])
    ctx = _ctx(Registry(champion="3"), warehouse=warehouse)

    with pytest.raises(ScoringInputError, match="1 row.*no 'customer_id'"):
        score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)

    assert not warehouse.has_table("churn_predictions")


def test_rows_without_a_time_are_counted_and_too_many_stop_the_run_naming_the_column(tmp_path: Path) -> None:
    """Rows with a NULL time belong to no interval, so they would never be scored: as extract and
    the monitor do, scoring counts them over its source and refuses above the allowed share."""
    warehouse = _warehouse(tmp_path, ["a", "b"])
    with warehouse.engine() as engine, engine.begin() as conn:
        conn.execute(sa.text("UPDATE customer_snapshots SET snapshot_at = NULL WHERE customer_id = 'later'"))
    ctx = _ctx(Registry(champion="3"), warehouse=warehouse)

    with pytest.raises(ScoringInputError, match=r"1 of 3 rows .*'snapshot_at'.*score_churn reads its rows from"):
        score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)
    assert not warehouse.has_table("churn_predictions")

    lenient = CONFIG.source.model_copy(update={"max_null_timestamp_share": 0.5})
    ctx = _ctx(Registry(champion="3"), warehouse=warehouse, source=lenient)
    assert score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT).rows == 2


def test_a_refused_scoring_query_names_where_the_rows_came_from(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path, ["a"])
    ctx = _ctx(Registry(champion="3"), warehouse=warehouse, query="SELECT * FROM no_such_table")

    with pytest.raises(ScoringInputError, match=r"no such table.*score_churn reads its rows from `scoring.query`"):
        score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)


def test_text_in_a_numeric_column_stops_the_run_under_fail_and_is_counted_under_impute(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path, ["a", "b", "c"])
    others = ", ".join(c for c in CONFIG.features.columns if c != "tenure_months")
    # SQLite keeps each value's own type: text in one row of an otherwise numeric column.
    query = (
        "SELECT customer_id, snapshot_at, CASE WHEN customer_id = 'b' THEN 'twelve' ELSE tenure_months END "
        f"AS tenure_months, {others} FROM customer_snapshots"
    )
    strict = _ctx(Registry(champion="3"), warehouse=warehouse, query=query, nulls="fail")
    lenient = _ctx(Registry(champion="3"), warehouse=warehouse, query=query)

    with pytest.raises(ScoringInputError, match=r"'churn'.*\{'tenure_months': 1\}.*text, not a number.*fail") as err:
        score_steps.score(strict, score_steps.plan(strict), SCORED_AT)
    refused_table = warehouse.has_table("churn_predictions")
    result = score_steps.score(lenient, score_steps.plan(lenient), SCORED_AT)

    assert "twelve" not in str(err.value) and not refused_table
    assert result.rows == 3 and result.scored[0].invalid == {"tenure_months": 1} and result.scored[0].nulls == {}
    assert result.to_xcom()["scored"][0]["invalid"] == {"tenure_months": 1}


def test_rows_older_than_the_retention_before_the_interval_are_deleted_after_the_write(tmp_path: Path) -> None:
    days = CONFIG.training.label_delay_days + CONFIG.monitor.window_days + 1
    old, kept = (Window(INTERVAL.start - timedelta(days=d), INTERVAL.end - timedelta(days=d)) for d in (days, days - 1))
    times = [w.start + timedelta(hours=1) for w in (old, kept, INTERVAL)]
    rows = pd.DataFrame({"customer_id": ["o", "k", "n"], "snapshot_at": [t.replace(tzinfo=None) for t in times]})
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'wh.db'}")
    warehouse.replace_rows(CONFIG.source.table, rows.assign(**{c: 1.0 for c in CONFIG.features.columns}), "1 = 1", {})
    ctx = _ctx(Registry(champion="3"), warehouse=warehouse)
    retention = CONFIG.retention.model_copy(update={"predictions_days": days})
    ctx = replace(ctx, config=ctx.config.model_copy(update={"retention": retention}))
    for window in (old, kept):
        assert score_steps.score(ctx, replace(score_steps.plan(ctx), interval=window), SCORED_AT).pruned == 0

    result = score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)

    assert result.pruned == 1  # `old` ended `days` days before this interval ended
    assert _written(warehouse)["id"].tolist() == ["k", "n"]


def test_the_retention_of_predictions_must_outlive_the_labels_and_a_monitoring_window() -> None:
    needed = CONFIG.training.label_delay_days + CONFIG.monitor.window_days
    data = CONFIG.model_dump() | {"retention": {"predictions_days": needed}}

    with pytest.raises(ValueError, match=rf"retention.predictions_days \({needed}\) must exceed"):
        type(CONFIG).model_validate(data)


def test_a_serving_role_is_granted_append_after_the_write_and_refused_by_name_where_roles_are_not(
    tmp_path: Path,
) -> None:
    """On PostgreSQL the grant is tested with a real role (tests/unit/inference/test_writer.py); on
    SQLite the score step names the setting, before it writes, rather than leave the server unable to write."""
    warehouse = _warehouse(tmp_path, ["a"])
    ctx = _ctx(Registry(champion="3"), warehouse=warehouse)
    ctx = replace(ctx, settings=replace(ctx.settings, serving_db_role="serving"))

    with pytest.raises(WarehouseError, match="RETRAINING_SERVING_DB_ROLE='serving'"):
        score_steps.score(ctx, score_steps.plan(ctx), SCORED_AT)

    assert _written(warehouse).empty  # refused before anything was written


def _on_canary(ctx: StepContext, fraction: float = 0.5) -> StepContext:
    serving = ctx.config.serving.model_copy(update={"canary": CanaryConfig(fraction=fraction)})
    return replace(ctx, config=ctx.config.model_copy(update={"serving": serving}))


@pytest.mark.parametrize("shadow", [False, True])
def test_a_version_on_canary_answers_its_share_of_the_batch_by_the_servers_rule(tmp_path: Path, shadow) -> None:
    from include.retraining.score import canary_rows

    ids = [f"c{i}" for i in range(20)]
    warehouse = _warehouse(tmp_path, ids)
    registry = Registry({"4": {DECISION_TAG: "canary"}}, champion="3", challenger="4")
    ctx = _on_canary(_ctx(registry, warehouse=warehouse, shadow=shadow))

    planned = score_steps.plan(ctx)
    score_steps.score(ctx, planned, SCORED_AT)

    written = _written(warehouse)
    expected = canary_rows(pd.DataFrame({"customer_id": ids}), "customer_id", 0.5, lambda: 1.0)
    champion, canary = (written[written["alias"] == a].set_index("id").loc[ids] for a in ("champion", "challenger"))
    assert (planned.challenger, planned.canary) == ("4", 0.5) and 0 < expected.sum() < len(ids)
    assert canary["answered"].astype(bool).tolist() == expected.tolist()
    assert champion["answered"].astype(bool).tolist() == (~expected).tolist()


def test_a_blocked_challenger_is_no_canary_and_without_shadow_is_not_scored(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path, ["a", "b"])
    registry = Registry({"4": {DECISION_TAG: "block"}}, champion="3", challenger="4")
    ctx = _on_canary(_ctx(registry, warehouse=warehouse))

    planned = score_steps.plan(ctx)
    score_steps.score(ctx, planned, SCORED_AT)

    assert (planned.challenger, planned.canary, planned.shadow) == (None, None, ShadowOutcome.OFF)
    assert set(_written(warehouse)["alias"]) == {"champion"} and _written(warehouse)["answered"].isna().all()
