"""The approval step: with `gate.approval: required`, a challenger that passed the gate waits for a
person in the Airflow UI before `champion` moves.

The orchestration layer asks (Airflow's human-in-the-loop operator) and hands the answer here as
an `Approval`; this module decides whether to ask, writes what the approver reads, and turns the
answer into what `promote` does: an approval promotes with the approver as the actor, a rejection
or a timeout leaves the version `challenger` with the reason. With `gate.approval: four_eyes` an
approval by the user who triggered the run is refused (`self_approval`). A model that needs
approval imports this module when its DAG is parsed: nothing heavy at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from include.retraining.alerts import Alert
from include.retraining.artifacts import artifact_href, validation_html
from include.retraining.common import Window
from include.retraining.config import ModelConfig
from include.retraining.promotion.contracts import Evaluated
from include.retraining.runs import StepContext

APPROVE, REJECT = "Approve", "Reject"
# What a timeout answers: the scheduler writes this default and resumes the task.
TIMEOUT_DEFAULT = REJECT


class ApprovalDecision(StrEnum):
    NOT_NEEDED = "not_needed"
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Approval:
    """A person's answer (or its absence); `by` is the Airflow user name, `by_id` the auth
    manager's id of that user (the same as the name for some auth managers), `at` ISO 8601 UTC."""

    decision: ApprovalDecision
    by: str | None = None
    at: str | None = None
    by_id: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {"decision": self.decision.value, "by": self.by, "at": self.at, "by_id": self.by_id}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Approval:
        return cls(ApprovalDecision(data["decision"]), data.get("by"), data.get("at"), data.get("by_id"))

    @property
    def declined(self) -> bool:
        return self.decision in (ApprovalDecision.REJECTED, ApprovalDecision.TIMED_OUT)

    def reason(self, config: ModelConfig) -> str:
        if self.decision is ApprovalDecision.TIMED_OUT:
            return f"approval timed out: nobody answered within {config.gate.approval_timeout:g} h"
        if self.decision is ApprovalDecision.REJECTED:
            return f"rejected by {self.by or 'unknown user'} in the Airflow UI"
        return f"approved by {self.by or 'unknown user'} in the Airflow UI"


def needs_approval(config: ModelConfig, evaluated: Evaluated, dry_run: bool) -> bool:
    """Ask a person only when the champion would move: the gate passed, on a real run."""
    return config.gate.requires_approval and evaluated.promote and not evaluated.already_decided and not dry_run


def from_response(
    chosen_options: list[str], responded_by: dict[str, Any] | None, responded_at: Any, timed_out: bool
) -> Approval:
    """The operator's resume event as an Approval; a timeout counts as a rejection by nobody."""
    at = responded_at.isoformat() if hasattr(responded_at, "isoformat") else responded_at
    if timed_out or not responded_by:
        return Approval(ApprovalDecision.TIMED_OUT, None, at)
    name = str(responded_by.get("name") or responded_by.get("id") or "")
    user_id = str(responded_by["id"]) if responded_by.get("id") is not None else None
    decision = ApprovalDecision.APPROVED if list(chosen_options) == [APPROVE] else ApprovalDecision.REJECTED
    return Approval(decision, name, at, user_id)


def self_approval(config: ModelConfig, approval: Approval, triggered_by: str | None) -> str | None:
    """Why an approval is refused under `gate.approval: four_eyes` (its approver triggered the run),
    or None. A scheduled or asset-triggered run has no `triggered_by`: anyone may approve it."""
    if not config.gate.four_eyes or approval.decision is not ApprovalDecision.APPROVED or not triggered_by:
        return None
    if triggered_by not in {approval.by, approval.by_id}:
        return None
    return (
        f"model {config.name!r}: approval refused: gate.approval is four_eyes and {triggered_by} triggered this "
        f"retrain run, so {triggered_by} may not approve its challenger; nothing was promoted. Another user must "
        f"approve: clear task approve of this run (it asks again) and let someone other than {triggered_by} "
        "answer, or set gate.approval: required in the model file to allow self-approval"
    )


def gate_after(config: ModelConfig, evaluated: Evaluated, approval: Approval | None) -> Evaluated:
    """The decision promote applies after the answer: the gate's, or blocked by a rejection or a timeout."""
    if approval is None or not approval.declined:
        return evaluated
    return replace(evaluated, promote=False, reason=approval.reason(config))


def approver(approval: Approval | None) -> str | None:
    """The Airflow user who approved the promotion, the actor of its log row; None otherwise."""
    return approval.by if approval is not None and approval.decision is ApprovalDecision.APPROVED else None


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary(config: ModelConfig, window: Window, rows: int, evaluated: Evaluated, links: dict[str, str]) -> str:
    """The Markdown the approver reads: the decision, the figures, the interval and where to look."""
    lines = [
        f"The gate passed for **{config.name}**: {evaluated.reason}.",
        "",
        f"Training window ({window.start.isoformat()}, {window.end.isoformat()}], {rows} rows; "
        f"compared with champion version {evaluated.champion_version or '(none)'}.",
        "",
        "| metric | challenger | champion |",
        "|---|---|---|",
    ]
    challenger, champion = evaluated.challenger_metrics or {}, evaluated.champion_metrics or {}
    for name in sorted(challenger) or [evaluated.metric]:
        lines.append(f"| {name} | {_value(challenger.get(name))} | {_value(champion.get(name))} |")
    if evaluated.interval:
        iv = evaluated.interval
        lines += [
            "",
            f"Paired difference in {evaluated.metric}: {iv.get('difference', 0):+.4f}, one-sided "
            f"{iv.get('confidence', config.gate.confidence):.1%} lower bound {iv.get('lower', 0):+.4f}.",
        ]
    lines += ["", *[f"- [{label}]({url})" if url else f"- {label}: not available" for label, url in links.items()]]
    lines += [
        "",
        f"**Approve** moves alias `champion` to this model. **Reject**, or no answer within "
        f"{config.gate.approval_timeout:g} h, leaves it `challenger` and alerts.",
    ]
    return "\n".join(lines)


def links(ctx: StepContext, window: Window, experiment_id: str, run_id: str) -> dict[str, str]:
    """Where the approver looks: the runs, the GX result of this window and the latest drift report."""
    from include.retraining.tables import latest_monitoring_row
    from include.retraining.tracking import run_link

    settings, model = ctx.settings, ctx.config.name
    gx = validation_html(settings.artifact_root, model, window)
    found = {
        "Airflow run": ctx.run_url,
        "MLflow run": run_link(settings, experiment_id, run_id),
        "GX result": artifact_href(settings.artifact_root, gx if gx.is_file() else None, settings.airflow_base_url),
    }
    try:
        row = latest_monitoring_row(ctx.pipeline_db, model) if ctx.pipeline_db else None
    except Exception as exc:  # noqa: BLE001 - the approver is told, the approval still asked
        found[f"Latest drift report (could not read model_monitoring: {type(exc).__name__})"] = ""
    else:
        report = (row or {}).get("report_path")
        label = f"Latest drift report ({row['window_end']})" if row else "Latest drift report (no monitoring run yet)"
        found[label] = artifact_href(settings.artifact_root, report, settings.airflow_base_url)
    return found


def requested_alert(ctx: StepContext, approve_url: str) -> Alert:
    """The message that tells the approvers a challenger is waiting."""
    hours = f"{ctx.config.gate.approval_timeout:g}"
    lines = [f"A challenger passed the gate and waits for approval; no answer within {hours} h rejects it."]
    return Alert(
        "approval_requested",
        ctx.config.name,
        f"{ctx.config.name}: approval needed",
        lines,
        {"Approve or reject": approve_url, "Airflow run": ctx.run_url},
        {},
        f"{ctx.run.dedup_prefix}/approval",
    )


def record_decline(ctx: StepContext, evaluated: Evaluated, version: str, approval: Approval) -> None:
    """The rejection (or timeout) in the promotion log: who said no to which version, with the figures."""
    from include.retraining.tables import SCHEDULER, PromotionAction, PromotionRecord, append_once

    record = PromotionRecord(
        model=ctx.config.name,
        to_version=version,
        action=PromotionAction.REJECT,
        reason=approval.reason(ctx.config),
        from_version=evaluated.champion_version,
        figures=evaluated.figures(),
        actor=approval.by or SCHEDULER,
        run_url=ctx.run_url,
    )
    append_once(ctx.pipeline_db, record)
