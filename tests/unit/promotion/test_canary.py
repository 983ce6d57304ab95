"""The canary's decision on matured pairs (the gate's paired test: promote, end, wait), and what
settling it does to the registry and the promotion log: one row per outcome, reruns add none."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.retraining.learning import ImprovementInterval
from include.retraining.promotion import (
    CANARY,
    CanaryOutcome,
    NoCanary,
    apply_decision,
    canary_pairs,
    judge_canary,
    settle_canary,
)
from include.retraining.promotion.contracts import Evaluated
from include.retraining.tables import PromotionAction
from include.retraining.tracking import DECISION_TAG
from tests.unit.promotion.fakes import CONFIG, WHEN, context, logged_moves, three_versions

pytestmark = pytest.mark.unit

CANARY_CONFIG = CONFIG.model_copy(update={"serving": CONFIG.serving.model_copy(update={"canary": {"fraction": 0.1}})})


def _interval(lower: float, upper: float) -> ImprovementInterval:
    return ImprovementInterval("roc_auc", (lower + upper) / 2, lower, upper, 0.995, "delong", 1000)


@pytest.mark.parametrize(
    ("lower", "upper", "outcome"),
    [
        (0.01, 0.05, CanaryOutcome.PROMOTED),
        (0.0, 0.04, CanaryOutcome.WAITING),  # must clear min_improvement 0.0, as the gate
        (-0.02, 0.03, CanaryOutcome.WAITING),
        (-0.08, -0.01, CanaryOutcome.ENDED),
        (math.nan, math.nan, CanaryOutcome.WAITING),
    ],
)
def test_the_gate_rule_promotes_ends_or_waits(lower: float, upper: float, outcome: CanaryOutcome) -> None:
    decided, reason = judge_canary(CONFIG, _interval(lower, upper))

    assert decided is outcome
    assert "roc_auc" in reason


def _served(rows: int, challenger_skill: float, seed: int = 1) -> pd.DataFrame:
    """Matured served rows: the champion (3) scores every row, the canary (4) a tenth of them."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows).astype(float)
    ids = [str(i) for i in range(rows)]
    times = pd.Timestamp("2026-03-20") + pd.to_timedelta(np.arange(rows), unit="s")
    champion = pd.DataFrame(
        {"model_version": "3", "alias": "champion", "id": ids, "event_time": times, "source": "rest"}
    )
    champion["score"] = np.clip(0.3 * label + rng.uniform(0, 0.7, rows), 0, 1)
    champion["label"] = label
    canary = champion.iloc[::10].copy()
    canary["model_version"], canary["alias"] = "4", "challenger"
    noise = rng.uniform(0, 1, len(canary))
    canary["score"] = challenger_skill * canary["label"] + (1 - challenger_skill) * noise
    return pd.concat([champion, canary], ignore_index=True)


def test_pairs_are_the_rows_both_versions_scored_with_a_label() -> None:
    served = _served(1000, 0.5)
    served.loc[served["id"] == "0", "label"] = np.nan

    pairs = canary_pairs(served, "3", "4")

    assert len(pairs) == 99
    assert list(pairs.columns) == ["label", "challenger", "champion"]


def _on_canary(tmp_path: Path):
    registry = three_versions()
    registry.versions["4"] = "run-4"
    registry.mark_challenger("4", {DECISION_TAG: CANARY})
    return registry, context(tmp_path, registry, config=CANARY_CONFIG, run_id="scheduled__1")


def test_a_better_canary_is_promoted_once_through_the_move_path(tmp_path: Path) -> None:
    registry, ctx = _on_canary(tmp_path)
    window = _window()

    result = settle_canary(ctx, _served(20_000, 0.9), window)

    assert result.outcome is CanaryOutcome.PROMOTED and result.alert is None and result.log_id is not None
    assert registry.aliases["champion"] == "4" and "challenger" not in registry.aliases
    moves = logged_moves(tmp_path)
    assert [(m.action, m.from_version, m.to_version) for m in moves] == [(PromotionAction.PROMOTE, "3", "4")]
    assert moves[0].figures["interval"]["lower"] > 0
    with pytest.raises(NoCanary):  # the next run: nothing on canary, nothing logged
        settle_canary(_next_run(tmp_path, registry), _served(20_000, 0.9), window)
    assert len(logged_moves(tmp_path)) == 1


def test_a_worse_canary_is_ended_with_one_row_and_one_alert(tmp_path: Path) -> None:
    registry, ctx = _on_canary(tmp_path)

    result = settle_canary(ctx, _served(20_000, 0.0), _window())

    assert result.outcome is CanaryOutcome.ENDED and result.log_id is not None
    assert result.alert is not None and result.alert.dedup_key == "churn/canary/4/ended"
    assert registry.aliases["champion"] == "3" and "challenger" not in registry.aliases
    assert [(m.action, m.to_version) for m in logged_moves(tmp_path)] == [(PromotionAction.REJECT, "4")]


def test_an_end_whose_alias_removal_was_lost_is_completed_without_a_second_row(tmp_path: Path) -> None:
    registry, ctx = _on_canary(tmp_path)
    settle_canary(ctx, _served(20_000, 0.0), _window())
    registry.mark_challenger("4", {})  # the removal lost: the alias is back

    with pytest.raises(NoCanary, match="already settled"):  # found by the next run
        settle_canary(_next_run(tmp_path, registry), _served(20_000, 0.0), _window())

    assert "challenger" not in registry.aliases and len(logged_moves(tmp_path)) == 1


@pytest.mark.parametrize(("skill", "outcome"), [(0.0, CanaryOutcome.ENDED), (0.9, CanaryOutcome.PROMOTED)])
def test_a_retry_of_the_settling_run_gives_its_result_and_alert_again_and_logs_nothing(
    tmp_path: Path, skill: float, outcome: CanaryOutcome
) -> None:
    """The task died after settling, before its alert was recorded (or its success emitted the
    champion event): the retry must say the same, or the alert and the event are lost."""
    registry, ctx = _on_canary(tmp_path)
    first = settle_canary(ctx, _served(20_000, skill), _window())

    again = settle_canary(ctx, _served(20_000, skill), _window())  # the same run, its next try

    assert again.outcome is first.outcome is outcome
    assert (again.version, again.reason, again.log_id, again.interval) == (
        first.version, first.reason, first.log_id, first.interval,
    )  # fmt: skip
    assert again.alert == first.alert and (again.alert is not None) == (outcome is CanaryOutcome.ENDED)
    assert len(logged_moves(tmp_path)) == 1 and "challenger" not in registry.aliases


def _next_run(tmp_path: Path, registry):
    return context(tmp_path, registry, config=CANARY_CONFIG, run_id="scheduled__2")


def test_too_few_labelled_pairs_wait_and_write_nothing(tmp_path: Path) -> None:
    registry, ctx = _on_canary(tmp_path)

    result = settle_canary(ctx, _served(1000, 0.9), _window())  # 100 pairs < monitor.min_rows 200

    assert result.outcome is CanaryOutcome.WAITING and "100 labelled pairs" in result.reason
    assert registry.aliases["challenger"] == "4" and logged_moves(tmp_path) == []


def test_a_challenger_the_gate_blocked_is_no_canary(tmp_path: Path) -> None:
    registry, ctx = _on_canary(tmp_path)
    registry.tags["4"] = {DECISION_TAG: "block"}

    with pytest.raises(NoCanary):
        settle_canary(ctx, _served(20_000, 0.9), _window())
    assert registry.aliases["challenger"] == "4"


def test_with_canary_set_a_passing_gate_starts_a_canary_and_moves_nothing(tmp_path: Path) -> None:
    registry = three_versions()
    registry.versions["4"] = "run-4"
    ctx = context(tmp_path, registry, config=CANARY_CONFIG)
    evaluated = Evaluated(champion_version="3", promote=True, reason="clears", metric="roc_auc")

    applied = apply_decision(ctx, evaluated, "4", WHEN, {DECISION_TAG: "promote"})

    assert applied.canary and applied.promotion is None
    assert registry.aliases["champion"] == "3" and registry.aliases["challenger"] == "4"
    assert registry.tags["4"][DECISION_TAG] == CANARY and logged_moves(tmp_path) == []


def _window():
    from include.retraining.common import Window

    return Window(WHEN - pd.Timedelta(days=14), WHEN - pd.Timedelta(days=7))
