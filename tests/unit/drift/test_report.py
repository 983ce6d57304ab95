"""Unit tests for include.retraining.drift.report: the Evidently adapter, its snapshot parsing,
and the trigger policy's verdict it writes on top of both report files, including a window where
Evidently and the policy differ."""

from __future__ import annotations

import json
from decimal import Decimal
from html import escape

import numpy as np
import pandas as pd
import pytest

from include.retraining.config import TriggerConfig
from include.retraining.drift import (
    NO_SEASONAL,
    ColumnDrift,
    DriftEvidence,
    DriftInputError,
    DriftSummary,
    SeasonalEvidence,
    column_tests,
    compute_data_drift,
    drift_evidence,
    summarize_snapshot,
)

pytestmark = pytest.mark.unit

NUMERIC = [f"num_{i:02d}" for i in range(12)] + ["tickets", "tenure"]
CATEGORICAL = ["contract", "payment", "region", "device", "plan", "channel"]
SHIFTED = ["num_03", "num_07"]


def _window(rows: int, *, seed: int, shift: float = 0.0, shifted: tuple[str, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for column in NUMERIC[:12]:
        data[column] = rng.normal(0.0, 1.0, rows) + (shift if column in shifted else 0.0)
    data["tickets"] = rng.poisson(2.0, rows)
    data["tenure"] = rng.integers(0, 73, rows)
    for column in CATEGORICAL:
        data[column] = rng.choice(["a", "b", "c", "d", "e"], size=rows, p=[0.4, 0.25, 0.15, 0.1, 0.1])
    return pd.DataFrame(data)


def _drift(reference: pd.DataFrame, current: pd.DataFrame, **kwargs) -> DriftSummary:
    return compute_data_drift(reference, current, numeric=NUMERIC, categorical=CATEGORICAL, **kwargs)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _window(3000, seed=1)


@pytest.fixture(scope="module")
def shifted_summary(reference: pd.DataFrame) -> DriftSummary:
    return _drift(reference, _window(3000, seed=2, shift=0.5, shifted=tuple(SHIFTED)))


# compute_data_drift


def test_stationary_windows_flag_no_column(reference):
    summary = _drift(reference, _window(3000, seed=3))

    assert summary.drifted_columns == []
    assert summary.drift_share == 0.0
    assert len(summary.columns) == len(NUMERIC) + len(CATEGORICAL)


def test_half_sd_shift_in_two_columns_flags_exactly_those(shifted_summary):
    assert sorted(shifted_summary.drifted_columns) == sorted(SHIFTED)
    assert shifted_summary.drift_share == pytest.approx(2 / 20)
    assert shifted_summary.columns["num_03"].stattest == "Wasserstein distance (normed)"


def test_integer_columns_are_compared_as_declared_numeric(shifted_summary):
    assert shifted_summary.columns["tickets"].kind == "numeric"
    assert shifted_summary.columns["tenure"].stattest == "Wasserstein distance (normed)"
    assert shifted_summary.columns["contract"].kind == "categorical"


def test_sampling_is_deterministic_for_the_same_seed():
    reference, current = _window(6000, seed=4), _window(6000, seed=5)

    first = _drift(reference, current, max_rows=2000, seed=7)
    second = _drift(reference, current, max_rows=2000, seed=7)
    other_seed = _drift(reference, current, max_rows=2000, seed=8)

    assert first == second
    assert (first.n_reference, first.n_current) == (2000, 2000)
    assert first.columns["num_00"].score != other_seed.columns["num_00"].score


def test_sampled_run_flags_the_same_columns_as_the_full_run():
    reference = _window(20_000, seed=6)
    current = _window(20_000, seed=7, shift=0.5, shifted=tuple(SHIFTED))

    full = _drift(reference, current, max_rows=None)
    sampled = _drift(reference, current, max_rows=3000)

    assert sorted(sampled.drifted_columns) == sorted(full.drifted_columns) == sorted(SHIFTED)
    assert sampled.n_current == 3000 and full.n_current == 20_000


def test_column_all_null_in_current_counts_as_drifted(reference):
    current = _window(3000, seed=8)
    current["num_05"] = np.nan

    summary = _drift(reference, current)

    assert summary.drifted_columns == ["num_05"]
    assert summary.columns["num_05"].stattest == "all_null"
    assert summary.columns["num_05"].score == 1.0


def test_column_all_null_in_reference_raises_naming_it():
    reference = _window(2000, seed=9)
    reference["region"] = None

    with pytest.raises(DriftInputError, match=r"'region'.*reference"):
        _drift(reference, _window(2000, seed=10))


@pytest.mark.parametrize("rows", [600, 3000], ids=["chi-square", "jensen-shannon"])
def test_category_unseen_in_reference_is_drift(rows):
    reference = _window(rows, seed=11)
    current = _window(rows, seed=12)
    current.loc[: rows // 3, "device"] = "new-device"

    summary = _drift(reference, current)

    # At <= 1000 rows Evidently uses p-value tests at 0.05, so other columns may false-alarm.
    assert summary.columns["device"].drifted is True
    assert summary.drifted_columns[0] == "device"


def test_empty_current_window_raises(reference):
    with pytest.raises(DriftInputError, match="current window is empty"):
        _drift(reference, reference.iloc[0:0])


@pytest.mark.parametrize("frame_name", ["reference", "current"])
def test_missing_feature_column_names_column_and_frame(reference, frame_name):
    frames = {"reference": reference, "current": reference}
    frames[frame_name] = reference.drop(columns=["payment"])

    with pytest.raises(DriftInputError, match=rf"'payment'.*{frame_name}"):
        _drift(frames["reference"], frames["current"])


def test_text_in_a_numeric_column_raises_naming_it(reference):
    current = _window(3000, seed=13)
    current["tenure"] = current["tenure"].astype(object)
    current.loc[5, "tenure"] = "n/a"

    with pytest.raises(DriftInputError, match=r"'tenure'.*current"):
        _drift(reference, current)


def test_max_rows_at_evidently_small_data_switch_is_rejected(reference):
    with pytest.raises(ValueError, match="max_rows=1000"):
        _drift(reference, reference, max_rows=1000)


def test_single_stattest_applies_to_every_column():
    reference, current = _window(1500, seed=14), _window(1500, seed=15)

    summary = _drift(reference, current, stattest="psi")

    assert {c.stattest for c in summary.columns.values()} == {"PSI"}


def test_stattest_by_type_and_by_column_with_column_winning():
    reference, current = _window(1500, seed=16), _window(1500, seed=17)

    summary = _drift(reference, current, stattest={"numeric": "ks", "categorical": "psi", "num_01": "psi"})

    assert summary.columns["num_00"].stattest == "K-S p_value"
    assert summary.columns["num_01"].stattest == "PSI"
    assert summary.columns["region"].stattest == "PSI"


@pytest.mark.parametrize(
    ("stattest", "message"),
    [
        ({"not_a_column": "ks"}, "not_a_column"),
        ("no-such-test", "no-such-test"),
        ({"categorical": "wasserstein"}, "categorical"),
    ],
)
def test_bad_stattest_raises_before_running(reference, stattest, message):
    with pytest.raises(DriftInputError, match=message):
        _drift(reference, reference, stattest=stattest)


def test_reports_are_written_with_summary_and_evidently_dict(tmp_path):
    reference, current = _window(1200, seed=18), _window(1200, seed=19, shift=0.5, shifted=("num_03",))
    html_path, json_path = tmp_path / "a" / "drift.html", tmp_path / "b" / "drift.json"

    summary = _drift(reference, current, html_path=html_path, json_path=json_path)

    payload = json.loads(json_path.read_text())
    assert payload["summary"] == summary.to_dict()
    assert payload["evidently"]["metrics"][0]["metric_name"].startswith("DriftedColumnsCount")
    assert "<html" in html_path.read_text()[:2000].lower()


def test_reports_without_evidence_carry_no_policy_section(tmp_path):
    reference, current = _window(1200, seed=18), _window(1200, seed=19)

    _drift(reference, current, html_path=tmp_path / "d.html", json_path=tmp_path / "d.json")

    assert "policy" not in json.loads((tmp_path / "d.json").read_text())
    assert "retraining-verdict" not in (tmp_path / "d.html").read_text()


# The trigger policy's verdict beside Evidently's, where the two differ.


def _policy(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    seasonal_frame: pd.DataFrame | None = None,
) -> DriftEvidence:
    """The trigger policy's evidence of the same rows, every column equally important."""
    columns = [*numeric, *categorical]
    again = column_tests(seasonal_frame, current, numeric, categorical) if seasonal_frame is not None else None
    seasonal = SeasonalEvidence("season_ago", len(seasonal_frame)) if seasonal_frame is not None else NO_SEASONAL
    return drift_evidence(
        column_tests(reference, current, numeric, categorical),
        dict.fromkeys(columns, 1 / len(columns)),
        TriggerConfig(),
        champion_version="3",
        n_reference=len(reference),
        n_current=len(current),
        seasonal_tests=again,
        seasonal=seasonal,
    )


def _written(tmp_path) -> tuple[str, dict]:
    return (tmp_path / "drift.html").read_text(encoding="utf-8"), json.loads((tmp_path / "drift.json").read_text())


def test_a_swing_the_seasonal_reference_explains_is_flagged_by_evidently_and_the_report_says_why_not_counted(
    reference, tmp_path
):
    season_ago = _window(3000, seed=31, shift=0.5, shifted=("num_03",))  # num_03 swings every season
    current = _window(3000, seed=32, shift=0.5, shifted=tuple(SHIFTED))
    evidence = _policy(reference, current, NUMERIC, CATEGORICAL, seasonal_frame=season_ago)

    summary = _drift(
        reference,
        current,
        html_path=tmp_path / "drift.html",
        json_path=tmp_path / "drift.json",
        evidence=evidence,
        trigger=TriggerConfig(),
    )

    html, payload = _written(tmp_path)
    why = (
        "not counted: drifted against the champion's data but not against the seasonal reference "
        "(season_ago): a recurring swing"
    )
    assert sorted(summary.drifted_columns) == SHIFTED and evidence.drifted == ["num_07"]
    policy = payload["policy"]
    assert policy["counted"] == ["num_07"] and policy["seasonal"]["mode"] == "season_ago"
    assert policy["disagreement"] == "Evidently flags num_03, which the trigger policy does not count"
    row = next(c for c in policy["columns"] if c["column"] == "num_03")
    assert (row["evidently_drifted"], row["counted"], row["seasonal_masked"], row["why"]) == (True, False, True, why)
    section = html[html.index("<body>") : html.index("</section>")]  # at the top of the report
    assert 'id="retraining-verdict"' in section and "Counted by the policy: num_07" in section
    assert "They differ: Evidently flags num_03, which the trigger policy does not count." in section
    assert "<td style='padding:2px 8px'>num_03</td>" in section and escape(why) in section
    assert '<div id="root_metric_' in html[html.index("</section>") :]  # Evidently's own report follows


def test_a_significant_shift_too_small_to_matter_is_flagged_by_evidently_and_the_report_says_why_not_counted(
    tmp_path,
):
    numeric = NUMERIC[:4]
    reference = _window(20_000, seed=40)
    current = _window(20_000, seed=41, shift=0.08, shifted=("num_03",))  # 0.08 SD: significant at 20,000 rows
    evidence = _policy(reference, current, numeric, [])

    summary = compute_data_drift(
        reference,
        current,
        numeric=numeric,
        categorical=[],
        stattest="ks",
        html_path=tmp_path / "drift.html",
        json_path=tmp_path / "drift.json",
        evidence=evidence,
        trigger=TriggerConfig(),
    )

    html, payload = _written(tmp_path)
    column = evidence.columns["num_03"]
    why = f"not counted: too small to matter (effect {column.effect:.3f} < min_effect 0.1)"
    assert summary.drifted_columns == ["num_03"] and summary.columns["num_03"].stattest == "K-S p_value"
    assert column.q_value <= TriggerConfig().fdr and evidence.drifted == []
    assert payload["policy"]["disagreement"] == "Evidently flags num_03, which the trigger policy does not count"
    row = next(c for c in payload["policy"]["columns"] if c["column"] == "num_03")
    assert (row["evidently_drifted"], row["counted"], row["why"]) == (True, False, why)
    assert "Counted by the policy: none" in html and escape(why) in html
    assert "They differ: Evidently flags num_03, which the trigger policy does not count." in html


def test_when_evidently_and_the_policy_agree_the_report_says_no_difference(reference, tmp_path):
    current = _window(3000, seed=33, shift=0.5, shifted=tuple(SHIFTED))

    _drift(
        reference,
        current,
        html_path=tmp_path / "drift.html",
        json_path=tmp_path / "drift.json",
        evidence=_policy(reference, current, NUMERIC, CATEGORICAL),
    )

    html, payload = _written(tmp_path)
    assert payload["policy"]["disagreement"] == "" and sorted(payload["policy"]["counted"]) == SHIFTED
    assert "They differ" not in html and 'id="retraining-verdict"' in html


def test_summary_to_dict_is_strict_json(shifted_summary):
    text = json.dumps(shifted_summary.to_dict(), allow_nan=False)

    assert json.loads(text)["drifted_columns"] == shifted_summary.drifted_columns


# summarize_snapshot


@pytest.fixture(scope="module")
def snapshot_dict() -> dict:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference, current = _window(3000, seed=20), _window(3000, seed=21, shift=0.5, shifted=tuple(SHIFTED))
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset(columns=NUMERIC + CATEGORICAL)], include_tests=True).run(
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
        current_data=Dataset.from_pandas(current, data_definition=definition),
    )
    # A stored snapshot is JSON: parse what a file would hold, not live objects.
    return json.loads(json.dumps(snapshot.dict(), default=float))


def test_summarize_snapshot_matches_evidentlys_own_count(snapshot_dict):
    summary = summarize_snapshot(snapshot_dict, NUMERIC, CATEGORICAL, n_reference=3000, n_current=3000)

    count = next(m for m in snapshot_dict["metrics"] if m["metric_name"].startswith("DriftedColumnsCount"))
    assert sorted(summary.drifted_columns) == sorted(SHIFTED)
    assert len(summary.drifted_columns) == count["value"]["count"]
    assert summary.drift_share == pytest.approx(count["value"]["share"])


def test_summarize_snapshot_without_tests_derives_the_same_flags(snapshot_dict):
    with_tests = summarize_snapshot(snapshot_dict, NUMERIC, CATEGORICAL)

    without_tests = summarize_snapshot({"metrics": snapshot_dict["metrics"]}, NUMERIC, CATEGORICAL)

    assert without_tests == with_tests


def test_summarize_snapshot_orders_drifted_by_severity(snapshot_dict):
    summary = summarize_snapshot(snapshot_dict, NUMERIC, CATEGORICAL)

    scores = [summary.columns[c].score for c in summary.drifted_columns]
    assert scores == sorted(scores, reverse=True)


def test_summarize_snapshot_without_a_requested_column_raises(snapshot_dict):
    with pytest.raises(DriftInputError, match="'not_monitored'"):
        summarize_snapshot(snapshot_dict, [*NUMERIC, "not_monitored"], CATEGORICAL)


@pytest.mark.parametrize(
    ("method", "score", "drifted", "display"),
    [
        ("ks", 0.01, True, "K-S p_value"),
        ("ks", 0.2, False, "K-S p_value"),
        ("psi", 0.05, False, "PSI"),
        ("psi", 0.3, True, "PSI"),
    ],
)
def test_summarize_snapshot_reads_methods_named_by_the_caller(method, score, drifted, display):
    threshold = 0.05 if method == "ks" else 0.1
    snapshot = {
        "metrics": [
            {
                "id": "m1",
                "metric_name": f"ValueDrift(column=x,method={method},threshold={threshold})",
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": "x",
                    "method": method,
                    "threshold": threshold,
                },
                "value": score,
            }
        ]
    }

    summary = summarize_snapshot(snapshot, ["x"], [])

    assert summary.columns["x"] == ColumnDrift("x", "numeric", display, score, threshold, drifted)


def test_decimal_numbers_from_postgres_numeric_are_compared_as_numbers():
    reference = _window(1500, seed=26)
    current = _window(1500, seed=27, shift=0.5, shifted=("num_03",))
    expected = _drift(reference, current)
    for frame in (reference, current):
        frame["num_03"] = [Decimal(str(value)) for value in frame["num_03"]]

    summary = _drift(reference, current)

    assert summary.drifted_columns == expected.drifted_columns
    assert summary.columns["num_03"].score == pytest.approx(expected.columns["num_03"].score)


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow"])
def test_nullable_and_arrow_dtypes_are_compared_like_numpy_ones(backend):
    reference = _window(1500, seed=24)
    current = _window(1500, seed=25, shift=0.5, shifted=("num_03",))
    expected = _drift(reference, current)
    reference, current = reference.convert_dtypes(dtype_backend=backend), current.convert_dtypes(dtype_backend=backend)

    summary = _drift(reference, current)

    assert summary == expected
