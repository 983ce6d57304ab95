"""The pure part of batch scoring: intervals on the cron grid, the scores, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demo.churn_data import generate_snapshots
from include.retraining.common import Window
from include.retraining.config import ScoringConfig, load_model_config
from include.retraining.learning import fit, predict_scores, split_by_time
from include.retraining.predictions import PREDICTION_COLUMNS
from include.retraining.score import ScoringInputError, score_frame, score_with_report, scoring_interval
from include.retraining.score.scoring import Stamp, inspect_input, prediction_rows
from tests.support import odd_churn_rows, with_native_categories

pytestmark = pytest.mark.unit

CONFIG = load_model_config(Path(__file__).resolve().parents[3] / "include" / "models" / "churn.yaml")
NATIVE = with_native_categories(CONFIG)
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
ODD = odd_churn_rows()


def _with(**scoring: object):
    return CONFIG.model_copy(update={"scoring": ScoringConfig(**scoring)})


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    # The demo's few missing values dropped, so each test places its own.
    return generate_snapshots(1500, START, END, seed=5).dropna().reset_index(drop=True)


@pytest.fixture(scope="module")
def model(data: pd.DataFrame):
    # Few boosting rounds: these tests need a fitted pipeline, not a good one.
    quick = CONFIG.training.model_copy(update={"params": {"max_iter": 10}})
    return fit(CONFIG.model_copy(update={"training": quick}), data)


@pytest.fixture(scope="module")
def native_model():
    data = generate_snapshots(8000, START, datetime(2026, 3, 1, tzinfo=UTC), seed=3)
    return fit(NATIVE, split_by_time(data, NATIVE).train)


@pytest.mark.parametrize(
    ("cron", "moment", "start", "end"),
    [
        ("0 4 * * *", datetime(2026, 3, 2, 4, 0, tzinfo=UTC), datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC)),
        ("0 4 * * *", datetime(2026, 3, 2, 3, 59, 59, 999, tzinfo=UTC), datetime(2026, 2, 28, 4, tzinfo=UTC), datetime(2026, 3, 1, 4, tzinfo=UTC)),
        ("0 4 * * *", datetime(2026, 3, 2, 4, 0, 0, 5, tzinfo=UTC), datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC)),
        ("@hourly", datetime(2026, 3, 2, 7, 30, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC), datetime(2026, 3, 2, 7, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_interval_is_the_grid_interval_ending_at_the_latest_fire(cron, moment, start, end) -> None:
    window = scoring_interval(cron, moment)
    assert (window.start, window.end) == (start, end)


def test_score_frame_is_the_models_own_scores_on_its_own_features(data, model) -> None:
    extra = data.assign(unrelated=1.0)[["unrelated", *reversed(CONFIG.features.columns)]]

    scores = score_frame(model, extra, CONFIG)

    assert scores.dtype == np.float64 and scores.shape == (len(data),)
    np.testing.assert_array_equal(scores, predict_scores(model, data[CONFIG.features.columns], "classification"))


def test_a_missing_feature_column_names_the_model_the_column_and_the_fix(data, model) -> None:
    with pytest.raises(ScoringInputError, match=r"'churn'.*\['region'\].*scoring.table"):
        score_frame(model, data.drop(columns=["region"]), CONFIG)


def test_nulls_are_imputed_by_default_and_stop_the_run_under_fail(data, model) -> None:
    holed = data.copy()
    holed.loc[holed.index[:7], "monthly_charges"] = np.nan

    scores, report = score_with_report(model, holed, _with())

    assert np.isfinite(scores).all() and report.nulls == {"monthly_charges": 7}
    with pytest.raises(ScoringInputError, match=r"nulls in \{'monthly_charges': 7\}.*scoring.nulls: impute"):
        score_frame(model, holed, _with(nulls="fail"))


def test_unseen_categories_are_counted_scored_by_default_and_stop_the_run_under_fail(data, model) -> None:
    renamed = data.copy()
    renamed.loc[renamed.index[:11], "region"] = "atlantis"
    renamed.loc[renamed.index[11:13], "region"] = None  # a null is a null, not an unseen category

    scores, report = score_with_report(model, renamed, _with())

    assert np.isfinite(scores).all()
    assert report.unseen == {"region": 11} and report.unseen_examples == {"region": ["atlantis"]}
    assert report.nulls == {"region": 2}
    with pytest.raises(ScoringInputError, match=r"never saw.*'region': 11\} and.*unseen_categories: score") as caught:
        score_frame(model, renamed, _with(unseen_categories="fail"))
    assert "atlantis" not in str(caught.value)  # row values stay out of alerts unless the model opts in
    opted_in = _with(unseen_categories="fail").model_copy(
        update={"validation": CONFIG.validation.model_copy(update={"include_values_in_alerts": True})}
    )
    with pytest.raises(ScoringInputError, match="atlantis"):
        score_frame(model, renamed, opted_in)


def test_a_native_model_counts_unseen_categories_and_still_scores_them(native_model) -> None:
    report = inspect_input(native_model, ODD, NATIVE)

    scores = predict_scores(native_model, ODD, "classification")

    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    assert report.unseen == {"contract": 1, "payment_method": 1, "region": 1}


def test_an_empty_window_scores_to_nothing(data, model) -> None:
    assert score_frame(model, data.iloc[:0], CONFIG).shape == (0,)


def test_prediction_rows_follow_the_tables_contract() -> None:
    window = Window(datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC))
    rows = pd.DataFrame({"customer_id": [7.0, 8.0], "snapshot_at": pd.to_datetime(["2026-03-01 05:00"] * 2)})
    stamp = Stamp("churn", "3", "challenger", window, datetime(2026, 3, 2, 5, tzinfo=UTC), "run-1")

    frame = prediction_rows(rows, np.array([0.25, 0.5]), "customer_id", "snapshot_at", stamp)

    assert list(frame.columns) == list(PREDICTION_COLUMNS)
    assert frame["id"].tolist() == ["7", "8"] and frame["score"].tolist() == [0.25, 0.5]
    assert set(frame["alias"]) == {"challenger"} and set(frame["model_version"]) == {"3"}
    assert frame["interval_end"].iloc[0] == pd.Timestamp("2026-03-02 04:00")  # naive UTC, as stored


def test_text_in_a_numeric_column_stops_the_run_under_fail_and_is_counted_under_impute(data, model) -> None:
    typed = data.copy()
    typed["tenure_months"] = typed["tenure_months"].astype(object)
    typed.loc[typed.index[:3], "tenure_months"] = ["twelve", "N/A", ""]
    typed.loc[typed.index[3], "tenure_months"] = None  # a null, counted as one

    with pytest.raises(
        ScoringInputError, match=r"'churn'.*'tenure_months': 3.*text, not a number.*nulls: impute"
    ) as caught:
        score_frame(model, typed, _with(nulls="fail"))
    scores, report = score_with_report(model, typed, _with())

    assert "twelve" not in str(caught.value) and "N/A" not in str(caught.value)
    assert report.invalid == {"tenure_months": 3} and report.nulls == {"tenure_months": 1}
    blank = typed.copy()
    blank.loc[blank.index[:3], "tenure_months"] = None
    np.testing.assert_array_equal(scores, score_frame(model, blank, _with()))  # scored as the nulls they became


def test_an_infinite_number_is_counted_under_impute_instead_of_breaking_the_scaler(data, model) -> None:
    inf = data.assign(monthly_charges=data["monthly_charges"].astype("float64"))
    inf.loc[inf.index[:2], "monthly_charges"] = np.inf

    scores, report = score_with_report(model, inf, _with())

    assert np.isfinite(scores).all() and report.invalid == {"monthly_charges": 2} and report.nulls == {}
    with pytest.raises(ScoringInputError, match="non-finite"):
        score_frame(model, inf, _with(nulls="fail"))


def test_for_a_request_every_bad_value_is_refused_by_column_and_row_whatever_the_null_policy(data, model) -> None:
    from include.retraining.score import BadInputError

    typed = data.head(5).astype({"support_tickets_90d": object})
    typed.loc[typed.index[2], "support_tickets_90d"] = "many"

    with pytest.raises(BadInputError) as caught:
        score_frame(model, typed, _with(nulls="impute"), refuse_bad_values=True)

    assert str(caught.value) == "column 'support_tickets_90d' row 2: text, not a number; expected a number"
    assert [(b.column, b.first_row) for b in caught.value.columns] == [("support_tickets_90d", 2)]


def test_a_window_text_column_of_numbers_scores_as_those_numbers(data, model) -> None:
    text = data.assign(tenure_months=data["tenure_months"].map(lambda v: f"{v:g}").astype(object))

    scores, report = score_with_report(model, text, _with(nulls="fail"))

    assert report.invalid == {} and report.nulls == {}
    np.testing.assert_array_equal(scores, score_frame(model, data, CONFIG))
