"""What the `monitor_<model>` tasks hand each other, typed: one dataclass per task result, turned
into a plain dict only at the XCom boundary (`to_xcom`, the keys the UI plugin and older runs
know) and parsed back once (`from_xcom`), and how a step says the run ends early, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from include.retraining.alerts import Alert
from include.retraining.common import Window
from include.retraining.drift import DriftEvidence, DriftSummary, MonitorOutcome
from include.retraining.monitor.estimate import PerformanceEstimate


class MonitoringSkipped(Exception):
    """Nothing to compare (no champion, too few rows); the run ends with the logged reason."""


class ChampionUnusable(MonitoringSkipped):
    """The champion cannot be loaded or scored: the run skips with reason `champion_unusable`
    and an alert naming the version and why, instead of failing every day."""

    reason = "champion_unusable"

    def __init__(self, model: str, version: str, why: str) -> None:
        self.model, self.version, self.why = model, version, why
        super().__init__(
            f"{self.reason}: model {model!r} champion version {version} cannot be used ({why}); monitoring "
            f"skips until retrain_{model} promotes a usable model or the `champion` alias is moved"
        )

    def to_alert(self, links: dict[str, str], dedup_key: str) -> Alert:
        lines = [
            f"Champion version {self.version} cannot be used: {self.why}",
            "Monitoring is skipped (reason champion_unusable) until a usable champion is promoted "
            f"by retrain_{self.model} or the `champion` alias is moved to a version that loads.",
        ]
        title = f"{self.model}: champion unusable, monitoring skipped"
        return Alert(self.reason, self.model, title, lines, links, {"version": self.version}, dedup_key)


@dataclass(frozen=True)
class Reference:
    """The champion being monitored: its version, the fixed-seed sample of its training rows
    (`snapshot`, the cached reference profile's sample) and its own feature list."""

    version: str
    run_id: str
    snapshot: str
    holdout_metric: float | None
    features: list[str]

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Reference:
        return cls(
            str(data["version"]),
            str(data["run_id"]),
            str(data["snapshot"]),
            data["holdout_metric"],
            list(data["features"]),
        )


@dataclass(frozen=True)
class CurrentWindow:
    """The two windows as read: `rows_*` is how many rows each holds (counted by the warehouse),
    `rows_*_read` how many were read into `current` / `matured`; `sampled` when either was read as
    the warehouse's hash sample of ids (a window larger than `monitor.max_rows` /
    `monitor.max_matured_rows`, on PostgreSQL). `served_*`: what score_<model> served in each
    (Parquet paths), None when nothing was."""

    window: Window
    matured_window: Window
    current: str
    matured: str
    rows_current: int
    rows_matured: int
    rows_current_read: int
    rows_matured_read: int
    sampled: bool = False
    served_current: str | None = None
    served_matured: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return {**asdict(self), "window": self.window.to_dict(), "matured_window": self.matured_window.to_dict()}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> CurrentWindow:
        # An XCom from before sampling has no `*_read` counts: every row was read.
        return cls(
            window=Window.from_dict(data["window"]),
            matured_window=Window.from_dict(data["matured_window"]),
            current=str(data["current"]),
            matured=str(data["matured"]),
            rows_current=int(data["rows_current"]),
            rows_matured=int(data["rows_matured"]),
            rows_current_read=int(data.get("rows_current_read", data["rows_current"])),
            rows_matured_read=int(data.get("rows_matured_read", data["rows_matured"])),
            sampled=bool(data.get("sampled", False)),
            served_current=data.get("served_current"),
            served_matured=data.get("served_matured"),
        )


@dataclass(frozen=True)
class SeasonalWindow:
    """The seasonal reference read for a window (`trigger.seasonal_reference`): the same window a
    season ago, or the previous one. `path` is None when it is off or had too few rows (`note`)."""

    mode: str
    window: Window | None = None
    path: str | None = None
    rows: int = 0
    note: str = ""

    def to_xcom(self) -> dict[str, Any]:
        return {**asdict(self), "window": self.window.to_dict() if self.window else None}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> SeasonalWindow:
        window = Window.from_dict(data["window"]) if data.get("window") else None
        return cls(str(data["mode"]), window, data.get("path"), int(data.get("rows", 0)), str(data.get("note", "")))


@dataclass(frozen=True)
class DriftResult:
    """The data-drift task's result: Evidently's per-column summary (what the report shows), the
    trigger policy's evidence (what decides), the prediction PSI and where its scores came from
    ("served": what the champion served; "rescored": the monitor scored the window), the window's
    size, the report files, notes on columns left out, and the performance estimate (reported,
    never decides)."""

    summary: DriftSummary
    evidence: DriftEvidence
    prediction_psi: float
    report_html: str
    report_json: str
    rows_window: int
    rows_read: int
    sampled: bool = False
    notes: list[str] = field(default_factory=list)
    prediction_source: str = "rescored"
    rows_served: int = 0
    estimate: PerformanceEstimate | None = None

    @property
    def drifted_columns(self) -> list[str]:
        return self.summary.drifted_columns

    def to_xcom(self) -> dict[str, Any]:
        """`DriftSummary.to_dict()` plus the rest, flat, as the UI plugin reads `report_html`."""
        data = {
            **self.summary.to_dict(),
            "prediction_psi": self.prediction_psi,
            "report_html": self.report_html,
            "report_json": self.report_json,
            "rows_window": self.rows_window,
            "rows_read": self.rows_read,
            "sampled": self.sampled,
            "notes": list(self.notes),
            "prediction_source": self.prediction_source,
            "rows_served": self.rows_served,
            "evidence": self.evidence.to_dict(),
        }
        return {**data, "performance_estimate": self.estimate.to_dict()} if self.estimate else data

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> DriftResult:
        estimate = data.get("performance_estimate")
        return cls(
            summary=DriftSummary.from_dict(data),
            evidence=DriftEvidence.from_dict(data["evidence"]),
            prediction_psi=float(data["prediction_psi"]),
            report_html=str(data["report_html"]),
            report_json=str(data["report_json"]),
            rows_window=int(data.get("rows_window", data["n_current"])),
            rows_read=int(data.get("rows_read", data["n_current"])),
            sampled=bool(data.get("sampled", False)),
            notes=list(data.get("notes", [])),
            prediction_source=str(data.get("prediction_source", "rescored")),
            rows_served=int(data.get("rows_served", 0)),
            estimate=PerformanceEstimate.from_dict(estimate) if estimate else None,
        )


@dataclass(frozen=True)
class ServedFigures:
    """One model version's served predictions of the matured window: how many, how many labelled,
    and its metric where coverage and rows suffice (else None and the note says why)."""

    alias: str
    version: str
    rows: int
    labelled: int
    coverage: float
    value: float | None
    note: str = ""
    # Predictions whose label relation held different labels (0 and 1): left unlabelled, counted.
    conflicting_labels: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = _without_empty_note(asdict(self))
        if not self.conflicting_labels:
            del data["conflicting_labels"]
        return data


@dataclass(frozen=True)
class ShadowFigures:
    """A shadow challenger beside the champion on the same labelled rows both scored."""

    challenger_version: str
    champion_versions: list[str]
    rows: int
    champion_value: float | None
    challenger_value: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _without_empty_note(asdict(self))


@dataclass(frozen=True)
class Performance:
    """The champion's primary metric on matured labels against its holdout value: on its served
    predictions ("served", with per-version figures and the shadow beside it) or scored by the
    monitor ("rescored", nothing was served). `drop` is positive when worse."""

    metric: str
    holdout_value: float | None
    rows: int
    current_value: float | None
    drop: float | None
    source: str = "rescored"
    note: str = ""
    coverage: float | None = None
    rows_served: int = 0
    versions: list[ServedFigures] = field(default_factory=list)
    shadow: list[ShadowFigures] = field(default_factory=list)

    def to_xcom(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "metric": self.metric,
            "holdout_value": self.holdout_value,
            "rows": self.rows,
            "current_value": self.current_value,
            "drop": self.drop,
            "source": self.source,
        }
        if self.source == "served":
            data |= {
                "coverage": self.coverage,
                "rows_served": self.rows_served,
                "versions": [v.to_dict() for v in self.versions],
                "shadow": [s.to_dict() for s in self.shadow],
            }
        return {**data, "note": self.note} if self.note else data

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Performance:
        return cls(
            metric=str(data["metric"]),
            holdout_value=data["holdout_value"],
            rows=int(data["rows"]),
            current_value=data["current_value"],
            drop=data["drop"],
            source=str(data.get("source", "rescored")),
            note=str(data.get("note", "")),
            coverage=data.get("coverage"),
            rows_served=int(data.get("rows_served", 0)),
            versions=[ServedFigures(**v) for v in data.get("versions", [])],
            shadow=[ShadowFigures(**s) for s in data.get("shadow", [])],
        )


@dataclass(frozen=True)
class Reported:
    """The report task's result: the monitoring run in MLflow, the Evidently report, the decision."""

    mlflow_run_id: str
    report_html: str
    decision: MonitorOutcome

    def to_xcom(self) -> dict[str, Any]:
        return {"mlflow_run_id": self.mlflow_run_id, "report_html": self.report_html, "decision": self.decision.value}


@dataclass(frozen=True)
class DriftEvent:
    """The extra of the drift asset event; `retrain_<model>` reads `window_end` from it."""

    reason: str
    window_end: str
    drift_share: float
    drifted_columns: list[str]
    prediction_psi: float
    monitor_run_id: str
    report: str

    def to_extra(self) -> dict[str, Any]:
        return asdict(self)


def _without_empty_note(data: dict[str, Any]) -> dict[str, Any]:
    return data if data.get("note") else {k: v for k, v in data.items() if k != "note"}
