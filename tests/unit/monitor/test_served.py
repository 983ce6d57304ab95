"""Monitoring what was served: the performance figures per version and beside a shadow challenger
(against served rows made here), the labels section of the model file, and the join of served
predictions with late labels on real SQLite databases: the predictions in the warehouse itself
(one SQL join), and in a pipeline database of their own (the labels read apart, joined here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demo.churn_data import load_window
from include.retraining.config import GateConfig, ModelConfigError, load_model_config, parse_model_config
from include.retraining.monitor import CurrentWindow
from include.retraining.monitor import served as monitor_served
from include.retraining.predictions import PREDICTED_CLASS, PROBABILITIES, read_served, read_served_with_labels
from include.retraining.warehouse import Database, Warehouse, WarehouseError
from tests.support_served import predictions_for, write_predictions
from tests.unit.monitor.fakes import CHURN, END, current_window, drift_result, ref, sqlite_url

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(5)


@pytest.fixture(scope="module")
def config():
    return load_model_config(CHURN)


def _served(alias: str, version: str, n: int, labelled: float, skill: float, start: int = 0) -> pd.DataFrame:
    """n served rows whose scores separate the labels by `skill`; a share `labelled` has its label."""
    label = RNG.integers(0, 2, n).astype(float)
    score = np.clip(0.5 + skill * (label - 0.5) + RNG.normal(0, 0.25, n), 0, 1)
    label[int(n * labelled) :] = np.nan
    times = pd.date_range("2026-03-16", periods=n, freq="min")
    ids = [f"C{i}" for i in range(start, start + n)]
    frame = {"model_version": version, "alias": alias, "id": ids, "event_time": times, "score": score, "label": label}
    return pd.DataFrame(frame)


def _cur(tmp_path: Path, frame: pd.DataFrame) -> CurrentWindow:
    path = tmp_path / "served_matured.parquet"
    frame.to_parquet(path, index=False)
    return current_window(served_matured=str(path))


def test_nothing_served_falls_back_to_rescoring(config):
    nothing = current_window(served_current=None, served_matured=None)

    assert monitor_served.served_performance(config, ref(["x"]), nothing) is None
    assert monitor_served.served_scores(nothing, ref(["x"])) is None


def test_performance_only_where_label_coverage_suffices(config, tmp_path):
    few = _cur(tmp_path, _served("champion", "3", 2000, labelled=0.3, skill=0.6))

    perf = monitor_served.served_performance(config, ref(["x"]), few)

    assert perf.source == "served" and perf.coverage == pytest.approx(0.3)
    assert perf.current_value is None and perf.drop is None
    assert "coverage 0.30 < labels.min_coverage=0.5" in perf.note

    enough = _cur(tmp_path, _served("champion", "3", 2000, labelled=0.8, skill=0.6))
    perf = monitor_served.served_performance(config, ref(["x"]), enough)

    assert perf.coverage == pytest.approx(0.8) and perf.rows == 1600
    assert perf.current_value > 0.8 and perf.drop == pytest.approx(0.8 - perf.current_value)


def test_a_version_that_served_nothing_is_never_credited(config, tmp_path):
    # The window was served by version 2; the champion is now version 3.
    cur = _cur(tmp_path, _served("champion", "2", 2000, labelled=1.0, skill=0.6))

    perf = monitor_served.served_performance(config, ref(["x"]), cur)

    assert perf.current_value is None and perf.rows == 0
    assert "version 3 served nothing" in perf.note
    ((version),) = perf.versions
    assert version.version == "2" and version.value > 0.8 and version.rows == 2000


def test_each_version_is_measured_on_its_own_rows_only(config, tmp_path):
    old = _served("champion", "2", 1000, labelled=1.0, skill=0.1)
    new = _served("champion", "3", 1000, labelled=1.0, skill=0.7, start=1000)

    perf = monitor_served.served_performance(config, ref(["x"]), _cur(tmp_path, pd.concat([old, new])))

    figures = {f.version: f for f in perf.versions}
    assert figures["2"].rows == figures["3"].rows == 1000 and perf.rows == 1000
    assert perf.current_value == figures["3"].value > figures["2"].value
    assert perf.rows_served == 2000


def test_a_shadow_challenger_is_set_beside_the_champion_on_the_same_rows(config, tmp_path):
    champion = _served("champion", "3", 1500, labelled=0.9, skill=0.6)
    challenger = champion.assign(alias="challenger", model_version="4", score=RNG.uniform(0, 1, 1500))

    perf = monitor_served.served_performance(config, ref(["x"]), _cur(tmp_path, pd.concat([champion, challenger])))

    (shadow,) = perf.shadow
    assert shadow.challenger_version == "4" and shadow.champion_versions == ["3"] and shadow.rows == 1350
    assert shadow.champion_value > 0.8 > 0.6 > shadow.challenger_value
    assert perf.coverage == pytest.approx(0.9)  # the champion's rows only
    columns = monitor_served.record_columns(drift_result([]), perf)
    assert columns["challenger_version"] == "4" and columns["challenger_metric"] == shadow.challenger_value
    metrics = monitor_served.record_metrics(perf)
    assert {"label_coverage", "served.champion.v3.roc_auc", "shadow.v4.challenger_roc_auc"} <= set(metrics)


def test_served_scores_are_the_monitored_versions_only(tmp_path):
    served = pd.concat([_served("champion", "2", 10, 1, 0.5), _served("champion", "3", 5, 1, 0.5)])
    served.to_parquet(tmp_path / "served.parquet")

    cur = current_window(served_current=str(tmp_path / "served.parquet"))

    scores = monitor_served.served_scores(cur, ref(["x"]))

    np.testing.assert_array_equal(scores, served["score"].to_numpy()[10:])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"id_column": "customer_id"}, "need labels.table"),
        ({"table": "labels", "column": "y", "min_coverage": 0}, "min_coverage"),
    ],
)
def test_a_bad_labels_section_names_the_key(labels, message):
    import yaml

    raw = yaml.safe_load(CHURN.read_text())
    with pytest.raises(ModelConfigError, match=message):
        parse_model_config({**raw, "labels": labels}, "churn.yaml")


@pytest.fixture
def warehouse(tmp_path: Path) -> Database:
    return Database(sqlite_url(tmp_path))


@dataclass(frozen=True)
class Place:
    """Where the predictions are (`pipeline_url`) and where the labels arrive (`warehouse`)."""

    warehouse: Warehouse
    pipeline_url: str

    def read(self, config, start: datetime, end: datetime) -> pd.DataFrame:
        return read_served_with_labels(Database(self.pipeline_url), config, start, end, labels=self.warehouse)


@pytest.fixture(params=["one database", "a pipeline database apart"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """Every label join twice: one SQL join, and predictions and labels read apart and joined here."""
    apart = request.param != "one database"
    return Place(
        Warehouse(sqlite_url(tmp_path)), f"sqlite:///{tmp_path / 'pipeline.db'}" if apart else sqlite_url(tmp_path)
    )


def _load(db: Database, table: str, frame: pd.DataFrame) -> None:
    """A table as an upstream load leaves it (the labels relation)."""
    with db.engine() as engine:
        frame.to_sql(table, engine, index=False)


def _source(n: int) -> pd.DataFrame:
    times = pd.date_range(END.replace(tzinfo=None) - timedelta(days=6), periods=n, freq="h")
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "snapshot_at": times, "churned": 1.0})


def test_late_labels_from_a_label_table_join_by_id(config, warehouse, place, tmp_path):
    source, start = _source(10), END - timedelta(days=7)
    config = config.model_copy(update={"labels": config.labels.model_copy(update={"table": "churn_labels"})})
    write_predictions(place.pipeline_url, predictions_for(source, "3", "champion", np.full(10, 0.4), start, END))
    labels = source.iloc[:4][["customer_id", "churned"]]

    with pytest.raises(WarehouseError, match="labels.table 'churn_labels' does not exist"):
        place.read(config, start, END)
    _load(warehouse, "churn_labels", pd.concat([labels, labels.iloc[:1]]))

    frame = place.read(config, start, END)

    assert len(frame) == 10 and frame["label"].notna().sum() == 4  # the duplicate label counted once
    assert set(frame["model_version"]) == {"3"} and frame["event_time"].dtype.kind == "M"
    assert not frame["label_conflict"].any()  # the same label twice is no conflict


def test_conflicting_labels_leave_the_prediction_unlabelled_and_are_counted(config, warehouse, place, caplog):
    """0 and 1 for one prediction: nothing says which came last, so neither is used (the lowest was, silently)."""
    source, start = _source(4).assign(churned=0.0), END - timedelta(days=7)
    config = config.model_copy(update={"labels": config.labels.model_copy(update={"table": "churn_labels"})})
    write_predictions(place.pipeline_url, predictions_for(source, "3", "champion", np.full(4, 0.4), start, END))
    arrived = pd.DataFrame({"customer_id": ["C0", "C0", "C1", "C1", "C2"], "churned": [1.0, 0.0, 1.0, 1.0, 0.0]})
    _load(warehouse, "churn_labels", arrived)

    frame = place.read(config, start, END).set_index("id")
    figures = monitor_served._figures(config, frame.reset_index(), "champion", "3")

    assert frame["label"].to_dict() == pytest.approx({"C0": np.nan, "C1": 1.0, "C2": 0.0, "C3": np.nan}, nan_ok=True)
    assert frame["label_conflict"].to_dict() == {"C0": True, "C1": False, "C2": False, "C3": False}
    assert (figures.labelled, figures.conflicting_labels) == (2, 1) and figures.to_dict()["conflicting_labels"] == 1
    assert "1 served prediction(s) have conflicting labels in churn_labels" in caplog.text


def test_labels_in_the_source_table_join_by_id_and_timestamp(config, place, tmp_path):
    source, start = _source(6), END - timedelta(days=7)
    pipeline = Database(place.pipeline_url)
    assert read_served(pipeline, config, start, END).empty  # no table: nothing served
    write_predictions(place.pipeline_url, predictions_for(source, "3", "challenger", np.full(6, 0.4), start, END))
    # A second snapshot of C0 at another time: its label is not this prediction's.
    late = pd.concat(
        [
            source.assign(churned=[1.0, 0.0, None, None, None, None]),
            source.iloc[:1].assign(snapshot_at=source["snapshot_at"].iloc[0] + timedelta(minutes=30), churned=0.0),
        ]
    )
    load_window(sqlite_url(tmp_path), config.source.table, late, start, END)

    frame = place.read(config, start, END)

    assert frame["label"].tolist()[:2] == [1.0, 0.0] and frame["label"].isna().sum() == 4
    assert len(frame) == 6 and not frame["label_conflict"].any()
    assert read_served(pipeline, config, start, END, alias="champion").empty


def test_a_label_table_with_a_time_joins_by_id_and_time(config, warehouse, place):
    source, start = _source(3), END - timedelta(days=7)
    labels = config.labels.model_copy(update={"table": "labels", "timestamp_column": "observed_at"})
    config = config.model_copy(update={"labels": labels})
    write_predictions(place.pipeline_url, predictions_for(source, "3", "champion", np.full(3, 0.4), start, END))
    at = source["snapshot_at"]
    # C0's label at its served time; C1's at another time only (another snapshot's), C2's none.
    arrived = pd.DataFrame(
        {"customer_id": ["C0", "C1"], "observed_at": [at[0], at[1] + timedelta(hours=2)], "churned": [1, 0]}
    )
    _load(warehouse, "labels", arrived)

    frame = place.read(config, start, END).set_index("id")

    assert frame["label"].to_dict() == pytest.approx({"C0": 1.0, "C1": np.nan, "C2": np.nan}, nan_ok=True)


def test_an_integer_label_id_matches_the_text_id_scoring_stored(config, warehouse, place):
    source, start = _source(3).assign(customer_id=[7, 8, 9]), END - timedelta(days=7)
    labels = config.labels.model_copy(update={"table": "labels", "id_column": "account"})
    config = config.model_copy(update={"labels": labels})
    write_predictions(place.pipeline_url, predictions_for(source, "3", "champion", np.full(3, 0.4), start, END))
    arrived = pd.DataFrame({"account": [7, 9], "churned": [1, 0]})
    _load(warehouse, "labels", arrived)

    frame = place.read(config, start, END)

    labelled = frame.set_index("id")["label"]
    assert labelled.dropna().to_dict() == {"7": 1.0, "9": 0.0} and pd.isna(labelled["8"])


def _served_classes(alias: str, version: str, n: int, skill: float, learned: tuple[str, ...]) -> pd.DataFrame:
    """n served rows of a multiclass model that learned `learned`, labelled with those classes and
    one it never learned ("new", every tenth row), its probabilities leaning to the label by `skill`."""
    label = RNG.choice(learned, n).astype(object)
    label[::10] = "new"
    logits = skill * (label[:, None] == np.array(learned)[None, :]) + RNG.normal(0, 1, (n, len(learned)))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = _served(alias, version, n, labelled=1.0, skill=0.0).assign(label=label)
    frame[PREDICTED_CLASS] = np.array(learned, dtype=object)[probabilities.argmax(axis=1)]
    frame[PROBABILITIES] = [json.dumps(dict(zip(learned, row, strict=True))) for row in probabilities.tolist()]
    return frame


def test_a_multiclass_champion_is_measured_on_its_served_class_probabilities(tmp_path):
    config = load_model_config(CHURN).model_copy(update={"task": "multiclass", "gate": GateConfig(pooled_windows=1)})
    champion = _served_classes("champion", "3", 1500, skill=2.0, learned=("leave", "stay", "downgrade"))
    challenger = _served_classes("challenger", "4", 1500, skill=0.0, learned=("leave", "stay"))
    challenger[["id", "event_time", "label"]] = champion[["id", "event_time", "label"]]
    both = pd.concat([champion, challenger], ignore_index=True)

    perf = monitor_served.served_performance(config, ref(["x"]), _cur(tmp_path, both))
    both.to_parquet(tmp_path / "current.parquet")
    classes = monitor_served.served_scores(current_window(served_current=str(tmp_path / "current.parquet")), ref(["x"]))

    assert perf.metric == "roc_auc_ovr" and perf.rows == 1500
    assert 0.7 < perf.current_value < 1.0  # the unknown class counts: a column of 0s ranks it at 0.5
    assert "labels the model never learned (rows): {'new': 150}" in perf.note
    (shadow,) = perf.shadow
    assert shadow.champion_value == perf.current_value and shadow.challenger_value < 0.6
    np.testing.assert_array_equal(classes, champion[PREDICTED_CLASS].to_numpy())


def test_labels_that_are_not_numbers_are_refused_naming_the_column_not_read_as_missing(config, warehouse, place):
    """'yes'/'no' for a model trained on 0/1: read as missing, it showed only as too little coverage."""
    source, start = _source(4), END - timedelta(days=7)
    config = config.model_copy(update={"labels": config.labels.model_copy(update={"table": "churn_labels"})})
    write_predictions(place.pipeline_url, predictions_for(source, "3", "champion", np.full(4, 0.4), start, END))
    _load(warehouse, "churn_labels", pd.DataFrame({"customer_id": ["C0", "C1", "C2"], "churned": ["yes", "no", None]}))

    with pytest.raises(WarehouseError) as refused:
        place.read(config, start, END)

    message = str(refused.value)
    assert "2 label(s) in 'churn_labels'.'churned' are not numbers (e.g. 'yes', 'no')" in message
    assert "must be 0 or 1" in message and "task: multiclass" in message
