"""What an alert says: the message (title, lines, links, figures) and its dedup key, escaped for
Slack, and the messages of the gates that stop a run."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

# An alert quotes an exception this long at most (the task log keeps it whole).
ERROR_CHARS = 1500
# Exceptions whose messages this project (or Airflow) writes: they name models, keys and columns,
# and leave row values out (the opt-in rule for values in alerts). Any other library's message may
# quote a cell value (pandas: "unable to parse: <value>"; a driver: 'invalid input: "<value>"').
_OWN_MODULES = ("include.", "airflow.")
_QUOTED = re.compile(r"""'[^']*'|"[^"]*"|`[^`]*`""")


def error_summary(error: BaseException | None) -> str:
    """An exception as a `task_failed` alert may quote it: the project's own messages whole (up to
    ERROR_CHARS), any other library's reduced to its type and first line, with quoted text and
    whatever follows its first colon withheld, since those are where values from the data appear."""
    if error is None:
        return "no exception recorded (killed or timed out)"
    kind = type(error).__name__
    text = str(error).strip()
    if type(error).__module__.startswith(_OWN_MODULES):
        return f"{kind}: {text}"[:ERROR_CHARS]
    line = _QUOTED.sub("<value>", text.splitlines()[0] if text else "")
    head, colon, _ = line.partition(": ")
    line = f"{head}: <withheld>" if colon else line
    return f"{kind}: {line[:300]} (values withheld from the alert; the task log has the full error)"


def escape_mrkdwn(text: object) -> str:
    """Slack's three control characters, so text from data can neither link nor ping (`<!channel>`)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Alert:
    # validation_failed | gate_blocked | extraction_stopped | drift_detected | task_failed |
    # performance_limit | drift_held_back (and the kinds of the steps that build their own)
    kind: str
    model: str
    title: str
    lines: list[str]
    links: dict[str, str] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)
    dedup_key: str = ""

    def text(self) -> str:
        """Slack mrkdwn, every part escaped; also readable as plain text in a task log."""
        body = [f"*{escape_mrkdwn(self.title)}*", *(escape_mrkdwn(line) for line in self.lines)]
        body += [f"{escape_mrkdwn(label)}: {escape_mrkdwn(url)}" for label, url in self.links.items() if url]
        return "\n".join(body)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def gate_key(dag_id: str, run_id: str, gate: str) -> str:
    """The dedup key: one alert per DAG run and gate (a task retry finds it and does not re-alert)."""
    return f"{dag_id}/{run_id}/{gate}"


def episode_key(dag_id: str, kind: str, start: str) -> str:
    """The dedup key of an alert raised once per episode: the DAG, the kind and the window end of
    the episode's first run, so every run of the episode (and a rerun of any) names the same alert."""
    return f"{dag_id}/episode:{start}/{kind}"


def gate_blocked_alert(
    model: str, reason: str, figures: dict[str, object], links: dict[str, str], dedup_key: str
) -> Alert:
    interval = figures.get("interval") or {}
    lines = [f"Reason: {reason}"]
    if figures.get("champion_value") is not None:
        # Each bound is one-sided at `confidence` (the gate reads the lower one): together they
        # are a two-sided interval at 2 * confidence - 1.
        confidence = interval.get("confidence", 0.95)
        lines.append(
            f"{figures['metric']}: challenger {figures['challenger_value']:.4f}, champion "
            f"{figures['champion_value']:.4f}, difference {interval.get('difference', 0):+.4f} "
            f"({confidence:.1%} lower bound {interval.get('lower', 0):+.4f}; {2 * confidence - 1:.1%} interval "
            f"{interval.get('lower', 0):+.4f} .. {interval.get('upper', 0):+.4f})"
        )
    else:
        lines.append(f"{figures['metric']}: challenger {figures['challenger_value']:.4f}")
    pooled = figures.get("pooled")
    if pooled:
        lines.append(
            f"Evidence: {pooled['rows']:,} holdout rows pooled from {pooled['windows']} retrains against this "
            f"champion (rows per retrain, newest first: {', '.join(f'{r:,}' for r in pooled['rows_per_window'])})"
        )
    lines.append("The champion is unchanged; the new version has alias `challenger`.")
    return Alert("gate_blocked", model, f"{model}: challenger not promoted", lines, links, figures, dedup_key)


def validation_failed_alert(model: str, summary: str, links: dict[str, str], dedup_key: str) -> Alert:
    lines = [summary, "Nothing was trained; fix the upstream load, then clear the run's `validate` task."]
    return Alert("validation_failed", model, f"{model}: data validation failed", lines, links, {}, dedup_key)


def extraction_stopped_alert(model: str, reason: str, links: dict[str, str], dedup_key: str) -> Alert:
    return Alert("extraction_stopped", model, f"{model}: retraining stopped", [reason], links, {}, dedup_key)


def drift_alert(model: str, decision: dict, drift: dict, links: dict[str, str], dedup_key: str) -> Alert:
    """`decision` and `drift` as the monitor's tasks hand them on (XCom dicts). The columns named are
    the ones the decision counted (the trigger policy's evidence), as the report's top section shows."""
    lines = [*decision["reasons"]]
    columns = (drift.get("evidence") or {}).get("columns", {})
    counted = sorted(
        (c for c in columns.values() if c["drifted"]), key=lambda c: (-c["importance"] * c["effect"], c["column"])
    )
    if counted:
        top = ", ".join(
            f"{c['column']} (effect {c['effect']:.3f}, importance {c['importance']:.2f})" for c in counted[:5]
        )
        lines.append(f"Drifted features the decision counted: {top}")
    lines += [drift["performance_estimate"]["text"]] if drift.get("performance_estimate") else []  # never a reason
    lines.append(f"retrain_{model} has been triggered through the drift asset.")
    figures = {key: drift[key] for key in ("drift_share", "drifted_columns", "prediction_psi")}
    return Alert("drift_detected", model, f"{model}: drift detected, retraining", lines, links, figures, dedup_key)


def performance_limit_alert(model: str, figures: dict[str, Any], links: dict[str, str], dedup_key: str) -> Alert:
    """The champion's metric on matured labels beyond `monitor.alert_below` (`alert_above`):
    `figures` as `degradation` builds them."""
    metric, value, limit = figures["metric"], figures["value"], figures["limit"]
    side, bound = ("below", "floor") if figures["key"] == "alert_below" else ("above", "ceiling")
    holdout = f" (at training: {figures['holdout']:.4f} on its holdout)" if figures.get("holdout") is not None else ""
    lines = [
        f"Champion v{figures['champion_version']}'s {metric} on the matured labels of {figures['window']} "
        f"({figures['rows']:,} rows, {figures['source']}): {value:.4f}, {side} monitor.{figures['key']} "
        f"{limit:.4f}{holdout}.",
        f"{side.capitalize()} the {bound} since the run for the window ending {figures['since']}."
        if figures["since"] != figures["window_end"]
        else f"This is the first monitoring run {side} the {bound}.",
        f"This run's retrain decision: {figures['decision']}.",
        f"What to do: read the monitoring report; if no retrain lifts it, trigger retrain_{model}, roll back "
        f"with rollback_{model}, or look upstream for a broken feature or label feed.",
        f"Sent once: not again while {metric} stays {side} the {bound}; again after it recovers and crosses again.",
    ]
    title = f"{model}: {metric} {value:.4f} {side} the alert {bound} {limit:.4f}"
    return Alert("performance_limit", model, title, lines, links, figures, dedup_key)


def drift_held_back_alert(model: str, figures: dict[str, Any], links: dict[str, str], dedup_key: str) -> Alert:
    """Drift the trigger policy would retrain on, held back: `figures` as `degradation`
    builds them (the reasons, each hold with when it lifts, the next moment a retrain is allowed)."""
    lines = [f"Drift: {reason}" for reason in figures["reasons"]]
    for hold in figures["holds"]:
        when = " ".join(filter(None, [f"at {hold['until']}" if hold.get("until") else "", hold.get("lifts", "")]))
        lines.append(f"Held back by {hold['text']}; lifts {when}")
    lines += [
        f"Next allowed: {figures['next_allowed']}.",
        f"Drifting since the run for the window ending {figures['since']} (champion v{figures['champion_version']}).",
        f"What to do: nothing if waiting is right; to retrain now, trigger retrain_{model} by hand.",
        "Sent once per drift: not again while this drift continues against this champion.",
    ]
    title = f"{model}: drift detected, retrain held back"
    return Alert("drift_held_back", model, title, lines, links, figures, dedup_key)
