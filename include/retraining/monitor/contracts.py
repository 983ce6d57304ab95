"""What the `monitor_<model>` tasks hand each other: plain JSON-able dicts with a declared shape.

Each is a `TypedDict`, so it crosses XCom as the dict it is (the UI plugin reads `report_html`
and `mlflow_run_id` from it) while the steps and their tests know every key and type. Windows
travel as `Window.to_dict()` and are read back with `Window.from_dict`; the drift summary and the
decision have dataclasses of their own (`DriftSummary.from_dict`, `DriftDecision.from_dict`).
The two exceptions are the other contract: how a step says the run ends early, and why.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from include.retraining.alerts.outbox import Alert


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


class WindowDict(TypedDict):
    start: str
    end: str


class ReferenceInfo(TypedDict):
    """The champion being monitored: its version, the fixed-seed sample of its training rows
    (`snapshot`, the cached `reference_profile` sample) and its own feature list."""

    version: str
    run_id: str
    snapshot: str
    holdout_metric: float | None
    features: list[str]


class CurrentWindow(TypedDict):
    """The two windows as read: `rows_*` is how many rows each holds (counted by the warehouse),
    `rows_*_read` how many were read into `current` / `matured`; `sampled` when either was read as
    the warehouse's hash sample of ids (a window larger than `monitor.max_rows` /
    `monitor.max_matured_rows`, on PostgreSQL)."""

    window: WindowDict
    matured_window: WindowDict
    current: str
    matured: str
    rows_current: int
    rows_matured: int
    # NotRequired: an XCom from before sampling (every row was read).
    rows_current_read: NotRequired[int]
    rows_matured_read: NotRequired[int]
    sampled: NotRequired[bool]
    # What score_<model> served (include.retraining.monitor.served): parquet paths, None when nothing was.
    served_current: NotRequired[str | None]
    served_matured: NotRequired[str | None]


class WindowRows(TypedDict):
    """The current window's size as the drift result shows it: rows it holds, rows read."""

    rows_window: int
    rows_read: int
    sampled: bool


class SeasonalWindow(TypedDict):
    """The seasonal reference read for a window (`trigger.seasonal_reference`): the same window a
    season ago, or the previous one. `path` is None when it is off or had too few rows (`note`)."""

    mode: str
    window: WindowDict | None
    path: str | None
    rows: int
    note: str


class ColumnDriftDict(TypedDict):
    column: str
    kind: str
    stattest: str
    score: float | None
    threshold: float
    drifted: bool


class DriftResult(TypedDict):
    """`DriftSummary.to_dict()` plus the prediction PSI, the report files and notes on columns
    left out (features the champion was not trained on)."""

    n_reference: int
    n_current: int
    drift_share: float
    drifted_columns: list[str]
    columns: dict[str, ColumnDriftDict]
    prediction_psi: float
    report_html: str
    report_json: str
    notes: NotRequired[list[str]]
    # "served": the champion's scores from the predictions table; "rescored": the monitor scored the window.
    prediction_source: NotRequired[str]
    rows_served: NotRequired[int]
    evidence: NotRequired[dict]  # DriftEvidence.to_dict(): what the trigger policy decides on
    # WindowRows: the compared window's size and whether it was read as a sample.
    rows_window: NotRequired[int]
    rows_read: NotRequired[int]
    sampled: NotRequired[bool]
    # PerformanceEstimate.to_dict(): the early warning before labels mature; never decides.
    performance_estimate: NotRequired[dict]


class ServedFigures(TypedDict):
    """One model version's served predictions of the matured window: how many, how many labelled,
    and its metric where coverage and rows suffice (else None and the note says why)."""

    alias: str
    version: str
    rows: int
    labelled: int
    coverage: float
    value: float | None
    note: NotRequired[str]


class ShadowFigures(TypedDict):
    """A shadow challenger beside the champion on the same labelled rows both scored."""

    challenger_version: str
    champion_versions: list[str]
    rows: int
    champion_value: float | None
    challenger_value: float | None
    note: NotRequired[str]


class PerformanceResult(TypedDict):
    metric: str
    holdout_value: float | None
    rows: int
    current_value: float | None
    drop: float | None
    note: NotRequired[str]
    # "served": on the champion's served predictions and the labels that arrived; "rescored": the
    # monitor scored the matured rows itself (nothing was served in that window).
    source: NotRequired[str]
    coverage: NotRequired[float | None]
    rows_served: NotRequired[int]
    versions: NotRequired[list[ServedFigures]]
    shadow: NotRequired[list[ShadowFigures]]


class DecisionDict(TypedDict):
    """`DriftDecision.to_dict()`."""

    retrain: bool
    drift_detected: bool
    reasons: list[str]
    blocked_by: str | None
    notes: list[str]
    signature: NotRequired[list[str]]


class ReportResult(TypedDict):
    mlflow_run_id: str
    report_html: str
    decision: str


class DriftEventExtra(TypedDict):
    """The extra of the drift asset event; `retrain_<model>` reads `window_end` from it."""

    reason: str
    window_end: str
    drift_share: float
    drifted_columns: list[str]
    prediction_psi: float
    monitor_run_id: str
    report: str
