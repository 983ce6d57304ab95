"""Alerts: what to say when a gate stops a run, and a local record that never loses one.

Delivery to Slack happens in the Airflow layer (the Slack provider); every alert is also
appended once to a JSON-lines file, so nothing is lost when Slack is not configured.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Alert:
    kind: str  # validation_failed | gate_blocked | extraction_stopped | drift_detected
    model: str
    title: str
    lines: list[str]
    links: dict[str, str] = field(default_factory=dict)
    figures: dict[str, object] = field(default_factory=dict)
    dedup_key: str = ""

    def text(self) -> str:
        """Slack mrkdwn; also readable as plain text in a task log."""
        body = [f"*{self.title}*", *self.lines]
        body += [f"{label}: {url}" for label, url in self.links.items()]
        return "\n".join(body)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def already_recorded(path: Path, dedup_key: str) -> bool:
    return bool(dedup_key) and any(a.get("dedup_key") == dedup_key for a in read_alerts(path))


def record_alert(alert: Alert, path: Path, delivered_to: str = "file", now: datetime | None = None) -> bool:
    """Append the alert unless one with the same dedup key is there (a task retry); True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        if alert.dedup_key and any(
            json.loads(line).get("dedup_key") == alert.dedup_key for line in handle if line.strip()
        ):
            return False
        record = {
            "recorded_at": (now or datetime.now(UTC)).isoformat(),
            "delivered_to": delivered_to,
            **alert.to_dict(),
        }
        handle.write(json.dumps(record, default=str) + "\n")
    return True


def read_alerts(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gate_blocked_alert(
    model: str, reason: str, figures: dict[str, object], links: dict[str, str], dedup_key: str
) -> Alert:
    interval = figures.get("interval") or {}
    lines = [f"Reason: {reason}"]
    if figures.get("champion_value") is not None:
        lines.append(
            f"{figures['metric']}: challenger {figures['challenger_value']:.4f}, champion "
            f"{figures['champion_value']:.4f}, difference {interval.get('difference', 0):+.4f} "
            f"({interval.get('confidence', 0.95):.0%} interval {interval.get('lower', 0):+.4f} .. "
            f"{interval.get('upper', 0):+.4f})"
        )
    else:
        lines.append(f"{figures['metric']}: challenger {figures['challenger_value']:.4f}")
    lines.append("The champion is unchanged; the new version has alias `challenger`.")
    return Alert("gate_blocked", model, f"{model}: challenger not promoted", lines, links, figures, dedup_key)


def validation_failed_alert(model: str, summary: str, links: dict[str, str], dedup_key: str) -> Alert:
    lines = [summary, "Nothing was trained; fix the upstream load, then clear the run's `validate` task."]
    return Alert("validation_failed", model, f"{model}: data validation failed", lines, links, {}, dedup_key)


def extraction_stopped_alert(model: str, reason: str, links: dict[str, str], dedup_key: str) -> Alert:
    return Alert("extraction_stopped", model, f"{model}: retraining stopped", [reason], links, {}, dedup_key)


def drift_alert(model: str, decision: dict, drift: dict, links: dict[str, str], dedup_key: str) -> Alert:
    top = drift["drifted_columns"][:5]
    lines = [*decision["reasons"]]
    if top:
        scores = ", ".join(
            f"{c} ({drift['columns'][c]['score']:.3f})" for c in top if drift["columns"][c]["score"] is not None
        )
        lines.append(f"Top drifted features: {scores or ', '.join(top)}")
    lines.append(f"retrain_{model} has been triggered through the drift asset.")
    figures = {
        "drift_share": drift["drift_share"],
        "drifted_columns": drift["drifted_columns"],
        "prediction_psi": drift["prediction_psi"],
    }
    return Alert("drift_detected", model, f"{model}: drift detected, retraining", lines, links, figures, dedup_key)
