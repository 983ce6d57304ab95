"""The pipeline's state as Prometheus metrics, from the Models page's rows over a real SQLite
pipeline database; parsed back with prometheus_client's own parser, as a scraper would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from include.retraining.common import Settings
from include.retraining.overview import exposition, overview
from include.retraining.overview.metrics import FAMILIES
from include.retraining.tracking import DECISION_TAG, REASON_TAG, Champion, RegistryError
from include.retraining.warehouse import Database
from tests.unit.overview.support import CONFIG, T0, FakeRegistry

pytestmark = pytest.mark.unit


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_carries_the_champion_the_drift_the_served_metric_and_the_moves(
    settings: Settings, db: Database
) -> None:
    registry = FakeRegistry(
        {"champion": "2", "previous_champion": "1"},
        Champion("3", "run3", "models:/churn/3", {DECISION_TAG: "block", REASON_TAG: "rejected by bob"}),
    )
    row = overview(CONFIG, settings, db, registry)

    samples = _samples(exposition([row], file_errors=1, alerts={"pending": 2, "delivered": 5}))

    model = ("model", "churn")
    assert samples[("retraining_models", ())] == 1
    assert samples[("retraining_model_file_errors", ())] == 1
    assert samples[("retraining_champion_version", (model,))] == 2
    assert samples[("retraining_champion_since_timestamp_seconds", (model,))] == (T0 + timedelta(weeks=1)).timestamp()
    assert samples[("retraining_gate_decision", (("decision", "block"), model, ("version", "3")))] == 1
    # a counter's samples carry the _total suffix, as the parser hands them back
    assert samples[("retraining_promotion_log_rows_total", (("action", "approve"), model))] == 1
    assert samples[("retraining_promotion_log_rows_total", (("action", "reject"), model))] == 1
    assert samples[("retraining_served_metric", (("metric", "roc_auc"), model))] == 0.78
    assert (
        samples[("retraining_monitor_window_end_timestamp_seconds", (model,))] == (T0 + timedelta(weeks=3)).timestamp()
    )
    assert samples[("retraining_drift_detected", (model,))] == 0
    assert samples[("retraining_drift_share", (model,))] == 0.0
    assert samples[("retraining_alerts", (("status", "pending"),))] == 2
    assert not [key for key in samples if key[0] == "retraining_read_errors"]


def test_a_source_that_cannot_be_read_is_a_read_error_never_a_zero(settings: Settings) -> None:
    unreachable = Database("postgresql+psycopg2://reader:pw-5e1d@127.0.0.1:9/warehouse")  # nothing on port 9
    row = overview(CONFIG, settings, unreachable, FakeRegistry(error=RegistryError("tracking server down")))

    text = exposition([row], file_errors=0, alerts=None, alerts_error="OperationalError: disk I/O error")
    samples = _samples(text)

    errors = {dict(labels)["source"] for name, labels in samples if name == "retraining_read_errors"}
    assert errors == {"MLflow registry", "promotion log", "model_monitoring", "promotion_outcomes", "alert outbox"}
    for missing in (
        "retraining_champion_version",
        "retraining_served_metric",
        "retraining_drift_share",
        "retraining_alerts",
    ):
        assert not [key for key in samples if key[0] == missing], missing
    assert "pw-5e1d" not in text


def test_label_values_are_escaped_and_every_family_is_declared_once(settings: Settings, db: Database) -> None:
    tricky = 'block "hard"\\ \nby policy'
    row = overview(
        CONFIG, settings, db, FakeRegistry({"champion": "v-x"}, Champion("4", "r", "m", {DECISION_TAG: tricky}))
    )

    text = exposition([row, row], file_errors=0, alerts={})
    families = list(text_string_to_metric_families(text))

    decisions = [s.labels["decision"] for f in families for s in f.samples if s.name == "retraining_gate_decision"]
    assert decisions == [tricky, tricky]
    assert len({f.name for f in families}) == len(families)  # one HELP/TYPE per family
    assert {f.name for f in families} <= {name.removesuffix("_total") for name in FAMILIES}
    # a champion whose version is not a number is only in the info metric
    assert not [s for f in families for s in f.samples if s.name == "retraining_champion_version"]
    info = [s for f in families for s in f.samples if s.name == "retraining_model_info"]
    assert info[0].labels["champion"] == "v-x"


def test_verified_promotions_are_counted_with_the_newest_verdict(settings: Settings, db: Database) -> None:
    from dataclasses import replace

    from include.retraining.tables import record_outcome
    from tests.unit.tables.test_outcomes import _row as outcome

    record_outcome(db, replace(outcome(4), bound_held=True, verdict="held"))
    record_outcome(db, replace(outcome(6), to_version="3", bound_held=False, verdict="short"))
    row = overview(CONFIG, settings, db, FakeRegistry({"champion": "3"}))

    samples = _samples(exposition([row], file_errors=0, alerts={}))

    model = ("model", "churn")
    assert samples[("retraining_promotions_verified", (model,))] == 2
    assert samples[("retraining_promotions_bound_held", (model,))] == 1
    assert samples[("retraining_promotion_verdict", (model, ("verdict", "short"), ("version", "3")))] == 1
