"""The promotion gate: the threshold, the paired interval against min_improvement, the guardrails,
known better and worse models judged as such, and the decision on pooled evidence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from include.retraining.config import ModelConfigError, load_model_config, parse_model_config
from include.retraining.learning import ImprovementInterval, LeakageSign, LeakageSuspect, compute_metrics
from include.retraining.promotion import GuardrailCheck, HoldoutEvidence, decide_promotion, judge, pool_evidence

pytestmark = pytest.mark.unit

CHURN = Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml"


def _interval(lower: float, difference: float = 0.01, metric: str = "roc_auc") -> ImprovementInterval:
    return ImprovementInterval(metric, difference, lower, difference + 0.01, 0.95, "delong", 1000)


def _decide(**overrides):
    args = dict(
        metric="roc_auc",
        higher_is_better=True,
        threshold=0.7,
        min_improvement=0.0,
        challenger_value=0.8,
        champion_value=0.79,
        interval=_interval(0.002),
    )
    args.update(overrides)
    return decide_promotion(**args)


def test_first_model_is_promoted_on_threshold_alone() -> None:
    decision = _decide(champion_value=None, interval=None)
    assert decision.promote and "first model" in decision.reason


def test_a_first_model_without_a_threshold_says_so() -> None:
    decision = _decide(champion_value=None, interval=None, threshold=None)
    assert decision.promote and "no gate.threshold set" in decision.reason


def test_threshold_floor_blocks_even_the_first_model() -> None:
    decision = _decide(challenger_value=0.65, champion_value=None, interval=None)
    assert not decision.promote and "floor" in decision.reason


def test_threshold_is_a_ceiling_for_lower_is_better_metrics() -> None:
    assert not _decide(metric="rmse", higher_is_better=False, threshold=10.0, challenger_value=12.0).promote
    assert _decide(metric="rmse", higher_is_better=False, threshold=10.0, challenger_value=9.0).promote


@pytest.mark.parametrize(
    ("lower", "min_improvement", "promote"),
    [
        (0.002, 0.0, True),
        (-0.001, 0.0, False),
        (0.0, 0.0, False),
        (0.004, 0.005, False),
        (0.006, 0.005, True),
    ],
)
def test_lower_bound_must_clear_min_improvement(lower: float, min_improvement: float, promote: bool) -> None:
    assert _decide(interval=_interval(lower), min_improvement=min_improvement).promote is promote


@pytest.mark.parametrize(
    "overrides",
    [
        {"challenger_value": math.nan, "champion_value": None, "interval": None, "threshold": None},
        {"challenger_value": math.nan, "champion_value": None, "interval": None},
        {"challenger_value": math.nan},
        {"interval": _interval(math.nan, difference=math.nan)},
    ],
)
def test_nan_never_promotes(overrides: dict) -> None:
    decision = _decide(**overrides)
    assert not decision.promote


def test_a_broken_guardrail_blocks_an_otherwise_better_challenger() -> None:
    holds = GuardrailCheck("f1", 0.01, _interval(-0.005, metric="f1"))
    broken = GuardrailCheck("log_loss", 0.01, _interval(-0.02, metric="log_loss"))
    assert _decide(guardrails=(holds,)).promote
    decision = _decide(guardrails=(holds, broken))
    assert not decision.promote and "guardrail log_loss" in decision.reason and "f1" not in decision.reason
    assert decision.to_dict()["guardrails"][1]["holds"] is False


def test_a_guardrail_without_evidence_blocks() -> None:
    unknown = GuardrailCheck("log_loss", 0.01, _interval(math.nan, metric="log_loss"))
    assert not unknown.holds and not _decide(guardrails=(unknown,)).promote


def _config(**gate: object):
    data = yaml.safe_load(CHURN.read_text())
    data["gate"].update(gate)
    return parse_model_config(data, CHURN)


def _holdout(seed: int, n: int, challenger_signal: float, champion_signal: float = 1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)

    def model(signal: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(signal * (2 * y - 1) + shared + 0.5 * rng.normal(size=n))))

    return y, model(challenger_signal), model(champion_signal)


def _judge(config, y, challenger, champion):
    return judge(
        config,
        y,
        challenger,
        champion,
        compute_metrics("classification", y, challenger),
        compute_metrics("classification", y, champion),
    )


def test_a_known_better_model_is_promoted_and_a_known_worse_one_is_not() -> None:
    y, better, champion = _holdout(seed=1, n=3000, challenger_signal=1.4)
    decision = _judge(_config(), y, better, champion)
    assert decision.promote and decision.interval.method == "delong" and decision.interval.lower > 0
    y, worse, champion = _holdout(seed=2, n=3000, challenger_signal=0.8)
    decision = _judge(_config(), y, worse, champion)
    assert not decision.promote and decision.interval.upper < 0


def test_a_better_ranking_with_broken_calibration_is_stopped_by_a_log_loss_guardrail() -> None:
    y, better, champion = _holdout(seed=3, n=3000, challenger_signal=1.4)
    overconfident = 1 / (1 + np.exp(-8 * np.log(better / (1 - better))))  # same ranking, far too sure
    assert _judge(_config(), y, overconfident, champion).promote
    decision = _judge(_config(guardrails={"log_loss": 0.02}), y, overconfident, champion)
    assert not decision.promote and "guardrail log_loss" in decision.reason
    assert decision.guardrails[0].interval.method == "delta_method"


def test_the_first_model_is_judged_on_the_threshold_alone() -> None:
    y, challenger, _ = _holdout(seed=4, n=500, challenger_signal=1.0)
    metrics = compute_metrics("classification", y, challenger)
    decision = judge(_config(guardrails={"log_loss": 0.0}), y, challenger, None, metrics, None)
    assert decision.promote and decision.interval is None and decision.guardrails == ()


def test_gate_config_guardrails_and_wape(tmp_path: Path) -> None:
    assert _config(guardrails={"log_loss": 0.01}).gate.guardrails == {"log_loss": 0.01}
    with pytest.raises(ModelConfigError, match=r"gate.guardrails \['rmse'\] do not fit task"):
        _config(guardrails={"rmse": 0.1})
    with pytest.raises(ModelConfigError, match="must be finite and >= 0"):
        _config(guardrails={"log_loss": -0.01})
    data = yaml.safe_load(CHURN.read_text())
    data.update(task="regression", gate={"metric": "mape"})
    path = tmp_path / "churn.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ModelConfigError, match="mape was replaced by wape"):
        load_model_config(path)


def test_with_pooled_evidence_the_current_challenger_below_the_champion_is_blocked() -> None:
    pooled = _interval(0.004, difference=0.012)
    assert _decide(interval=pooled, own_interval=_interval(-0.03, difference=0.001)).promote
    decision = _decide(interval=pooled, own_interval=_interval(-0.04, difference=-0.002))
    assert not decision.promote and "this challenger is below the champion" in decision.reason


@pytest.mark.parametrize("windows", [0, 13])
def test_pooled_windows_out_of_bounds_fails_at_parse_time(windows: int) -> None:
    with pytest.raises(ModelConfigError, match="pooled_windows"):
        _config(pooled_windows=windows)


def _evidence(run_id: str, y, challenger, champion, start: float) -> HoldoutEvidence:
    times = start + np.arange(len(y), dtype=float)
    return HoldoutEvidence(run_id, "1", "h", times, y, challenger, champion, started_at=start)


def test_judge_measures_every_interval_on_the_pooled_rows_and_reports_them() -> None:
    config = _config(pooled_windows=2, guardrails={"log_loss": 0.05})
    y, challenger, champion = _holdout(seed=4, n=1000, challenger_signal=1.1)
    older = _evidence("old", *_holdout(seed=5, n=1000, challenger_signal=1.1), start=0.0)
    current = _evidence("new", y, challenger, champion, start=5000.0)
    pooled = pool_evidence(current, [older], 2, baseline_cutoff=-1.0, since=0.0)

    decision = judge(
        config,
        y,
        challenger,
        champion,
        compute_metrics("classification", y, challenger),
        compute_metrics("classification", y, champion),
        pooled,
    )

    assert decision.interval.rows == decision.guardrails[0].interval.rows == 2000
    assert decision.own_interval.rows == 1000
    assert decision.to_dict()["pooled"]["rows_per_window"] == [1000, 1000]
    assert "2,000 rows of consecutive holdouts pooled (this one: 1,000)" in decision.reason


def test_one_window_decides_exactly_as_without_pooling() -> None:
    config = _config(pooled_windows=2)
    y, challenger, champion = _holdout(seed=6, n=1000, challenger_signal=1.2)
    alone = pool_evidence(_evidence("new", y, challenger, champion, 0.0), [], 2, baseline_cutoff=-1.0, since=0.0)
    metrics = (compute_metrics("classification", y, challenger), compute_metrics("classification", y, champion))

    pooled = judge(config, y, challenger, champion, *metrics, alone)

    assert pooled == judge(_config(), y, challenger, champion, *metrics)


def test_a_leakage_suspect_blocks_a_challenger_the_comparison_would_promote() -> None:
    y, better, champion = _holdout(seed=1, n=3000, challenger_signal=1.4)
    suspect = LeakageSuspect(LeakageSign.FEATURE, "refund", 1.0, 0.99, "gate.leakage.single_feature", "2|AUC - 0.5|")
    metrics = (compute_metrics("classification", y, better), compute_metrics("classification", y, champion))

    decision = judge(_config(), y, better, champion, *metrics, None, ((suspect,), {"refund": 1.0}))

    assert _judge(_config(), y, better, champion).promote  # the same challenger without the suspect
    assert not decision.promote and decision.reason.startswith("label leakage suspected: feature 'refund'")
    assert decision.interval is not None and decision.interval.lower > 0  # the figures stay for the alert
    assert decision.to_dict()["leakage"] == [suspect.to_dict()] and suspect.to_dict()["sign"] == "feature"


def test_the_reason_names_the_default_confidence_as_it_is_not_rounded_to_100_percent() -> None:
    # 0.995 is the default confidence: shown as "100%" the reason would claim a certainty it lacks.
    interval = ImprovementInterval("roc_auc", 0.01, 0.004, 0.016, 0.995, "delong", 1000)
    check = GuardrailCheck("log_loss", 0.001, ImprovementInterval("log_loss", -0.01, -0.02, 0.0, 0.995, "delta", 1000))

    decision = _decide(interval=interval, guardrails=(check,))

    assert "99.5% lower bound +0.0040" in decision.reason and "99.5% bound -0.0200" in decision.reason
