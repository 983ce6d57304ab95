"""The leakage guard: each feature's own holdout score, the suspects past `gate.leakage`'s limits,
and the reason that names them with the fix. The shipped models' features stay far below."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from demo.churn_data import generate_snapshots
from examples.doctor_visits import doctor_visits
from include.retraining.config import load_model_config, parse_model_config
from include.retraining.learning import (
    LeakageSign,
    feature_scores,
    leakage_reason,
    leakage_suspects,
    split_by_time,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
CHURN = REPO / "include" / "models" / "churn.yaml"
CONFIG = load_model_config(CHURN)
DOCTOR_VISITS = load_model_config(REPO / "examples" / "models" / "doctor_visits.yaml")


def _config(**leakage: object):
    data = yaml.safe_load(CHURN.read_text())
    data["gate"]["leakage"] = leakage
    return parse_model_config(data, CHURN)


def _rows(seed: int = 5, n: int = 3000) -> pd.DataFrame:
    return generate_snapshots(n, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), seed=seed)


def _scores(frame: pd.DataFrame, config=CONFIG) -> dict[str, float]:
    split = split_by_time(frame, config)
    return feature_scores(config, split.train, split.holdout.dropna(subset=[config.target]))


def _leaked(column: str, values) -> pd.DataFrame:
    frame = _rows()
    frame[column] = values(frame)
    return frame


LEAKS = {
    # a refund amount only churners have, on top of the real charge: perfect in one direction
    "numeric": ("monthly_charges", lambda f: f["churned"] * 500 + f["monthly_charges"]),
    # the same, upside down: a "still active" balance
    "reversed": ("tenure_months", lambda f: (1 - f["churned"]) * 200 + f["tenure_months"]),
    # a cancellation count filled only for churners: it separates through its nulls
    "null_for_one_class": (
        "support_tickets_90d",
        lambda f: np.where(f["churned"] == 1, f["support_tickets_90d"].fillna(0), np.nan),
    ),
    # an upstream join that brings the label in as a category
    "categorical": ("region", lambda f: np.where(f["churned"] == 1, "closed", "north")),
}


@pytest.mark.parametrize("case", sorted(LEAKS))
def test_a_feature_derived_from_the_target_is_the_suspect_named(case: str) -> None:
    column, values = LEAKS[case]
    scores = _scores(_leaked(column, values))

    suspects = leakage_suspects(CONFIG, scores, {"roc_auc": 0.9})

    assert [(s.sign, s.name) for s in suspects] == [(LeakageSign.FEATURE, column)]
    assert suspects[0].score >= 0.99 and suspects[0].key == "gate.leakage.single_feature"
    reason = leakage_reason(suspects, scores)
    assert f"feature {column!r}" in reason and "2|AUC - 0.5|" in reason
    assert f"Fix: drop {column!r} from `features`" in reason and "upstream join" in reason


def test_an_id_declared_categorical_is_not_a_leak() -> None:
    """Unique per row: its categories are never seen again in the holdout, so it scores 0, not 1."""
    frame = _rows()
    frame["region"] = [f"customer-{i}" for i in range(len(frame))]

    assert _scores(frame)["region"] == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [3, 5, 7])
def test_the_demo_features_stay_far_below_the_limit(seed: int) -> None:
    scores = _scores(_rows(seed, 20_000))

    assert max(scores.values()) < 0.6 and leakage_suspects(CONFIG, scores, {"roc_auc": 0.84}) == ()


def test_the_example_regression_features_stay_far_below_the_limit() -> None:
    frame = doctor_visits()
    window = frame[frame["observed_at"] <= frame["observed_at"].min() + pd.Timedelta(weeks=8)].reset_index(drop=True)

    scores = _scores(window, DOCTOR_VISITS)

    assert max(scores.values()) < 0.2 and leakage_suspects(DOCTOR_VISITS, scores, {"r2": 0.03}) == ()


def test_a_regression_feature_that_is_a_monotone_transform_of_the_target_is_named() -> None:
    frame = doctor_visits().head(2000)
    frame["disea"] = np.log1p(frame["mdvis"])  # the visit count again, on another scale

    suspects = leakage_suspects(DOCTOR_VISITS, _scores(frame, DOCTOR_VISITS), {"r2": 0.5})

    assert [(s.name, s.measure) for s in suspects] == [("disea", "rank R^2")]


@pytest.mark.parametrize(
    ("metrics", "leakage", "suspect"),
    [
        ({"roc_auc": 0.996}, {}, "roc_auc"),  # the default ceiling
        ({"roc_auc": 0.99}, {}, None),
        ({"roc_auc": 0.96}, {"too_good": {"roc_auc": 0.95}}, "roc_auc"),
        ({"roc_auc": 0.999}, {"too_good": {}}, None),  # turned off
        ({"roc_auc": 0.9, "log_loss": 0.005}, {"too_good": {"log_loss": 0.01}}, "log_loss"),  # lower is better
    ],
)
def test_a_holdout_figure_too_good_to_be_true_is_a_suspect(metrics, leakage, suspect) -> None:
    suspects = leakage_suspects(_config(**leakage), {"tenure_months": 0.4}, metrics)

    assert [s.name for s in suspects] == ([suspect] if suspect else [])


def test_without_a_single_feature_to_blame_the_reason_names_the_best_one_and_the_key() -> None:
    scores = {"tenure_months": 0.42, "contract": 0.45, "region": float("nan")}
    suspects = leakage_suspects(CONFIG, scores, {"roc_auc": 0.998})

    reason = leakage_reason(suspects, scores)

    assert "holdout roc_auc 0.9980 is too good to be true" in reason
    assert "the best single feature: 'contract'" in reason and "raise gate.leakage.too_good.roc_auc" in reason


def test_the_single_feature_check_can_be_turned_off() -> None:
    scores = _scores(_leaked(*LEAKS["numeric"]))

    assert leakage_suspects(_config(single_feature=None), scores, {"roc_auc": 0.9}) == ()


def test_a_multiclass_feature_that_gives_one_class_away_is_a_suspect_named_by_its_best_class() -> None:
    config = CONFIG.model_copy(update={"task": "multiclass"})
    frame = _rows()
    frame["churned"] = np.where(frame["churned"] == 1, "leave", np.where(frame["tenure_months"] > 24, "stay", "grow"))
    honest = _scores(frame, config)
    # Filled from the label for one class only (a cancellation date): the other two stay mixed.
    frame["contract"] = np.where(frame["churned"] == "leave", "cancelled", frame["contract"])

    leaked = _scores(frame, config)

    assert honest["contract"] < 0.9
    assert leaked["contract"] > 0.99
    suspects = leakage_suspects(config, leaked, {"roc_auc_ovr": 0.8})
    assert [(s.sign, s.name) for s in suspects if s.name == "contract"] == [(LeakageSign.FEATURE, "contract")]
