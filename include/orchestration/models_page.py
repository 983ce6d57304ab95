"""The Models page as HTML: one row per model, a small inline SVG chart of the live metric, and a
Roll back form for users who may trigger `rollback_<model>`. No external asset (no CDN): the page
works on a machine without internet. Every value is escaped."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from include.retraining.overview import REGISTRY_ERROR, MetricPoint, ModelOverview
from include.retraining.tables import PromotionAction, PromotionRecord

WIDTH, HEIGHT, PAD = 260, 70, 6

STYLE = """
body { font-family: system-ui, sans-serif; margin: 16px; color: #1a202c; font-size: 14px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #e2e8f0; padding: 8px; text-align: left; vertical-align: top; }
th { background: #f7fafc; }
.muted { color: #718096; font-size: 12px; }
.error { color: #c53030; }
form.rollback input { margin: 2px 0; width: 14em; }
form.rollback button { background: #c53030; color: white; border: 0; padding: 4px 10px; border-radius: 4px; }
form.rollback label { font-size: 12px; }
form.rollback input[type=checkbox] { width: auto; }
.forced { color: #c53030; font-weight: bold; }
.verified ul { margin: 2px 0; padding-left: 16px; }
li.regressed { color: #c53030; font-weight: bold; }
li.short { color: #b7791f; }
"""

SCRIPT = """
document.querySelectorAll("form.rollback").forEach((form) => form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = form.querySelector(".result");
  const conf = { reason: form.elements.reason.value };
  if (form.elements.to_version.value) conf.to_version = form.elements.to_version.value;
  if (form.elements.force.checked) conf.force = true;
  const url = new URL("../api/v2/dags/" + form.dataset.dag + "/dagRuns", window.location.href);
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ logical_date: null, conf: conf }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    out.innerHTML = "";
    const link = document.createElement("a");
    link.href = new URL("../dags/" + form.dataset.dag + "/runs/" + body.dag_run_id, window.location.href);
    link.target = "_top";
    link.textContent = "Rollback triggered: " + body.dag_run_id;
    out.appendChild(link);
  } else {
    out.textContent = "Refused (" + response.status + "): " + JSON.stringify(body.detail || body);
  }
}));
"""


def sparkline(points: list[MetricPoint], metric: str) -> str:
    """The metric on matured labels by monitoring window, as inline SVG; a dot per window."""
    if not points:
        return '<span class="muted">no matured labels yet</span>'
    values = [p.value for p in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return PAD + i * step, PAD + (high - value) / span * (HEIGHT - 2 * PAD)

    coords = [xy(i, p.value) for i, p in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#2b6cb0"><title>'
        f"{escape(p.window_end.date().isoformat())}: {escape(metric)} {p.value:.4f} (v{escape(p.champion_version)})"
        "</title></circle>"
        for (x, y), p in zip(coords, points, strict=True)
    )
    return (
        f'<svg class="chart" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(metric)} on matured labels">'
        f'<polyline points="{line}" fill="none" stroke="#2b6cb0" stroke-width="1.5"/>{dots}</svg>'
        f'<div class="muted">{escape(metric)} {low:.3f} - {high:.3f}, '
        f"{escape(points[0].window_end.date().isoformat())} to {escape(points[-1].window_end.date().isoformat())}, "
        f"latest {points[-1].value:.4f}</div>"
    )


def _champion_cell(row: ModelOverview) -> str:
    if any(error.startswith(REGISTRY_ERROR) for error in row.errors):
        return '<span class="error">unknown: the registry did not answer</span>'
    if row.champion is None:
        return '<span class="muted">no champion yet</span>'
    cell = f'<b class="champion">v{escape(row.champion)}</b>'
    if row.since is not None and row.since.at is not None:
        cell += (
            f'<div class="since">since {escape(row.since.at.strftime("%Y-%m-%d %H:%M"))} UTC '
            f"({_action(row.since)} by {escape(row.since.actor)})</div>"
        )
    else:
        cell += '<div class="since muted">not in the promotion log</div>'
    if row.previous_champion:
        cell += f'<div class="muted">previous champion v{escape(row.previous_champion)}</div>'
    return cell


def _decisions_cell(row: ModelOverview) -> str:
    gate = (
        f'<div class="gate">gate: v{escape(row.gate_version)} {escape(row.gate_decision or "undecided")}'
        f'<div class="muted">{escape(row.gate_reason or "")}</div></div>'
        if row.gate_version
        else '<div class="gate muted">gate: no version yet</div>'
    )
    drift = (
        f'<div class="drift">drift: {escape(row.drift_decision or "")} '
        f"(window to {escape(row.drift_window_end.date().isoformat())})"
        f'<div class="muted">{escape(row.drift_reasons or "")}</div></div>'
        if row.drift_window_end
        else '<div class="drift muted">drift: not monitored yet</div>'
    )
    return gate + drift + _verified(row)


def _verified(row: ModelOverview) -> str:
    """The newest promotions checked on matured labels, and the share whose promised bound held."""
    if not row.outcomes:
        return '<div class="verified muted">verified promotions: none yet</div>'
    held, promised = row.calibration
    share = f"; promised bound held in {held} of {promised}" if promised else ""
    items = "".join(
        f'<li class="{escape(o.verdict)}">v{escape(o.from_version)} &rarr; v{escape(o.to_version)}: '
        f"{escape(o.verdict)}, {escape(o.metric)} {o.realized_difference:+.4f} "
        f"({o.realized_lower:+.4f} .. {o.realized_upper:+.4f})"
        + (f", promised &ge; {o.promised_lower:+.4f}" if o.promised_lower is not None else "")
        + "</li>"
        for o in row.outcomes
    )
    return f'<div class="verified">verified promotions{share}<ul>{items}</ul></div>'


def _action(record: PromotionRecord) -> str:
    """A forced rollback stands out: the gate was bypassed."""
    if record.action is PromotionAction.FORCED_ROLLBACK:
        return f'<span class="forced" title="the gate was bypassed (param force)">{escape(record.action.value)}</span>'
    return escape(record.action.value)


def _history_cell(row: ModelOverview) -> str:
    items = "".join(
        f"<li>{escape(r.at.strftime('%Y-%m-%d') if r.at else '')} {_action(r)} "
        f"{escape('v' + r.from_version if r.from_version else 'none')} &rarr; v{escape(r.to_version)} "
        f"by {escape(r.actor)}</li>"
        for r in row.history
    )
    return f'<ul class="history">{items}</ul>' if items else '<span class="muted">no rows yet</span>'


def _links_cell(row: ModelOverview) -> str:
    return "<br>".join(
        f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(label)}</a>'
        if url
        else f'<span class="muted">{escape(label)}: none yet</span>'
        for label, url in row.links.items()
    )


def _rollback_cell(row: ModelOverview, dag_id: str, allowed: bool) -> str:
    if not allowed:
        return '<span class="muted">read only</span>'
    target = row.rollback_target or ""
    return (
        f'<form class="rollback" data-dag="{escape(dag_id)}">'
        f'<input name="to_version" placeholder="version (default v{escape(target) or "?"})" value="">'
        '<br><input name="reason" placeholder="reason (required)" required>'
        '<br><label title="Also a version the gate blocked, an approver rejected or that was never champion; '
        'logged as forced_rollback and alerted"><input type="checkbox" name="force"> force (bypass the gate)</label>'
        '<br><button type="submit">Roll back</button><div class="result"></div></form>'
    )


def render(rows: list[ModelOverview], may_roll_back: Mapping[str, bool], user: str) -> str:
    body = "".join(
        f'<tr data-model="{escape(row.name)}"><td><b>{escape(row.name)}</b>'
        + "".join(f'<div class="error">{escape(e)}</div>' for e in row.errors)
        + f"</td><td>{_champion_cell(row)}</td><td>{_decisions_cell(row)}</td>"
        f"<td>{sparkline(row.series, row.metric)}</td><td>{_history_cell(row)}</td><td>{_links_cell(row)}</td>"
        f"<td>{_rollback_cell(row, row.rollback_dag_id, may_roll_back.get(row.name, False))}</td></tr>"
        for row in rows
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Models</title>'
        f"<style>{STYLE}</style></head><body><h1>Models</h1>"
        f'<p class="muted">Signed in as {escape(user)}. The live metric is the champion\'s on matured labels, '
        "from monitor_&lt;model&gt;; the history is the promotion log (model_promotions).</p>"
        "<table><thead><tr><th>model</th><th>champion</th><th>latest decisions</th><th>live metric</th>"
        f"<th>promotion log</th><th>reports</th><th>roll back</th></tr></thead><tbody>{body}</tbody></table>"
        f"<script>{SCRIPT}</script></body></html>"
    )
