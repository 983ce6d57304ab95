"""What `make demo` leaves behind: the timeline table, the picture, and where everything is."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from demo import timeline


def live_metric(version: str, at: Any, cache: dict[str, Any]) -> float | None:
    """A model version's ROC AUC on the latest week whose labels have matured by `at`."""
    from include.retraining.config import load_model_config
    from include.retraining.evaluation import metric_value
    from include.retraining.settings import load_settings
    from include.retraining.tracking import Tracker
    from include.retraining.training import predict_scores
    from include.retraining.warehouse import read_window

    settings = load_settings()
    config = load_model_config(settings.models_dir / "churn.yaml")
    delay = timedelta(days=config.training.label_delay_days)
    columns = [config.source.timestamp_column, config.target, *config.features.columns]
    frame = read_window(
        settings.warehouse_default_url,
        config.source,
        columns,
        at - delay - timedelta(weeks=1),
        at - delay,
        model=config.name,
    )
    if len(frame) < 100 or frame[config.target].nunique() < 2:
        return None
    if version not in cache:
        # The project's own loader (skops, its trusted types only), as the pipeline loads models.
        cache[version] = Tracker.connect(settings).load_model(f"models:/churn/{version}")
    scores = predict_scores(cache[version], frame[config.features.columns], "classification")
    return metric_value("roc_auc", frame[config.target].to_numpy(), scores)


def _table(rows: list[dict[str, Any]]) -> str:
    header = f"{'week':>4} {'date':10} {'rows':>5} {'drift':>5} {'PSI':>5} {'live AUC':>8} {'v1 AUC':>6}  {'ran':34} {'decision':44} champ"
    lines = [header, "-" * len(header)]
    for row in rows:
        fmt = lambda v, spec: format(v, spec) if v is not None and not (isinstance(v, float) and np.isnan(v)) else "-"  # noqa: E731
        decision = "; ".join(
            f"{k.replace('_', ' ')}: {row[k]}" for k in ("drift_retrain", "weekly_retrain") if k in row
        )
        lines.append(
            f"{row['week']:>4} {row['date']:%Y-%m-%d} {row['rows']:>5} {fmt(row.get('drift_share'), '.2f'):>5} "
            f"{fmt(row.get('psi'), '.2f'):>5} {fmt(row.get('live'), '.3f'):>8} {fmt(row.get('baseline'), '.3f'):>6}  "
            f"{', '.join(row['ran']):34} {decision[:44]:44} v{row['champion']}"
        )
    return "\n".join(lines)


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = [row["date"] for row in rows]
    figure, axis = plt.subplots(figsize=(10, 5))
    axis.plot(dates, [row.get("live") for row in rows], marker="o", label="with the pipeline (current champion)")
    axis.plot(
        dates, [row.get("baseline") for row in rows], marker="o", linestyle="--", label="first model, never retrained"
    )
    marks = (
        ("drift detected", lambda r: r.get("monitor", {}).get("trigger") == "success", "^", "tab:orange"),
        (
            "promoted",
            lambda r: "promoted" in (r.get("drift_retrain", "") + r.get("weekly_retrain", "")),
            "*",
            "tab:green",
        ),
        (
            "validation blocked",
            lambda r: "validation" in (r.get("drift_retrain", "") + r.get("weekly_retrain", "")),
            "X",
            "tab:red",
        ),
    )
    low = min(min((r.get("live") or 1.0), (r.get("baseline") or 1.0)) for r in rows) - 0.02
    for offset, (label, test, marker, color) in enumerate(marks):
        hits = [r["date"] for r in rows if test(r)]
        axis.scatter(hits, [low - 0.012 * offset] * len(hits), marker=marker, s=110, color=color, label=label, zorder=3)
    change = timeline.START + timedelta(weeks=timeline.PRICING_CHANGE_WEEK)
    axis.axvline(change, color="grey", linestyle=":")
    axis.annotate("pricing change", (change, low + 0.01), rotation=90, fontsize=8, color="grey")
    axis.set_ylabel("ROC AUC on the latest week of matured labels")
    axis.set_title("Churn model, simulated half-year: retrained champion vs the model left alone")
    axis.legend(loc="upper right", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def summarize(rows: list[dict[str, Any]], out: Path, started: float, terminal: TextIO) -> dict[str, Any]:
    from include.retraining.alerts import read_alerts
    from include.retraining.monitoring_table import read_monitoring
    from include.retraining.settings import load_settings

    settings = load_settings()
    monitoring = read_monitoring(settings.warehouse_default_url, "churn")
    by_end = {pd.Timestamp(r.window_end): r for r in monitoring.itertuples()} if len(monitoring) else {}
    cache: dict[str, Any] = {}
    for row in rows:
        record = by_end.get(pd.Timestamp(row["date"].replace(tzinfo=None)))
        row["drift_share"] = getattr(record, "drift_share", None)
        row["psi"] = getattr(record, "prediction_psi", None)
        row["live"] = live_metric(row["champion"], row["date"], cache) if row["champion"] else None
        row["baseline"] = live_metric("1", row["date"], cache) if row["champion"] else None
    picture = out / "timeline.png"
    _plot(rows, picture)
    print(file=terminal)
    print(_table(rows), file=terminal)
    final = rows[-1]
    gap = (final["live"] or 0) - (final["baseline"] or 0)
    alerts = read_alerts(settings.alerts_file)
    reports = sorted((settings.artifact_root / "churn" / "monitoring").rglob("drift_report.html"))
    validations = sorted((settings.artifact_root / "churn" / "validation").rglob("gx_result.html"))
    print(file=terminal)
    print(
        f"Final week: retrained champion v{final['champion']} ROC AUC {final['live']:.3f} vs first model "
        f"{final['baseline']:.3f} (gap {gap:+.3f}). Demo wall time {time.monotonic() - started:.0f}s.",
        file=terminal,
    )
    print(f"  picture           {picture}", file=terminal)
    print(
        f"  Evidently reports {len(reports)} in {settings.artifact_root / 'churn' / 'monitoring'}/<window>/drift_report.html",
        file=terminal,
    )
    print(
        f"  GX results        {len(validations)} in {settings.artifact_root / 'churn' / 'validation'}/<window>/gx_result.html",
        file=terminal,
    )
    print(
        f"  alerts            {len(alerts)} in {settings.alerts_file}: "
        + ", ".join(sorted({a["kind"] for a in alerts})),
        file=terminal,
    )
    print(f"  MLflow store      {settings.tracking_uri}  ->  make mlflow, then http://localhost:5000", file=terminal)
    print(
        "  Airflow runs      make airflow, then http://localhost:8080 (the demo's runs are in its metadata DB)",
        file=terminal,
    )
    summary = {
        "gap": gap,
        "seconds": time.monotonic() - started,
        "weeks": [
            {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in row.items()}
            for row in rows
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
