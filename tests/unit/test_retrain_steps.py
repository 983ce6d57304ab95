"""The retrain steps against small fakes of the MLflow adapters: fail closed on the registry,
an unusable champion has a defined outcome, promotion is compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.artifacts.snapshots import write_snapshot
from include.retraining.common.settings import load_settings
from include.retraining.common.windows import Window
from include.retraining.config.model import load_model_config
from include.retraining.learning.training import fit, split_by_time
from include.retraining.retrain import steps as retrain_steps
from include.retraining.retrain.contracts import Evaluated, Extracted, Promotion, PromotionOutcome, Trained
from include.retraining.runs.context import RunInfo, StepContext
from include.retraining.tables import promotions as promotion_log
from include.retraining.tracking.registry import Champion, RegistryError
from include.retraining.tracking.tracker import WINDOW_END_TAG, UnusableModelError

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[2] / "include" / "models" / "churn.yaml")
WINDOW = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
CHALLENGER_URI, CHAMPION_URI, PREVIOUS_URI = (
    "models:/m-new",
    "models:/churn@champion",
    "models:/churn@previous_champion",
)


@dataclass
class FakeTracker:
    models: dict[str, Any]
    evaluations: list[tuple[str, dict, dict]] = field(default_factory=list)

    def load_model(self, uri: str) -> Any:
        model = self.models[uri]
        if isinstance(model, Exception):
            raise model
        return model

    def log_evaluation(self, run_id: str, metrics: dict, tags: dict, figure: Any) -> None:
        self.evaluations.append((run_id, metrics, tags))

    def run_link(self, experiment_id: str, run_id: str) -> str:
        return f"mlflow run {run_id}"


@dataclass
class FakeRegistry:
    current: Champion | None = None
    previous: Champion | None = None
    error: Exception | None = None
    promoted: list[str] = field(default_factory=list)
    challengers: list[tuple[str, dict]] = field(default_factory=list)

    def champion(self) -> Champion | None:
        if self.error:
            raise self.error
        return self.current

    def previous_champion(self) -> Champion | None:
        return self.previous

    def version_for_run(self, run_id: str) -> None:
        return None

    def register_version(self, model_uri: str, run_id: str, tags: dict) -> str:
        return "3"

    def version(self, version: str) -> Champion:
        return Champion(version, f"run-{version}", f"models:/churn/{version}", {})

    def promote(self, version: str, tags: dict) -> str | None:
        self.promoted.append(version)
        return self.current.version if self.current else None

    def mark_challenger(self, version: str, tags: dict) -> None:
        self.challengers.append((version, tags))


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_snapshots(3000, WINDOW.start, WINDOW.end, seed=5)


@pytest.fixture(scope="module")
def model(data: pd.DataFrame) -> Any:
    return fit(CONFIG, split_by_time(data, CONFIG).train)


@pytest.fixture
def extracted(data: pd.DataFrame, tmp_path: Path) -> Extracted:
    snapshot = write_snapshot(data, tmp_path / "artifacts", CONFIG.name, WINDOW)
    return Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, WINDOW)


def _champion(version: str, uri: str = CHAMPION_URI, window_end: datetime = WINDOW.end) -> Champion:
    return Champion(version, f"run-{version}", uri, {WINDOW_END_TAG: window_end.isoformat()})


def _ctx(
    tmp_path: Path, tracker: FakeTracker, registry: FakeRegistry, dry_run: bool = False, config: Any = CONFIG
) -> StepContext:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path / "data")})
    run = RunInfo("retrain_churn", "manual__1", WINDOW.end, dry_run=dry_run)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    return StepContext(config, settings, run, url, fake_tracker=tracker, fake_registry=registry)


TRAINED = Trained("run-new", "1", CHALLENGER_URI, reused=False)


def test_a_registry_error_fails_evaluate_instead_of_reading_no_champion(tmp_path: Path, extracted, model) -> None:
    registry = FakeRegistry(error=RegistryError("model 'churn': cannot read alias"))
    with pytest.raises(RegistryError):
        retrain_steps.evaluate(_ctx(tmp_path, FakeTracker({CHALLENGER_URI: model}), registry), extracted, TRAINED)


def test_the_champion_is_scored_with_its_own_feature_list(tmp_path: Path, extracted, data, model) -> None:
    fewer = CONFIG.model_copy(
        update={"features": CONFIG.features.model_copy(update={"numeric": CONFIG.features.numeric[:-1]})}
    )
    champion_model = fit(fewer, split_by_time(data, fewer).train)
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: champion_model})
    evaluated, alert = retrain_steps.evaluate(_ctx(tmp_path, tracker, FakeRegistry(_champion("2"))), extracted, TRAINED)
    assert alert is None and evaluated.compared_with == "2" and evaluated.champion_value is not None


def test_an_unusable_champion_is_replaced_by_previous_champion_and_alerts(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker(
        {CHALLENGER_URI: model, CHAMPION_URI: UnusableModelError("model.skops: BadZipFile"), PREVIOUS_URI: model}
    )
    registry = FakeRegistry(_champion("2"), previous=_champion("1", PREVIOUS_URI))
    evaluated, alert = retrain_steps.evaluate(_ctx(tmp_path, tracker, registry), extracted, TRAINED)
    assert evaluated.compared_with == "1" and evaluated.champion_version == "2"
    assert evaluated.reason.startswith("champion_unusable (version 2: model.skops: BadZipFile)")
    assert alert is not None and alert.kind == "champion_unusable" and "version 2" in alert.title


def test_with_no_usable_baseline_the_threshold_decides(tmp_path: Path, extracted, model) -> None:
    tracker = FakeTracker({CHALLENGER_URI: model, CHAMPION_URI: UnusableModelError("gone")})
    evaluated, alert = retrain_steps.evaluate(_ctx(tmp_path, tracker, FakeRegistry(_champion("2"))), extracted, TRAINED)
    assert evaluated.compared_with is None and evaluated.champion_value is None
    assert "champion_unusable" in evaluated.reason and "threshold" in evaluated.reason
    assert alert is not None


def _evaluated(champion_version: str | None, promote: bool = True) -> Evaluated:
    return Evaluated(champion_version, promote, "better", "roc_auc", 0.8, 0.7)


def test_promotion_moves_the_champion_it_was_compared_with(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(_champion("2"))
    promotion, alert = retrain_steps.promote_or_block(
        _ctx(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2")
    )
    assert promotion == Promotion(PromotionOutcome.PROMOTED, "3", "better", "2") and alert is None
    assert registry.promoted == ["3"]
    [row] = promotion_log.history(f"sqlite:///{tmp_path / 'warehouse.db'}", "churn")
    assert (row.from_version, row.to_version, row.action, row.actor) == ("2", "3", "promote", "scheduler")
    assert row.figures["challenger_value"] == 0.8 and row.run_url.endswith("/runs/manual__1")


def test_promotion_is_refused_when_the_champion_changed_after_evaluation(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(_champion("4"))
    promotion, alert = retrain_steps.promote_or_block(
        _ctx(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2")
    )
    assert promotion.action is PromotionOutcome.BLOCKED and "changed from version 2 to 4" in promotion.reason
    assert registry.promoted == [] and registry.challengers[0][0] == "3"
    assert alert is not None and "promotion refused" in alert.lines[0]
    assert promotion_log.history(f"sqlite:///{tmp_path / 'warehouse.db'}", "churn") == []


def test_an_older_window_never_replaces_a_newer_champion(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(_champion("2", window_end=WINDOW.end + timedelta(days=7)))
    promotion, _ = retrain_steps.promote_or_block(
        _ctx(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2")
    )
    assert promotion.action is PromotionOutcome.BLOCKED and "older than the champion" in promotion.reason
    assert registry.promoted == []


def test_dry_run_and_an_already_decided_rerun_change_nothing(tmp_path: Path, extracted) -> None:
    registry = FakeRegistry(_champion("2"))
    dry, _ = retrain_steps.promote_or_block(
        _ctx(tmp_path, FakeTracker({}), registry, dry_run=True), extracted, TRAINED, _evaluated("2")
    )
    decided = Evaluated("2", False, "already champion", "roc_auc", already_decided=True)
    unchanged, _ = retrain_steps.promote_or_block(
        _ctx(tmp_path, FakeTracker({}), registry), extracted, TRAINED, decided
    )
    assert dry.action is PromotionOutcome.DRY_RUN_PROMOTE and unchanged.action is PromotionOutcome.UNCHANGED
    assert registry.promoted == [] and registry.challengers == []


def test_contracts_round_trip_through_plain_dicts(extracted) -> None:
    evaluated = _evaluated("2")
    promotion = Promotion(PromotionOutcome.BLOCKED, "3", "worse")
    assert Extracted.from_xcom(extracted.to_xcom()) == extracted
    assert extracted.to_xcom()["window"] == WINDOW.to_dict()
    assert Evaluated.from_xcom(evaluated.to_xcom()) == evaluated
    assert Promotion.from_xcom(promotion.to_xcom()) == promotion
    assert promotion.to_xcom()["action"] == "blocked"


def test_a_champion_needing_a_feature_removed_from_the_yaml_is_unusable_not_a_crash(
    tmp_path: Path, data: pd.DataFrame, model: Any
) -> None:
    dropped = CONFIG.features.numeric[-1]
    fewer = CONFIG.model_copy(
        update={"features": CONFIG.features.model_copy(update={"numeric": CONFIG.features.numeric[:-1]})}
    )
    rows = data.drop(columns=[dropped])
    snapshot = write_snapshot(rows, tmp_path / "artifacts", CONFIG.name, WINDOW)
    extracted = Extracted(str(snapshot.path), snapshot.content_hash, snapshot.rows, WINDOW)
    tracker = FakeTracker({CHALLENGER_URI: fit(fewer, split_by_time(rows, fewer).train), CHAMPION_URI: model})
    ctx = _ctx(tmp_path, tracker, FakeRegistry(_champion("2")), config=fewer)
    evaluated, alert = retrain_steps.evaluate(ctx, extracted, TRAINED)
    assert dropped in (evaluated.champion_unusable or "") and evaluated.compared_with is None
    assert alert is not None and alert.dedup_key.endswith("/champion_unusable")


def test_a_registry_error_at_promotion_moves_no_alias(tmp_path: Path, extracted: Extracted) -> None:
    registry = FakeRegistry(_champion("2"), error=RegistryError("model 'churn': cannot read alias"))
    with pytest.raises(RegistryError):
        retrain_steps.promote_or_block(_ctx(tmp_path, FakeTracker({}), registry), extracted, TRAINED, _evaluated("2"))
    assert registry.promoted == [] and registry.challengers == []


def test_a_registry_error_fails_validate_instead_of_dropping_the_champion_profile(
    tmp_path: Path, extracted: Extracted
) -> None:
    registry = FakeRegistry(error=RegistryError("model 'churn': cannot read alias"))
    with pytest.raises(RegistryError):
        retrain_steps.validate(_ctx(tmp_path, FakeTracker({}), registry), extracted)
