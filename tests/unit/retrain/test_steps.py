"""The retrain steps against small fakes of the MLflow adapters: fail closed on the registry,
an unusable champion has a defined outcome, promotion is compare-and-set, and a person's answer
(`gate.approval: required`) decides what promote records."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from include.retraining import retrain
from include.retraining.config import parse_model_config
from include.retraining.learning import fit, split_by_time
from include.retraining.promotion import Approval, ApprovalDecision, Evaluated, Promotion, PromotionOutcome
from include.retraining.retrain import Extracted, Trained, Validated
from include.retraining.retrain.steps import config_hash
from include.retraining.tables import PromotionAction, history
from include.retraining.tracking import RegistryError, UnusableModelError
from tests.unit.retrain.fakes import (
    CHALLENGER_URI,
    CHAMPION_URI,
    CONFIG,
    PREVIOUS_URI,
    WINDOW,
    FakeRegistry,
    FakeTracker,
    champion,
    extracted_snapshot,
    fitted_model,
    log_db,
    snapshot_rows,
    step_context,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def data() -> pd.DataFrame:
    return snapshot_rows()


@pytest.fixture
def model() -> Any:
    return fitted_model()


@pytest.fixture
def extracted(data: pd.DataFrame, tmp_path: Path) -> Extracted:
    return extracted_snapshot(data, tmp_path / "artifacts")


TRAINED = Trained("run-new", "1", CHALLENGER_URI, reused=False)


def test_a_registry_error_fails_evaluate_instead_of_reading_no_champion(tmp_path: Path, extracted, model) -> None:
    registry = FakeRegistry(error=RegistryError("model 'churn': cannot read alias"))
    with pytest.raises(RegistryError):
        retrain.evaluate(step_context(tmp_path, FakeTracker({CHALLENGER_URI: model}), registry), extracted, TRAINED)


def test_the_champion_is_scored_with_its_own_feature_list(tmp_path: Path, extracted, data, model) -> None:
    fewer = CONFIG.model_copy(
        update={"features": CONFIG.features.model_copy(update={"numeric": CONFIG.features.numeric[:-1]})}
    )
    champion_model = fit(fewer, split_by_time(data, fewer).train)
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: champion_model})
    evaluated, alert = retrain.evaluate(
        step_context(tmp_path, tracker, FakeRegistry(champion("2"))), extracted, TRAINED
    )
    assert alert is None and evaluated.compared_with == "2" and evaluated.champion_value is not None


def test_an_unusable_champion_is_replaced_by_previous_champion_and_alerts(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker(
        {CHALLENGER_URI: model, CHAMPION_URI: UnusableModelError("model.skops: BadZipFile"), PREVIOUS_URI: model}
    )
    registry = FakeRegistry(champion("2"), previous=champion("1", PREVIOUS_URI))
    evaluated, alert = retrain.evaluate(step_context(tmp_path, tracker, registry), extracted, TRAINED)
    assert evaluated.compared_with == "1" and evaluated.champion_version == "2"
    assert evaluated.reason.startswith("champion_unusable (version 2: model.skops: BadZipFile)")
    assert alert is not None and alert.kind == "champion_unusable" and "version 2" in alert.title


def test_with_no_usable_baseline_the_threshold_decides(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: UnusableModelError("gone")})
    evaluated, alert = retrain.evaluate(
        step_context(tmp_path, tracker, FakeRegistry(champion("2"))), extracted, TRAINED
    )
    assert evaluated.compared_with is None and evaluated.champion_value is None
    assert "champion_unusable" in evaluated.reason and "threshold" in evaluated.reason
    assert alert is not None


def test_with_no_usable_baseline_and_no_threshold_the_challenger_is_blocked(tmp_path: Path, extracted, model) -> None:
    no_threshold = CONFIG.model_copy(update={"gate": CONFIG.gate.model_copy(update={"threshold": None})})
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: UnusableModelError("gone")})
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=no_threshold)

    evaluated, alert = retrain.evaluate(ctx, extracted, TRAINED)

    assert not evaluated.promote and evaluated.compared_with is None
    assert evaluated.reason.startswith("champion_unusable (version 2: gone), judged on the threshold alone: ")
    assert "no gate.threshold is set, so nothing to promote on: blocked" in evaluated.reason
    assert alert is not None and "Decision: no promotion" in alert.lines[1]


class _OutOfMemory:
    """The champion model, on a worker that runs out of memory while it scores."""

    def __init__(self, model: Any) -> None:
        self.feature_names_in_ = model.feature_names_in_

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        raise MemoryError("Unable to allocate 2.1 GiB for an array")


def test_a_worker_out_of_memory_scoring_the_champion_fails_evaluate(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: _OutOfMemory(model), PREVIOUS_URI: model})
    registry = FakeRegistry(champion("2"), previous=champion("1", PREVIOUS_URI))

    with pytest.raises(MemoryError):
        retrain.evaluate(step_context(tmp_path, tracker, registry), extracted, TRAINED)
    assert tracker.evaluations == [], "nothing was decided or logged"


def _evaluated(champion_version: str | None, promote: bool = True) -> Evaluated:
    return Evaluated(champion_version, promote, "better", "roc_auc", 0.8, 0.7)


def test_promotion_moves_the_champion_it_was_compared_with(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(champion("2"))
    promotion, alert = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2")
    )
    assert promotion == Promotion(PromotionOutcome.PROMOTED, "3", "better", "2") and alert is None
    assert registry.promoted == ["3"]
    [row] = history(log_db(tmp_path), "churn")
    assert (row.from_version, row.to_version, row.action, row.actor) == ("2", "3", "promote", "scheduler")
    assert row.figures["challenger_value"] == 0.8 and row.run_url.endswith("/runs/manual__1")


def test_with_a_canary_a_passing_gate_puts_the_version_on_canary_and_logs_nothing(tmp_path: Path, extracted) -> None:
    from include.retraining.config import CanaryConfig
    from include.retraining.tracking import DECISION_TAG

    config = CONFIG.model_copy(
        update={"serving": CONFIG.serving.model_copy(update={"canary": CanaryConfig(fraction=0.1)})}
    )
    registry = FakeRegistry(champion("2"))

    promotion, alert = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry, config=config), extracted, TRAINED, _evaluated("2")
    )

    assert promotion == Promotion(PromotionOutcome.CANARY, "3", "on canary: better") and alert is None
    assert registry.promoted == [] and [(v, t[DECISION_TAG]) for v, t in registry.challengers] == [("3", "canary")]
    assert history(log_db(tmp_path), "churn") == []


def test_promotion_is_refused_when_the_champion_changed_after_evaluation(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(champion("4"))
    promotion, alert = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2")
    )
    assert promotion.action is PromotionOutcome.BLOCKED and "changed from version 2 to 4" in promotion.reason
    assert registry.promoted == [] and registry.challengers[0][0] == "3"
    assert alert is not None and "promotion refused" in alert.lines[0]
    assert history(log_db(tmp_path), "churn") == []


def test_an_older_window_never_replaces_a_newer_champion(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(champion("2", window_end=WINDOW.end + timedelta(days=7)))
    promotion, _ = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2")
    )
    assert promotion.action is PromotionOutcome.BLOCKED and "older than the champion" in promotion.reason
    assert registry.promoted == []


def test_dry_run_and_an_already_decided_rerun_change_nothing(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(champion("2"))
    dry, _ = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry, dry_run=True), extracted, TRAINED, _evaluated("2")
    )
    decided = Evaluated("2", False, "already champion", "roc_auc", already_decided=True)
    unchanged, _ = retrain.promote(step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, decided)
    assert dry.action is PromotionOutcome.DRY_RUN_PROMOTE and unchanged.action is PromotionOutcome.UNCHANGED
    assert registry.promoted == [] and registry.challengers == []


def test_contracts_round_trip_through_plain_dicts(extracted) -> None:
    evaluated = _evaluated("2")
    promotion = Promotion(PromotionOutcome.BLOCKED, "3", "worse")
    validated = Validated(True, 31, [{"expectation": "x"}], "r.json", "r.html", "2")
    assert Extracted.from_xcom(extracted.to_xcom()) == extracted
    assert extracted.to_xcom()["window"] == WINDOW.to_dict()
    assert Evaluated.from_xcom(evaluated.to_xcom()) == evaluated
    assert Promotion.from_xcom(promotion.to_xcom()) == promotion
    assert promotion.to_xcom()["action"] == "blocked"
    assert Validated.from_xcom(validated.to_xcom()) == validated
    assert validated.to_xcom()["learned_from_champion"] == "2"
    assert Trained.from_xcom(TRAINED.to_xcom()) == TRAINED


def test_a_champion_needing_a_feature_removed_from_the_yaml_is_unusable_not_a_crash(
    tmp_path: Path, data: pd.DataFrame, model: Any
) -> None:
    dropped = CONFIG.features.numeric[-1]
    fewer = CONFIG.model_copy(
        update={"features": CONFIG.features.model_copy(update={"numeric": CONFIG.features.numeric[:-1]})}
    )
    rows = data.drop(columns=[dropped])
    extracted = extracted_snapshot(rows, tmp_path / "artifacts")
    tracker = FakeTracker({CHALLENGER_URI: fit(fewer, split_by_time(rows, fewer).train), CHAMPION_URI: model})
    ctx = step_context(tmp_path, tracker, FakeRegistry(champion("2")), config=fewer)
    evaluated, alert = retrain.evaluate(ctx, extracted, TRAINED)
    assert dropped in (evaluated.champion_unusable or "") and evaluated.compared_with is None
    assert alert is not None and alert.dedup_key.endswith("/champion_unusable")


def test_a_registry_error_at_promotion_moves_no_alias(tmp_path: Path, extracted: Extracted) -> None:
    registry = FakeRegistry(champion("2"), error=RegistryError("model 'churn': cannot read alias"))
    with pytest.raises(RegistryError):
        retrain.promote(step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2"))
    assert registry.promoted == [] and registry.challengers == []


def test_a_registry_error_fails_validate_instead_of_dropping_the_champion_profile(
    tmp_path: Path, extracted: Extracted
) -> None:
    registry = FakeRegistry(error=RegistryError("model 'churn': cannot read alias"))
    with pytest.raises(RegistryError):
        retrain.validate(step_context(tmp_path, FakeTracker({}), registry), extracted)


def test_a_window_without_a_champion_is_validated_on_the_model_files_rules_alone(
    tmp_path: Path, extracted: Extracted
) -> None:
    validated = retrain.validate(step_context(tmp_path, FakeTracker({}), FakeRegistry()), extracted)

    assert isinstance(validated, Validated) and validated.success and validated.failed == []
    assert validated.evaluated > 0 and validated.learned_from_champion is None
    assert validated.html_path is not None and Path(validated.html_path).is_file()


def test_an_approved_promotion_is_logged_as_approve_by_the_approver(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(champion("2"))
    approved = Approval(ApprovalDecision.APPROVED, "alice", "2026-03-02T09:00:00+00:00")

    promotion, alert = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2"), approved
    )

    assert promotion == Promotion(PromotionOutcome.PROMOTED, "3", "better", "2") and alert is None
    assert registry.promoted == ["3"]
    [row] = history(log_db(tmp_path), "churn")
    assert (row.action, row.actor, row.from_version, row.to_version) == (PromotionAction.APPROVE, "alice", "2", "3")


@pytest.mark.parametrize(
    ("approval", "actor", "reason"),
    [
        (Approval(ApprovalDecision.REJECTED, "bob"), "bob", "rejected by bob in the Airflow UI"),
        (Approval(ApprovalDecision.TIMED_OUT), "scheduler", "approval timed out: nobody answered within 72 h"),
    ],
    ids=["rejected", "timed out"],
)
def test_a_declined_approval_records_a_reject_and_leaves_the_champion(
    tmp_path: Path, extracted, approval: Approval, actor: str, reason: str
) -> None:
    registry = FakeRegistry(champion("2"))

    promotion, alert = retrain.promote(
        step_context(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2"), approval
    )

    assert promotion.action is PromotionOutcome.BLOCKED and promotion.version == "3" and promotion.reason == reason
    assert registry.promoted == [] and [v for v, _ in registry.challengers] == ["3"]
    assert alert is not None and alert.kind == "gate_blocked"
    [row] = history(log_db(tmp_path), "churn")
    assert (row.action, row.actor, row.from_version, row.to_version) == (PromotionAction.REJECT, actor, "2", "3")
    assert row.reason == reason and row.figures["challenger_value"] == 0.8


def test_a_leaked_feature_blocks_the_challenger_with_a_reason_naming_it_and_an_alert(tmp_path: Path) -> None:
    """A refund column filled only for churners: holdout AUC ~1.0 promotes today; the guard blocks."""
    rows = snapshot_rows().copy()
    rows["support_tickets_90d"] = rows["churned"] * 40.0
    leaked_model = fit(CONFIG, split_by_time(rows, CONFIG).train)
    ctx = step_context(tmp_path, FakeTracker({CHALLENGER_URI: leaked_model}), FakeRegistry(champion("2")))
    ctx.tracker.models[CHAMPION_URI] = fitted_model()
    extracted = extracted_snapshot(rows, tmp_path / "artifacts")

    evaluated, _ = retrain.evaluate(ctx, extracted, TRAINED)
    promotion, alert = retrain.promote(ctx, extracted, TRAINED, evaluated)

    assert not evaluated.promote and evaluated.challenger_value > 0.995
    assert [(s["sign"], s["name"]) for s in evaluated.leakage] == [
        ("feature", "support_tickets_90d"),
        ("metric", "roc_auc"),
    ]
    assert "label leakage suspected: feature 'support_tickets_90d'" in evaluated.reason
    assert "Fix: drop 'support_tickets_90d' from `features`" in evaluated.reason
    assert promotion.action is PromotionOutcome.BLOCKED and ctx.registry.promoted == []
    assert alert is not None and alert.kind == "gate_blocked" and alert.model == "churn"
    assert "support_tickets_90d" in alert.lines[0] and "upstream join" in alert.lines[0]
    assert Evaluated.from_xcom(evaluated.to_xcom()) == evaluated


def test_the_demo_challenger_is_not_a_leakage_suspect(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: model})
    evaluated, _ = retrain.evaluate(step_context(tmp_path, tracker, FakeRegistry(champion("2"))), extracted, TRAINED)

    assert evaluated.leakage is None and "leakage" not in evaluated.reason


def test_an_upgrade_keeps_the_config_hash_of_a_file_without_the_keys_added_since() -> None:
    minimal = {
        "name": "spend",
        "task": "regression",
        "source": {"table": "t", "timestamp_column": "ts"},
        "target": "y",
        "features": {"numeric": ["a"], "categorical": ["b"]},
        "training": {"estimator": "ridge", "params": {"alpha": 2.0}, "seed": 0},
        "gate": {"threshold": 10.0},
    }
    config = parse_model_config(minimal, Path("spend.yaml"))
    trusting = config.model_copy(update={"training": config.training.model_copy(update={"trusted_types": ["a.B"]})})

    # What this file hashed to before features.steps and training.trusted_types existed (3315f52):
    # a rerun of a window reuses its run, and pooled evidence keeps pooling, across the upgrade.
    assert config_hash(config) == "61c87e162c315337"
    assert config_hash(trusting) != config_hash(config)
