"""What `make demo` leaves behind: the timeline table, the picture, the promotion log, and where
everything is."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from demo import timeline

MIN_ROWS = 100


def _matured_week(at: Any) -> tuple[Any, Any]:
    """The latest simulated week whose labels have matured by `at`."""
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config

    config = load_model_config(load_settings().models_dir / "churn.yaml")
    delay = timedelta(days=config.training.label_delay_days)
    return config, (at - delay - timedelta(weeks=1), at - delay)


def served_metrics(at: Any) -> dict[str, tuple[str, float]]:
    """What score_churn served for the latest week whose labels have matured by `at`: per alias
    (`champion`, and `challenger` when one scored in shadow), the version(s) that wrote those
    predictions and their ROC AUC against the labels that arrived."""
    from include.retraining.common import load_settings
    from include.retraining.learning import metric_value
    from include.retraining.predictions import read_served_with_labels
    from include.retraining.warehouse import Database, Warehouse

    config, (start, end) = _matured_week(at)
    settings = load_settings()
    pipeline_db, source = Database(settings.pipeline_default_url), Warehouse(settings.warehouse_default_url)
    frame = read_served_with_labels(pipeline_db, config, start, end, labels=source)
    figures: dict[str, tuple[str, float]] = {}
    for alias, rows in frame.groupby("alias"):
        labelled = rows.dropna(subset=["label"])
        if len(labelled) < MIN_ROWS or labelled["label"].nunique() < 2:
            continue
        versions = "+".join(sorted(set(rows["model_version"].astype(str)), key=int))
        value = metric_value("roc_auc", labelled["label"].to_numpy(dtype="float64"), labelled["score"].to_numpy())
        figures[str(alias)] = (versions, value)
    return figures


def rescored_metric(version: str, at: Any, cache: dict[str, Any]) -> float | None:
    """A model version's ROC AUC on the latest week whose labels have matured by `at`, scored here
    (the counterfactual: a model that served nothing)."""
    from include.retraining.common import load_settings
    from include.retraining.learning import metric_value, predict_scores, trusted_types
    from include.retraining.tracking import Tracker
    from include.retraining.warehouse import Warehouse

    settings = load_settings()
    config, (start, end) = _matured_week(at)
    columns = [config.source.timestamp_column, config.target, *config.features.columns]
    frame = Warehouse(settings.warehouse_default_url).read_window(config.source, columns, start, end, model=config.name)
    if len(frame) < MIN_ROWS or frame[config.target].nunique() < 2:
        return None
    if version not in cache:
        # The project's own loader (skops, the types the model file may trust), as the pipeline loads models.
        cache[version] = Tracker(settings, trusted_types=trusted_types(config)).load_model(f"models:/churn/{version}")
    scores = predict_scores(cache[version], frame[config.features.columns], "classification")
    return metric_value("roc_auc", frame[config.target].to_numpy(), scores)


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return format(value, spec)


def _decision(row: dict[str, Any]) -> str:
    parts = [f"{k.replace('_', ' ')}: {row[k]}" for k in ("drift_retrain", "weekly_retrain") if k in row]
    if "rollback" in row:
        parts.append(f"by hand: {row['rollback']}")
    return "; ".join(parts)


def _table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'week':>4} {'date':10} {'rows':>5} {'drift':>5} {'PSI':>5} {'served AUC':>13} {'shadow AUC':>13} "
        f"{'v1 AUC':>6}  {'ran':52} {'champ':5} decision"
    )
    lines = [header, "-" * (len(header) + 50)]
    for row in rows:
        served = f"{_fmt(row.get('live'), '.3f')} v{row['live_version']}" if row.get("live_version") else "-"
        shadow = f"{_fmt(row.get('shadow'), '.3f')} v{row['shadow_version']}" if row.get("shadow_version") else "-"
        lines.append(
            f"{row['week']:>4} {row['date']:%Y-%m-%d} {row['rows']:>5} {_fmt(row.get('drift_share'), '.2f'):>5} "
            f"{_fmt(row.get('psi'), '.2f'):>5} {served:>13} {shadow:>13} {_fmt(row.get('baseline'), '.3f'):>6}  "
            f"{', '.join(row['ran']):52} {'v' + str(row['champion']):5} {_decision(row)}"
        )
    return "\n".join(lines)


def _marks() -> tuple:
    def decided(word: str):
        return lambda r: word in (r.get("drift_retrain", "") + r.get("weekly_retrain", ""))

    return (
        ("drift detected", lambda r: r.get("monitor", {}).get("trigger") == "success", "^", "tab:orange"),
        ("promoted", decided("promoted"), "*", "tab:green"),
        ("validation blocked", decided("validation"), "X", "tab:red"),
        ("rolled back by hand", lambda r: "rollback" in r, "v", "tab:purple"),
    )


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = [row["date"] for row in rows]
    figure, axis = plt.subplots(figsize=(10, 5))
    nan = float("nan")
    served = any(row.get("live_source") == "served" for row in rows)
    live = "served by the champion (score_churn)" if served else "current champion (rescored)"
    axis.plot(dates, [row.get("live") or nan for row in rows], marker="o", color="tab:blue", label=live)
    if any(row.get("shadow") for row in rows):
        axis.plot(
            dates, [row.get("shadow") or nan for row in rows], marker="s", linestyle="-.", color="tab:cyan",
            label="shadow challenger, same rows (score_churn)",
        )  # fmt: skip
    axis.plot(
        dates,
        [row.get("baseline") for row in rows],
        marker="o",
        linestyle="--",
        color="tab:gray",
        label="first model, never retrained (rescored)",
    )
    values = [v for r in rows for v in (r.get("live"), r.get("shadow"), r.get("baseline")) if v]
    low = min(values, default=1.0) - 0.02
    for offset, (label, test, marker, color) in enumerate(_marks()):
        hits = [r["date"] for r in rows if test(r)]
        axis.scatter(hits, [low - 0.012 * offset] * len(hits), marker=marker, s=110, color=color, label=label, zorder=3)
    change = timeline.START + timedelta(weeks=timeline.PRICING_CHANGE_WEEK)
    axis.axvline(change, color="grey", linestyle=":")
    axis.annotate("pricing change", (change, low + 0.01), rotation=90, fontsize=8, color="grey")
    axis.set_ylabel("ROC AUC on the latest week of matured labels")
    axis.set_title("Churn model, simulated quarter: what the pipeline served vs the model left alone")
    axis.legend(loc="upper right", fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _figures(rows: list[dict[str, Any]]) -> None:
    """Each week's drift figures from `model_monitoring`, its served metrics (the champion's and
    a shadow challenger's) and the first model's, rescored."""
    from include.retraining.common import load_settings
    from include.retraining.tables import read_monitoring
    from include.retraining.warehouse import Database

    monitoring = read_monitoring(Database(load_settings().pipeline_default_url), "churn")
    by_end = {pd.Timestamp(r.window_end): r for r in monitoring.itertuples()} if len(monitoring) else {}
    cache: dict[str, Any] = {}
    scored = any("score" in row["ran"] for row in rows)
    for row in rows:
        record = by_end.get(pd.Timestamp(row["date"].replace(tzinfo=None)))
        row["drift_share"] = getattr(record, "drift_share", None)
        row["psi"] = getattr(record, "prediction_psi", None)
        served = served_metrics(row["date"])
        for key, alias in (("live", "champion"), ("shadow", "challenger")):
            if alias in served:
                row[f"{key}_version"], row[key] = served[alias]
                row[f"{key}_source"] = "served"
        if "live" not in row and row["champion"] and not scored:
            # No score_<model> DAG to serve anything: the current champion, rescored here.
            row["live_version"], row["live_source"] = row["champion"], "rescored"
            row["live"] = rescored_metric(row["champion"], row["date"], cache)
        row["baseline"] = rescored_metric("1", row["date"], cache) if row["champion"] else None


def _promotion_log() -> list[dict[str, Any]]:
    """The promotion log's rows for churn, oldest first."""
    from include.retraining.common import load_settings
    from include.retraining.tables import history
    from include.retraining.warehouse import Database

    records = reversed(history(Database(load_settings().pipeline_default_url), "churn", limit=100))
    return [
        {
            "action": str(r.action),
            "from_version": r.from_version,
            "to_version": r.to_version,
            "actor": r.actor,
            "reason": r.reason,
            "at": r.at.isoformat() if r.at else None,
        }
        for r in records
    ]


def _print_log(log: list[dict[str, Any]], terminal: TextIO) -> None:
    print("\nPromotion log (table model_promotions in .data/pipeline.db, oldest first):", file=terminal)
    for entry in log:
        move = f"v{entry['from_version'] or '-'} -> v{entry['to_version']}"
        print(f"  {entry['action']:13} {move:12} by {entry['actor']:10} {entry['reason'][:90]}", file=terminal)


def summarize(
    rows: list[dict[str, Any]], out: Path, started: float, terminal: TextIO, backtest: dict[str, Any]
) -> dict[str, Any]:
    """Print and write what the demo did; `backtest` is demo.backtest.compare's: the replay of the
    same weeks, its report being the quarter's."""
    from demo.backtest import compare_served, print_comparison
    from include.orchestration.alerting import alert_outbox
    from include.retraining.alerts import read_alerts
    from include.retraining.common import load_settings

    settings = load_settings()
    _figures(rows)
    compare_served(rows, backtest)
    picture = out / "timeline.png"
    _plot(rows, picture)
    print(file=terminal)
    print(_table(rows), file=terminal)
    log = _promotion_log()
    _print_log(log, terminal)
    print_comparison(backtest, terminal)
    final = rows[-1]
    # The pipeline's end state: its last champion against the first model, on the same rows.
    end_value = rescored_metric(final["champion"], final["date"], {})
    gap = (end_value or 0) - (final["baseline"] or 0)
    served_after = [
        r["live"] - r["baseline"]
        for r in rows
        if r["week"] > timeline.PRICING_CHANGE_WEEK and r.get("live_source") == "served" and r.get("baseline")
    ]
    outbox = alert_outbox(settings)
    alerts = read_alerts(outbox)
    reports = sorted((settings.artifact_root / "churn" / "monitoring").rglob("drift_report.html"))
    validations = sorted((settings.artifact_root / "churn" / "validation").rglob("gx_result.html"))
    print(file=terminal)
    print(
        f"Final champion v{final['champion']}: ROC AUC {_fmt(end_value, '.3f')} on the last matured week vs the first "
        f"model's {final['baseline']:.3f} (gap {gap:+.3f}). Served since the pricing change, vs the first model on the "
        f"same rows: {_fmt(np.mean(served_after) if served_after else None, '+.3f')} a week on average. "
        f"Demo wall time {time.monotonic() - started:.0f}s.",
        file=terminal,
    )
    where = {
        "report": f"{backtest['report']} (the backtest of the quarter: policy, left alone, every cron)",
        "picture": f"{picture} (what was served); the backtest's: {backtest['timeline']}",
        "Evidently reports": f"{len(reports)} in {settings.artifact_root / 'churn' / 'monitoring'}/<window>/drift_report.html",
        "GX results": f"{len(validations)} in {settings.artifact_root / 'churn' / 'validation'}/<window>/gx_result.html",
        "alerts": f"{len(alerts)} in table alert_outbox of {outbox.db.display}: "
        + ", ".join(sorted({a["kind"] for a in alerts})),
        "predictions": f"table churn_predictions in {settings.pipeline_default_url}",
        "MLflow store": f"{settings.tracking_uri}  ->  make mlflow, then http://localhost:5000",
        "Airflow runs": "make airflow, then http://localhost:8080 (the demo's runs are in its metadata DB)",
    }
    for name, text in where.items():
        print(f"  {name:17} {text}", file=terminal)
    summary = {
        "gap": gap,
        "served_gap_after_change": float(np.mean(served_after)) if served_after else None,
        "seconds": time.monotonic() - started,
        "promotions": log,
        "backtest": backtest,
        "weeks": [
            {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in row.items()}
            for row in rows
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
