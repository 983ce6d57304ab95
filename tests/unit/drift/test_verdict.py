"""Unit tests for include.retraining.drift.verdict: the trigger policy's verdict per column beside
Evidently's, why each column was or was not counted, where the two differ, and the report's
section (every value escaped) and JSON copy of it."""

from __future__ import annotations

import json

import pytest

from include.retraining.config import TriggerConfig
from include.retraining.drift import (
    ColumnDrift,
    ColumnEvidence,
    ColumnVerdict,
    DriftEvidence,
    DriftSummary,
    SeasonalEvidence,
    column_verdicts,
    disagreement,
)
from include.retraining.drift.verdict import verdict_html, verdict_json

pytestmark = pytest.mark.unit

WASSERSTEIN = "Wasserstein distance (normed)"
TRIGGER = TriggerConfig()  # fdr 0.01, min_effect 0.1
SEASON_AGO = SeasonalEvidence("season_ago", 4000)


def _summary(flagged: dict[str, bool], scores: dict[str, float] | None = None) -> DriftSummary:
    scores = scores or {}
    return DriftSummary.of(
        {
            name: ColumnDrift(name, "numeric", WASSERSTEIN, scores.get(name, 0.3 if drifted else 0.02), 0.1, drifted)
            for name, drifted in flagged.items()
        },
        5000,
        5000,
    )


EVIDENCE = DriftEvidence(
    "3",
    5000,
    5000,
    {
        "counted": ColumnEvidence("counted", 1e-12, 1e-10, 0.5, 0.4, True),
        "seasonal": ColumnEvidence("seasonal", 1e-12, 1e-10, 0.3, 0.3, False, True),
        "noise": ColumnEvidence("noise", 0.4, 0.5, 0.2, 0.1, False),
        "small": ColumnEvidence("small", 1e-9, 1e-8, 0.05, 0.2, False),
        "no_baseline": ColumnEvidence("no_baseline", float("nan"), 1.0, 0.0, 0.0, False),
    },
    SEASON_AGO,
)


def _verdicts(flagged: dict[str, bool], evidence: DriftEvidence = EVIDENCE) -> dict[str, ColumnVerdict]:
    return {v.column: v for v in column_verdicts(_summary(flagged), evidence, TRIGGER)}


def test_each_column_says_why_the_policy_counted_it_or_not():
    found = _verdicts({name: True for name in EVIDENCE.columns})

    assert found["counted"].why == "counted: q 1e-10 <= fdr 0.01 and effect 0.500 >= min_effect 0.1"
    assert found["seasonal"].why == (
        "not counted: drifted against the champion's data but not against the seasonal reference "
        "(season_ago): a recurring swing"
    )
    assert found["noise"].why == "not counted: not significant (q 0.5 > fdr 0.01)"
    assert found["small"].why == "not counted: too small to matter (effect 0.050 < min_effect 0.1)"
    assert [v.counted for v in found.values()] == [True, False, False, False, False]


def test_a_verdict_carries_both_engines_figures():
    verdict = _verdicts({"counted": True})["counted"]

    assert verdict == ColumnVerdict("counted", True, WASSERSTEIN, 0.3, True, 1e-12, 1e-10, 0.5, 0.4, False, verdict.why)
    assert verdict.agrees


def test_figures_that_are_not_numbers_read_as_none():
    summary = _summary({"no_baseline": False}, scores={"no_baseline": float("nan")})

    (verdict,) = column_verdicts(summary, EVIDENCE, TRIGGER)

    assert verdict.evidently_score is None and verdict.p_value is None and verdict.q_value == 1.0


def test_a_column_the_policy_did_not_test_says_so():
    (verdict,) = column_verdicts(_summary({"unknown": True}), EVIDENCE, TRIGGER)

    assert not verdict.counted and verdict.p_value is None and verdict.importance is None
    assert verdict.why.startswith("not tested by the policy")
    assert not verdict.agrees


@pytest.mark.parametrize(
    ("flagged", "expected"),
    [
        ({"counted": True, "noise": False}, ""),
        ({"counted": True, "small": True}, "Evidently flags small, which the trigger policy does not count"),
        ({"counted": False}, "the trigger policy counts counted, which Evidently does not flag"),
        (
            {"counted": False, "small": True, "seasonal": True},
            "Evidently flags small, seasonal, which the trigger policy does not count; "
            "the trigger policy counts counted, which Evidently does not flag",
        ),
    ],
    ids=["agree", "Evidently only", "policy only", "both ways"],
)
def test_disagreement_names_the_columns_either_way(flagged, expected):
    verdicts = column_verdicts(_summary(flagged), EVIDENCE, TRIGGER)

    assert disagreement(verdicts) == expected


def test_the_json_copy_is_strict_json_with_the_decision_beside_every_column():
    verdicts = column_verdicts(_summary({"counted": True, "small": True, "no_baseline": False}), EVIDENCE, TRIGGER)

    data = json.loads(json.dumps(verdict_json(verdicts, EVIDENCE), allow_nan=False))

    assert data["decides"] == "trigger policy" and data["counted"] == ["counted"]
    assert data["weighted_drift"] == pytest.approx(0.2)
    assert data["seasonal"] == {"mode": "season_ago", "rows": 4000, "note": ""}
    assert data["disagreement"] == "Evidently flags small, which the trigger policy does not count"
    small = next(c for c in data["columns"] if c["column"] == "small")
    assert small["evidently_drifted"] is True and small["counted"] is False and "too small" in small["why"]


def test_the_html_section_escapes_every_value():
    hostile = "<script>alert(1)</script>"
    evidence = DriftEvidence(
        "3",
        5000,
        5000,
        {hostile: ColumnEvidence(hostile, 1e-9, 1e-8, 0.05, 1.0, False)},
        SeasonalEvidence("season_ago", 0, "not used: <b>few rows</b>"),
    )
    verdicts = column_verdicts(_summary({hostile: True}), evidence, TRIGGER)

    html = verdict_html(verdicts, evidence)

    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "not used: &lt;b&gt;few rows&lt;/b&gt;" in html
    assert "effect 0.050 &lt; min_effect 0.1" in html  # the reason, escaped too


def test_the_html_section_says_what_decides_and_marks_the_rows_that_differ():
    verdicts = column_verdicts(_summary({"counted": True, "small": True}), EVIDENCE, TRIGGER)

    html = verdict_html(verdicts, EVIDENCE)

    assert html.startswith('<section id="retraining-verdict"') and html.endswith("</section>")
    assert "Counted by the policy: counted (importance-weighted drift 0.200)." in html
    assert "Seasonal reference: season_ago, 4000 rows." in html
    assert "They differ: Evidently flags small, which the trigger policy does not count." in html
    assert html.count("background:#fefcbf") == 1  # the one row where they differ


def test_when_they_agree_the_section_says_no_difference():
    verdicts = column_verdicts(_summary({"counted": True}), EVIDENCE, TRIGGER)

    html = verdict_html(verdicts, DriftEvidence("3", 5000, 5000, EVIDENCE.columns))

    assert "They differ" not in html and "Seasonal reference" not in html
    assert "background:#fefcbf" not in html
