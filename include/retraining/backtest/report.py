"""The backtest's outputs: `summary.json`, `timeline.png` (the served metric of the three policies
window by window, with the policy's decisions marked, as the demo's timeline draws them) and
`report.html`, a page a person reads: the summary table, then one row per window."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from include.retraining.backtest.replay import backtest_name
from include.retraining.backtest.summary import POLICIES
from include.retraining.config import ModelConfig

LABELS = {
    "policy": "configured policy (drift triggers, weekly retrain, gate)",
    "left_alone": "first model, never retrained",
    "every_cron": "every scheduled retrain promoted, no gate",
}


def write_outputs(out: Path, config: ModelConfig, windows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str))
    plot_timeline(out / "timeline.png", config, windows)
    (out / "report.html").write_text(render_html(config, windows, summary), encoding="utf-8")


def _marks(window: dict[str, Any]) -> dict[str, bool]:
    runs = window["runs"]
    return {
        "drift trigger": window["drift_triggers"] > 0,
        "promoted": window["promotions"] > 0,
        "gate blocked": window["blocked"] > 0,
        "stopped (extract, validation)": any(r.get("outcome") in ("stopped", "validation_failed") for r in runs),
        "rolled back by hand": any(r["kind"] == "rollback" and r.get("outcome") == "rolled_back" for r in runs),
    }


def plot_timeline(path: Path, config: ModelConfig, windows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = [datetime.fromisoformat(w["end"]) for w in windows]
    figure, axis = plt.subplots(figsize=(12, 5))
    styles = {
        "policy": ("o", "-", "tab:blue"),
        "left_alone": ("o", "--", "tab:gray"),
        "every_cron": ("s", "-.", "tab:cyan"),
    }
    nan = float("nan")
    for policy in POLICIES:
        marker, line, color = styles[policy]
        values = [nan if w.get(f"metric_{policy}") is None else w[f"metric_{policy}"] for w in windows]
        # The policy on top: where it kept the first model, its line and left alone's are one.
        on_top = 3 if policy == "policy" else 2
        axis.plot(dates, values, marker=marker, linestyle=line, color=color, label=LABELS[policy], zorder=on_top)
    known = [w[f"metric_{p}"] for w in windows for p in POLICIES if w.get(f"metric_{p}") is not None]
    low = min(known, default=1.0) - 0.02
    symbols = (("^", "tab:orange"), ("*", "tab:green"), ("x", "tab:red"), ("X", "tab:purple"), ("v", "tab:brown"))
    for offset, (label, (marker, color)) in enumerate(
        zip(_marks(windows[0]) if windows else {}, symbols, strict=False)
    ):
        hits = [d for d, w in zip(dates, windows, strict=True) if _marks(w)[label]]
        axis.scatter(hits, [low - 0.012 * offset] * len(hits), marker=marker, s=90, color=color, label=label, zorder=3)
    axis.set_ylabel(f"{config.primary_metric} of what was served in the window (matured labels)")
    axis.set_title(f"Backtest of {config.name}: the policy against the model left alone and retrained every cron")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _run_cell(run: dict[str, Any]) -> str:
    """One run as the report shows it: what ran, what it decided and why."""
    when = run["at"][:16].replace("T", " ")
    if run["kind"] == "monitor":
        verdict = "" if run["outcome"] == "skipped" else " (drift)" if run.get("drift_detected") else " (no drift)"
        head = f"monitor {when}: {run['outcome']}{verdict}{', trigger' if run.get('trigger') else ''}"
        detail = "; ".join(run.get("reasons") or []) + (
            f" [held: {run['blocked_by']}]" if run.get("blocked_by") else ""
        )
    elif run["kind"] == "rollback":
        moved = f" v{run['from_version']} -> v{run['version']}" if run.get("version") else ""
        head = f"rollback by hand {when}: {run['outcome'].replace('_', ' ')}{moved}"
        detail = (run.get("reason") or "") + (f" (by {run['actor']})" if run.get("actor") else "")
    else:
        head = f"{run['trigger']} retrain {when}: {run['outcome']}" + (
            f" v{run['version']}" if run.get("version") else ""
        )
        gate = run.get("gate") or {}
        interval = f" gain {_fmt(gate.get('difference'))} [{_fmt(gate.get('lower'))}, {_fmt(gate.get('upper'))}]"
        detail = (run.get("reason") or "") + (interval if gate.get("difference") is not None else "")
    return f"<b>{html.escape(head)}</b><br><small>{html.escape(detail)}</small>"


def _window_row(window: dict[str, Any]) -> str:
    runs = "<br>".join(_run_cell(r) for r in window["runs"])
    served = "<br>".join(html.escape(f"{p}: {', '.join(window['served'][p]) or '-'}") for p in POLICIES)
    alerts = "<br>".join(html.escape(f"{a['kind']}: {a['title']}") for a in window["alerts"]) or "-"
    cells = [
        str(window["index"] + 1), window["start"][:10] + " .. " + window["end"][:10], str(window["rows"]), runs,
        f"v{window['champion']}" if window["champion"] else "-", served,
        *(_fmt(window.get(f"metric_{p}")) for p in POLICIES), alerts,
    ]  # fmt: skip
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_html(config: ModelConfig, windows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    metric = html.escape(summary["metric"])
    rows = "".join(
        f"<tr><td>{html.escape(LABELS[p])}</td><td>{_fmt(s['mean_metric'])}</td><td>{s['retrains']}</td>"
        f"<td>{s['promotions']}</td><td>{s['blocked']}</td><td>{s['false_alarms']}</td><td>{s['task_seconds']:.0f}</td></tr>"
        for p, s in summary["policies"].items()
    )
    state = "complete" if summary["complete"] else "partial: rerun the same command to continue"
    head = (
        "<th>#</th><th>window</th><th>rows</th><th>runs and decisions</th><th>champion after</th>"
        f"<th>served by</th><th>{metric} policy</th><th>{metric} left alone</th><th>{metric} every cron</th><th>alerts (not sent)</th>"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Backtest of {html.escape(config.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}</style>
</head><body><h1>Backtest of {html.escape(config.name)}</h1>
<p>Replayed through the real monitoring, retraining and gate steps as <code>{html.escape(backtest_name(config.name))}</code>:
its own MLflow store, pipeline tables and artifacts in this folder; production was only read. Alerts are listed, never sent.</p>
<p>{summary["windows"]} of {summary["windows_planned"]} windows ({state}); the mean served {metric} is over the
{summary["windows_compared"]} windows where all three policies served a model, on the same rows, scored on matured labels.
Drift triggers: {summary["drift_triggers"]}; rollbacks by hand replayed: {summary.get("rollbacks", 0)} (the policy's
champion only); alerts the policy would have sent: {summary["alerts"]}.</p>
<table><tr><th>policy</th><th>mean served {metric}</th><th>retrains</th><th>promotions</th><th>blocked</th>
<th>false alarms (drift retrain blocked)</th><th>task seconds</th></tr>{rows}</table>
<p><img src="timeline.png" alt="served {metric} per window" width="900"></p>
<table><tr>{head}</tr>{"".join(_window_row(w) for w in windows)}</table></body></html>
"""
