"""What an alert says: every part escaped for Slack, a key per run and gate, and the drift
alert naming the columns the decision counted, not every column Evidently flagged."""

from __future__ import annotations

import pytest

from include.retraining.alerts import (
    Alert,
    drift_alert,
    drift_held_back_alert,
    error_summary,
    escape_mrkdwn,
    gate_blocked_alert,
    gate_key,
    performance_limit_alert,
)
from include.retraining.drift import ColumnEvidence, DriftDecision, DriftEvidence

pytestmark = pytest.mark.unit

RETRAIN = DriftDecision(True, True, ["weighted drift 0.41 > 0.30"], None).to_dict()


def _alert(line: str = "3 expectations failed") -> Alert:
    return Alert("validation_failed", "churn", "churn: data validation failed", [line], dedup_key="k")


def _column(name: str, effect: float, importance: float, drifted: bool, masked: bool = False) -> ColumnEvidence:
    return ColumnEvidence(name, 0.001 if drifted else 0.5, 0.002, effect, importance, drifted, masked)


def _drift(evidence: DriftEvidence, evidently_flagged: list[str]) -> dict:
    """The data-drift task's XCom dict, as far as the alert reads it."""
    return {
        "drift_share": len(evidently_flagged) / 6,
        "drifted_columns": evidently_flagged,
        "prediction_psi": 0.12,
        "evidence": evidence.to_dict(),
    }


def test_text_from_data_cannot_ping_or_link_in_slack() -> None:
    alert = _alert(line="region: e.g. ['<!channel> jane@example.com <https://evil.example|login>', 'R&D']")

    text = alert.text()

    assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt;" in text and "R&amp;D" in text
    assert escape_mrkdwn("a < b > c & d") == "a &lt; b &gt; c &amp; d"


def test_links_are_listed_and_an_empty_one_left_out() -> None:
    alert = Alert("gate_blocked", "churn", "t", ["line"], {"MLflow run": "http://m/1?a=1&b=2", "Report": ""})

    assert alert.text().splitlines() == ["*t*", "line", "MLflow run: http://m/1?a=1&amp;b=2"]


def test_an_alert_reads_back_from_its_record_and_ignores_unknown_keys() -> None:
    alert = Alert("drift_detected", "churn", "t", ["a"], {"x": "y"}, {"drift_share": 0.5}, "monitor_churn/r/drift")

    assert Alert.from_dict({**alert.to_dict(), "recorded_at": "2026-03-02"}) == alert


def test_one_key_per_dag_run_and_gate() -> None:
    assert gate_key("retrain_churn", "manual__1", "validate") == "retrain_churn/manual__1/validate"


def test_the_drift_alert_names_the_columns_the_decision_counted_most_weighty_first() -> None:
    evidence = DriftEvidence(
        champion_version="3",
        n_reference=5000,
        n_current=4000,
        columns={
            "contract": _column("contract", 0.20, 0.10, drifted=True),  # 0.02
            "monthly_charges": _column("monthly_charges", 0.30, 0.40, drifted=True),  # 0.12: first
            "region": _column("region", 0.50, 0.05, drifted=False, masked=True),  # the season explains it
            "tenure_months": _column("tenure_months", 0.01, 0.30, drifted=False),
        },
    )

    alert = drift_alert("churn", RETRAIN, _drift(evidence, ["region", "tenure_months"]), {}, "k")

    (named,) = [line for line in alert.lines if line.startswith("Drifted features the decision counted: ")]
    assert named == (
        "Drifted features the decision counted: monthly_charges (effect 0.300, importance 0.40), "
        "contract (effect 0.200, importance 0.10)"
    )
    assert "region" not in alert.text() and "tenure_months" not in alert.text()  # Evidently's flags never shown
    assert alert.lines[0] == "weighted drift 0.41 > 0.30" and alert.lines[-1].startswith("retrain_churn")
    assert alert.figures == {
        "drift_share": 2 / 6,
        "drifted_columns": ["region", "tenure_months"],
        "prediction_psi": 0.12,
    }


def test_a_decision_that_counted_no_column_names_none() -> None:
    evidence = DriftEvidence("3", 5000, 4000, {"region": _column("region", 0.5, 0.05, drifted=False)})
    prediction_only = {**RETRAIN, "reasons": ["prediction PSI 0.31 > 0.25"]}

    alert = drift_alert("churn", prediction_only, _drift(evidence, ["region"]), {}, "k")

    assert not any("Drifted features" in line for line in alert.lines)
    assert alert.lines == ["prediction PSI 0.31 > 0.25", "retrain_churn has been triggered through the drift asset."]


def test_the_drift_alert_names_at_most_five_columns() -> None:
    columns = {f"c{i}": _column(f"c{i}", 0.1 * (i + 1), 0.1, drifted=True) for i in range(7)}

    alert = drift_alert("churn", RETRAIN, _drift(DriftEvidence("3", 10, 10, columns), []), {}, "k")

    (named,) = [line for line in alert.lines if line.startswith("Drifted features")]
    assert named.count("(effect") == 5 and named.index("c6 ") < named.index("c2 ") and "c1 " not in named


def test_a_blocked_challenger_alert_states_both_values_and_the_interval() -> None:
    figures = {
        "metric": "roc_auc",
        "challenger_value": 0.81,
        "champion_value": 0.80,
        "interval": {"difference": 0.01, "lower": -0.004, "upper": 0.024, "confidence": 0.95},
    }

    alert = gate_blocked_alert("churn", "the improvement is not significant", figures, {}, "k")

    assert alert.lines[0] == "Reason: the improvement is not significant"
    assert alert.lines[1] == (
        "roc_auc: challenger 0.8100, champion 0.8000, difference +0.0100 "
        "(95.0% lower bound -0.0040; 90.0% interval -0.0040 .. +0.0240)"
    )
    assert alert.lines[-1] == "The champion is unchanged; the new version has alias `challenger`."


def _raised(action) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the exception itself is what is tested
        return exc
    raise AssertionError("nothing was raised")


def test_a_library_error_quoting_a_cell_value_reaches_the_alert_without_it() -> None:
    """pandas quotes the text timestamp it could not parse; the alert keeps the type and the kind of error."""
    import pandas as pd

    error = _raised(lambda: pd.to_datetime(pd.Series(["2026-03-02 10:00", "Jane Roe, 12 Elm St"]), utc=True))

    summary = error_summary(error)

    assert "Jane Roe" in str(error) and "Jane Roe" not in summary and "Elm" not in summary
    assert summary.startswith("ValueError: time data <value> doesn't match format")
    assert "the task log has the full error" in summary


def test_pandas_unparseable_first_value_is_withheld_after_the_colon() -> None:
    import pandas as pd

    error = _raised(lambda: pd.to_datetime(pd.Series(["Jane Roe, 12 Elm St"]), utc=True))

    assert "Jane Roe" in str(error) and "Jane Roe" not in error_summary(error)
    assert error_summary(error).startswith(
        "DateParseError: Unknown datetime string format, unable to parse: <withheld> ("
    )


@pytest.mark.parametrize(
    ("error", "hidden"),
    [
        (ValueError("could not convert string to float: 'Malé'"), "Malé"),
        (KeyError("customer 991-22-0134"), "991-22-0134"),
        (RuntimeError('invalid input syntax for type integer: "twelve"\nLINE 1: select ...'), "twelve"),
        (OSError(28, "No space left on device", "/data/artifacts/churn/ssn_123"), "ssn_123"),
    ],
)
def test_quoted_text_and_what_follows_a_colon_are_withheld_from_other_libraries_errors(
    error: BaseException, hidden: str
) -> None:
    summary = error_summary(error)

    assert hidden not in summary and summary.startswith(f"{type(error).__name__}: ")
    assert "\n" not in summary and len(summary) < 400


def test_the_projects_own_errors_keep_their_message_naming_model_column_and_fix() -> None:
    from include.retraining.warehouse import WarehouseError

    error = WarehouseError("model 'churn': table 'x' has no column(s) ['region']; fix `features`")

    assert error_summary(error) == f"WarehouseError: {error}"
    assert error_summary(WarehouseError("m" * 5000)).__len__() == 1500
    assert error_summary(None) == "no exception recorded (killed or timed out)"


def test_a_blocked_challenger_alert_names_the_default_confidence_unrounded() -> None:
    interval = {"difference": 0.01, "lower": -0.004, "upper": 0.024, "confidence": 0.995}
    figures = {"metric": "roc_auc", "challenger_value": 0.81, "champion_value": 0.80, "interval": interval}

    alert = gate_blocked_alert("churn", "not significant", figures, {}, "k")

    # The bounds are one-sided at 99.5% each: the two together are a 99% interval.
    assert "(99.5% lower bound -0.0040; 99.0% interval -0.0040 .. +0.0240)" in alert.lines[1]


FLOOR_FIGURES = {
    "metric": "roc_auc",
    "value": 0.6812,
    "key": "alert_below",
    "limit": 0.7,
    "holdout": 0.8123,
    "champion_version": "3",
    "window": "2026-03-16 02:00 .. 2026-03-23 02:00 UTC",
    "window_end": "2026-03-30T02:00:00+00:00",
    "rows": 1234,
    "source": "served predictions",
    "since": "2026-03-29T02:00:00+00:00",
    "decision": "none",
}


def test_the_floor_alert_names_model_metric_value_floor_window_and_what_to_do():
    text = performance_limit_alert("churn", FLOOR_FIGURES, {}, "k").text()

    assert text.startswith("*churn: roc_auc 0.6812 below the alert floor 0.7000*")
    assert "v3's roc_auc on the matured labels of 2026-03-16 02:00 .. 2026-03-23 02:00 UTC (1,234 rows" in text
    assert "since the run for the window ending 2026-03-29T02:00:00+00:00" in text
    assert "What to do: " in text and "rollback_churn" in text and "again after it recovers" in text


def test_a_ceiling_alert_says_above():
    figures = {**FLOOR_FIGURES, "metric": "rmse", "value": 4.5, "key": "alert_above", "limit": 4.0}

    title = performance_limit_alert("visits", {**figures, "since": figures["window_end"]}, {}, "k").title

    assert title == "visits: rmse 4.5000 above the alert ceiling 4.0000"


def test_the_held_back_alert_names_why_and_when_next_allowed():
    figures = {
        "reasons": ["critical feature drift: contract"],
        "holds": [
            {
                "kind": "cooldown",
                "text": "cooldown: last retrain at X",
                "until": "2026-04-02T02:00:00+00:00",
                "lifts": "",
            }
        ],
        "next_allowed": "from 2026-04-02T02:00:00+00:00 (the first monitoring run after it), if the drift persists",
        "champion_version": "3",
        "window_end": "2026-03-30T02:00:00+00:00",
        "since": "2026-03-29T02:00:00+00:00",
    }

    text = drift_held_back_alert("churn", figures, {}, "k").text()

    assert "Drift: critical feature drift: contract" in text
    assert "Held back by cooldown: last retrain at X; lifts at 2026-04-02T02:00:00+00:00" in text
    assert "Next allowed: from 2026-04-02T02:00:00+00:00" in text and "retrain_churn" in text
