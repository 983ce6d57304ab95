"""The drift verdict a person reads beside Evidently's: per column, what Evidently flagged and what
the trigger policy counted (its test, q-value, effect, the champion's importance, the seasonal
verdict), and why the two differ where they do. The policy decides; Evidently's report is for
reading. Written into the top of the HTML report and into its JSON copy, so the report linked in
an alert never disagrees with the decision without saying so."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from html import escape
from typing import Any

from include.retraining.config import TriggerConfig
from include.retraining.drift.evidence import DriftEvidence
from include.retraining.drift.summary import DriftSummary


@dataclass(frozen=True)
class ColumnVerdict:
    column: str
    evidently_drifted: bool
    evidently_test: str
    evidently_score: float | None
    counted: bool
    p_value: float | None
    q_value: float | None
    effect: float | None
    importance: float | None
    seasonal_masked: bool
    why: str

    @property
    def agrees(self) -> bool:
        return self.evidently_drifted == self.counted


def column_verdicts(summary: DriftSummary, evidence: DriftEvidence, trigger: TriggerConfig) -> list[ColumnVerdict]:
    """One verdict per column Evidently judged, with the policy's evidence where it tested it."""
    verdicts = []
    for name, column in summary.columns.items():
        found = evidence.columns.get(name)
        score = column.score if math.isfinite(column.score) else None
        if found is None:
            why = "not tested by the policy (fewer rows than monitor.min_rows, or no baseline)"
            verdicts.append(
                ColumnVerdict(name, column.drifted, column.stattest, score, False, None, None, None, None, False, why)
            )
            continue
        verdicts.append(
            ColumnVerdict(
                name,
                column.drifted,
                column.stattest,
                score,
                found.drifted,
                _finite(found.p_value),
                _finite(found.q_value),
                _finite(found.effect),
                found.importance,
                found.seasonal_masked,
                _why(found.drifted, found.seasonal_masked, found.q_value, found.effect, trigger, evidence),
            )
        )
    return verdicts


def _why(drifted: bool, masked: bool, q: float, effect: float, trigger: TriggerConfig, evidence: DriftEvidence) -> str:
    if drifted:
        return f"counted: q {q:.3g} <= fdr {trigger.fdr:g} and effect {effect:.3f} >= min_effect {trigger.min_effect:g}"
    if masked:
        return (
            f"not counted: drifted against the champion's data but not against the seasonal reference "
            f"({evidence.seasonal.mode}): a recurring swing"
        )
    if not q <= trigger.fdr:
        return f"not counted: not significant (q {q:.3g} > fdr {trigger.fdr:g})"
    return f"not counted: too small to matter (effect {effect:.3f} < min_effect {trigger.min_effect:g})"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def disagreement(verdicts: list[ColumnVerdict]) -> str:
    """One sentence on where Evidently and the policy differ; "" when they agree on every column."""
    flagged_only = [v.column for v in verdicts if v.evidently_drifted and not v.counted]
    counted_only = [v.column for v in verdicts if v.counted and not v.evidently_drifted]
    parts = []
    if flagged_only:
        parts.append(f"Evidently flags {', '.join(flagged_only)}, which the trigger policy does not count")
    if counted_only:
        parts.append(f"the trigger policy counts {', '.join(counted_only)}, which Evidently does not flag")
    return "; ".join(parts)


def verdict_json(verdicts: list[ColumnVerdict], evidence: DriftEvidence) -> dict[str, Any]:
    """The comparison as the report's JSON copy keeps it."""
    return {
        "decides": "trigger policy",
        "counted": evidence.drifted,
        "weighted_drift": evidence.weighted_drift,
        "seasonal": asdict(evidence.seasonal),
        "disagreement": disagreement(verdicts),
        "columns": [asdict(v) for v in verdicts],
    }


def verdict_html(verdicts: list[ColumnVerdict], evidence: DriftEvidence) -> str:
    """A self-contained section (inline style, every value escaped) for the top of the report."""
    differ = disagreement(verdicts)
    seasonal = evidence.seasonal
    notes = [
        "The retrain decision counts the trigger policy's columns (its own tests: Kolmogorov-Smirnov or "
        "chi-square, Benjamini-Hochberg q-values, an effect size, weighted by the champion's sensitivity). "
        "Evidently's report below is for reading; where the two differ, this table says why.",
        f"Counted by the policy: {', '.join(evidence.drifted) or 'none'} (importance-weighted drift "
        f"{evidence.weighted_drift:.3f}).",
    ]
    if seasonal.mode != "none":
        notes.append(f"Seasonal reference: {seasonal.mode}, {seasonal.rows} rows. {seasonal.note}".strip())
    if differ:
        notes.append(f"They differ: {differ}.")
    rows = "".join(_row(v) for v in verdicts)
    header = "".join(
        f"<th>{h}</th>" for h in ("column", "Evidently", "policy", "p", "q", "effect", "importance", "why")
    )
    return (
        '<section id="retraining-verdict" style="font-family:sans-serif;margin:16px;padding:12px;'
        'border:2px solid #2b6cb0;border-radius:6px;background:#f7fafc">'
        "<h2 style='margin-top:0'>Drift verdict of the retrain decision</h2>"
        + "".join(f"<p>{escape(n)}</p>" for n in notes)
        + "<table style='border-collapse:collapse'>"
        + f"<tr>{header}</tr>{rows}</table></section>"
    )


def _row(v: ColumnVerdict) -> str:
    style = "" if v.agrees else " style='background:#fefcbf'"
    evidently = f"{'drifted' if v.evidently_drifted else 'stable'} ({v.evidently_test} {_number(v.evidently_score)})"
    cells = [
        v.column,
        evidently,
        "counted" if v.counted else "not counted",
        _number(v.p_value),
        _number(v.q_value),
        _number(v.effect),
        _number(v.importance),
        v.why,
    ]
    return f"<tr{style}>" + "".join(f"<td style='padding:2px 8px'>{escape(str(c))}</td>" for c in cells) + "</tr>"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
