"""The model file: one YAML per model, parsed into a pydantic model.

Everything the pipeline does for a model is read from here. Reading a file from disk
is `files.py`; a bad file raises `ModelConfigError` naming the file, the key and the fix, and never
breaks the other models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from include.retraining.config.base import (
    DOTTED_PATH_RE,
    MODEL_NAME_RE,
    Strict,
    check_cron,
    check_dotted_path,
    check_identifier,
    repeated,
)
from include.retraining.config.catalog import (
    BUILTIN_ESTIMATORS,
    check_estimator_name,
    check_trusted_type,
    encoding_problems,
    estimator_problems,
    stattest_problems,
)
from include.retraining.config.gate import GateConfig
from include.retraining.config.labels import LabelsConfig, label_problems
from include.retraining.config.monitor import AlertLimit, MonitorConfig
from include.retraining.config.scoring import ScoringConfig
from include.retraining.config.serving import ServingConfig
from include.retraining.config.source import SourceConfig
from include.retraining.config.trigger import TriggerConfig

CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "f1", "log_loss", "accuracy")
# More than two classes: macro one-vs-rest ROC AUC (each class against the rest, averaged with equal
# weight), the multiclass log loss, and the share of rows whose most probable class is the label.
MULTICLASS_METRICS = ("roc_auc_ovr", "log_loss", "accuracy")
# WAPE, not MAPE: MAPE divides by each target and explodes on zeros (3e15 on a count target).
REGRESSION_METRICS = ("rmse", "mae", "r2", "wape")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "wape"})
METRICS = {"classification": CLASSIFICATION_METRICS, "multiclass": MULTICLASS_METRICS, "regression": REGRESSION_METRICS}
DEFAULT_METRIC = {"classification": "roc_auc", "multiclass": "roc_auc_ovr", "regression": "rmse"}
# The estimator a task trains: a multiclass model is a classifier whose target has more than two classes.
ESTIMATOR_KIND = {"classification": "classification", "multiclass": "classification", "regression": "regression"}
# Where each metric lives, for monitor.alert_below / alert_above: a bound outside it can never be
# crossed, or is always crossed. Losses (LOWER_IS_BETTER) run from 0 up; r2 from -inf up to 1.
_BOUNDED_METRICS = {
    "roc_auc": (0.0, 1.0),
    "roc_auc_ovr": (0.0, 1.0),
    "pr_auc": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
}
# For editors (the JSON schema): a list of `package.module.Name` strings.
_DOTTED_PATHS = {"items": {"type": "string", "pattern": DOTTED_PATH_RE.pattern}}


class FeaturesConfig(Strict):
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)
    # one_hot: dense indicator columns, any estimator. native: one ordinal code per column, split on
    # by histogram gradient boosting itself (far less memory on large windows).
    categorical_encoding: Literal["one_hot", "native"] = "one_hot"
    # Your own scikit-learn transformers (dotted paths, built without arguments), applied in this
    # order to the feature columns before the built-in preprocessing, inside the logged model.
    steps: list[str] = Field(default_factory=list, json_schema_extra=_DOTTED_PATHS)

    @field_validator("numeric", "categorical")
    @classmethod
    def _identifiers(cls, values: list[str]) -> list[str]:
        for value in values:
            check_identifier(value, "feature column")
        return values

    @field_validator("steps")
    @classmethod
    def _step_paths(cls, values: list[str]) -> list[str]:
        return [check_dotted_path(value, "features.steps entry") for value in values]

    @model_validator(mode="after")
    def _non_empty_and_distinct(self) -> FeaturesConfig:
        columns = self.numeric + self.categorical
        if not columns:
            raise ValueError("list at least one column under `numeric` or `categorical`")
        duplicates = repeated(columns)
        if duplicates:
            raise ValueError(f"columns listed twice: {duplicates}; list each feature once")
        return self

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class TrainingConfig(Strict):
    window_days: int = Field(180, gt=0)
    label_delay_days: int = Field(0, ge=0)
    holdout_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    # A built-in name, or the dotted path of any scikit-learn-compatible estimator class (imported
    # when the model is trained, never while the DAG files are parsed).
    estimator: str = Field(
        "hist_gradient_boosting",
        json_schema_extra={"anyOf": [{"enum": sorted(BUILTIN_ESTIMATORS)}, {"pattern": DOTTED_PATH_RE.pattern}]},
    )
    params: dict[str, Any] = Field(default_factory=dict)
    # Types the skops loader may trust for this model besides the project's own (your classes, a
    # library's tree structures): nothing else loads.
    trusted_types: list[str] = Field(default_factory=list, json_schema_extra=_DOTTED_PATHS)
    min_rows: int = Field(200, ge=10, description="fewer rows in the window stop the run")
    seed: int = 0
    # Train on about this many rows, a hash-of-the-id sample drawn in the warehouse (PostgreSQL);
    # validation judges the whole window there. None: the whole window.
    sample_rows: int | None = Field(None, ge=1000)

    @field_validator("estimator")
    @classmethod
    def _estimator(cls, value: str) -> str:
        return check_estimator_name(value)

    @field_validator("trusted_types")
    @classmethod
    def _trusted_types(cls, values: list[str]) -> list[str]:
        return [check_trusted_type(value) for value in values]

    @model_validator(mode="after")
    def _labels_mature_inside_the_window(self) -> TrainingConfig:
        if self.label_delay_days >= self.window_days:
            raise ValueError(
                f"training.label_delay_days ({self.label_delay_days}) must be smaller than training.window_days "
                f"({self.window_days}), or no row of the window has a known label; raise window_days"
            )
        return self


class ValidationConfig(Strict):
    max_null_share: float = Field(0.5, ge=0.0, le=1.0, description="per feature column")
    allowed_categories: dict[str, list[str]] = Field(default_factory=dict)
    ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    learn_from_champion: bool = True
    # Learned bounds leave this much room, so ordinary variation is not a broken load.
    null_share_margin: float = Field(0.1, ge=0.0, le=1.0)
    new_category_share: float = Field(0.05, ge=0.0, le=1.0)
    # Distinct values a categorical feature may have in a window: more is an id, not a category
    # (encoded, nearly all of it shares the encoder's "rare" bucket). None: no limit.
    max_categories: int | None = Field(1000, ge=2)
    # Row values (customer data) stay out of alerts and XComs unless a model opts in.
    include_values_in_alerts: bool = False


class AlertsConfig(Strict):
    slack_conn_id: str = "slack_alerts"


class RetentionConfig(Strict):
    """How much of a model's history stays on the artifact root and in the predictions table."""

    # Besides these, the champion's and previous champion's snapshots are always kept, and any
    # snapshot younger than artifacts.SNAPSHOT_MIN_AGE (a run in progress still reads it).
    snapshots: int = Field(8, ge=1, description="training snapshots kept per model, newest windows first")
    reports: int = Field(
        60,
        ge=1,
        description="monitoring reports and Great Expectations results kept per model and kind, newest windows first",
    )
    predictions_days: int | None = Field(
        None,
        ge=1,
        description="served predictions kept in the predictions table, in days before the interval each scoring "
        "run writes (superseded rows included); unset keeps every row",
    )


class ModelConfig(Strict):
    name: str
    # multiclass: a classification target with more than two classes, learned from the training window.
    task: Literal["classification", "multiclass", "regression"]
    source: SourceConfig
    target: str
    features: FeaturesConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    schedule: str = "0 3 * * 1"
    gate: GateConfig = Field(default_factory=GateConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    scoring: ScoringConfig | None = None
    serving: ServingConfig = Field(default_factory=ServingConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    trigger: TriggerConfig = Field(default_factory=TriggerConfig)
    owner: str = "ml-platform"
    tags: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not MODEL_NAME_RE.match(value):
            raise ValueError(
                f"{value!r} must be lowercase letters, digits and underscores, starting with a "
                "letter: it becomes the DAG ids retrain_<name>/monitor_<name> and the MLflow model"
            )
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return check_identifier(value, "target column")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return check_cron(value)

    @model_validator(mode="before")
    @classmethod
    def _multiclass_pools_nothing(cls, data: Any) -> Any:
        """A multiclass gate decides on its own holdout unless the file says otherwise (and then
        `_multiclass_problems` names the key)."""
        if isinstance(data, dict) and data.get("task") == "multiclass" and isinstance(data.get("gate", {}), dict):
            return {**data, "gate": {"pooled_windows": 1, **data.get("gate", {})}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        allowed = METRICS[self.task]
        if self.gate.metric is not None and self.gate.metric not in allowed:
            raise ValueError(
                f"gate.metric {self.gate.metric!r} does not fit task {self.task!r}; use one of {list(allowed)}"
            )
        misfits = sorted(set(self.gate.guardrails) - set(allowed))
        if misfits:
            raise ValueError(f"gate.guardrails {misfits} do not fit task {self.task!r}; use names from {list(allowed)}")
        misfits = sorted(set(self.gate.leakage.limits(self.task)) - set(allowed))
        if misfits:
            raise ValueError(
                f"gate.leakage.too_good {misfits} do not fit task {self.task!r}; use names from {list(allowed)}"
            )
        if self.training.sample_rows and not self.source.id_column:
            raise ValueError("training.sample_rows draws its sample by hashing the id: set source.id_column")
        used = {self.target, self.source.timestamp_column, self.source.id_column}
        clash = sorted(used.intersection(self.features.columns))
        if clash:
            raise ValueError(f"features {clash} are also the target, timestamp or id column")
        for key, listed in (
            ("monitor.critical_features", self.monitor.critical_features),
            ("validation.allowed_categories", self.validation.allowed_categories),
            ("validation.ranges", self.validation.ranges),
        ):
            unknown = sorted(set(listed) - set(self.features.columns))
            if unknown:
                raise ValueError(f"{key} names {unknown}, which are not listed under features")
        training, features = self.training, self.features
        problems = estimator_problems(training.estimator, ESTIMATOR_KIND[self.task], training.params)
        problems += encoding_problems(features.categorical_encoding, training.estimator, training.params)
        problems += stattest_problems(self.monitor.stattest, features.numeric, features.categorical)
        problems += label_problems(self.labels, self.source.id_column)
        problems += _alert_limit_problems(self.monitor, self.primary_metric, self.higher_is_better)
        problems += _retention_problems(self)
        problems += _multiclass_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def primary_metric(self) -> str:
        return self.gate.metric or DEFAULT_METRIC[self.task]

    @property
    def higher_is_better(self) -> bool:
        return self.primary_metric not in LOWER_IS_BETTER

    @property
    def alert_limit(self) -> AlertLimit | None:
        """`monitor.alert_below` (or `alert_above` for a loss) as it applies to the primary metric."""
        return self.monitor.alert_limit(self.primary_metric, self.higher_is_better)

    @property
    def retrain_dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def monitor_dag_id(self) -> str:
        return f"monitor_{self.name}"

    @property
    def rollback_dag_id(self) -> str:
        return f"rollback_{self.name}"

    @property
    def score_dag_id(self) -> str:
        return f"score_{self.name}"

    @property
    def scoring_or_defaults(self) -> ScoringConfig:
        """The `scoring:` section, or its defaults when the file has none (for ad-hoc scoring)."""
        return self.scoring if self.scoring is not None else ScoringConfig()

    @property
    def predictions_table(self) -> str:
        """`scoring.output_table`, else `<model>_predictions` (also without a `scoring:` section, so
        the predictions served before it was removed still count)."""
        return self.scoring_or_defaults.output_table or f"{self.name}_predictions"


def _multiclass_problems(config: ModelConfig) -> list[str]:
    """Pooled gate evidence stores one score per row: a multiclass gate tests on its own holdout;
    the canary's paired test reads one score per served row too."""
    if config.task != "multiclass":
        return []
    problems = []
    if config.gate.pooled_windows != 1:
        problems.append(
            f"gate.pooled_windows {config.gate.pooled_windows}: a multiclass model's gate decides on its own "
            "holdout only (pooled evidence holds one score per row, not a row of class probabilities); set it to 1"
        )
    if config.serving.canary is not None:
        problems.append(
            "serving.canary: not for a multiclass model yet (the canary's paired test reads one score per served "
            "row, not its class probabilities); remove it"
        )
    return problems


def _retention_problems(config: ModelConfig) -> list[str]:
    """Predictions must outlive their labels' delay and a monitoring window, or the monitor, which
    judges served predictions once their labels arrive, would find them pruned."""
    kept = config.retention.predictions_days
    needed = config.training.label_delay_days + config.monitor.window_days
    if kept is None or kept > needed:
        return []
    return [
        f"retention.predictions_days ({kept}) must exceed training.label_delay_days + monitor.window_days "
        f"({needed}), or the monitor finds the served predictions pruned before their labels arrive; "
        f"raise it above {needed} or unset it"
    ]


def _alert_limit_problems(monitor: MonitorConfig, metric: str, higher_is_better: bool) -> list[str]:
    """What is wrong with `alert_below` / `alert_above` for the model's primary metric."""
    wrong, right = ("alert_above", "alert_below") if higher_is_better else ("alert_below", "alert_above")
    problems = []
    if getattr(monitor, wrong) is not None:
        better = "higher" if higher_is_better else "lower"
        problems.append(
            f"monitor.{wrong} does not fit the primary metric {metric!r}, where {better} is better: "
            f"use monitor.{right} (the value {metric} must not {'fall below' if higher_is_better else 'rise above'})"
        )
    value = getattr(monitor, right)
    if value is None:
        return problems
    if metric in _BOUNDED_METRICS:
        low, high = _BOUNDED_METRICS[metric]
        if not low < value < high:
            problems.append(
                f"monitor.{right} {value} is outside {metric}'s range: use a value between {low} and {high}"
            )
    elif metric == "r2" and value >= 1:
        problems.append(f"monitor.{right} {value}: {metric} is 1 at best, so every window would alert; use a value < 1")
    elif metric in LOWER_IS_BETTER and value <= 0:
        problems.append(f"monitor.{right} {value}: {metric} is 0 at best, so every window would alert; use a value > 0")
    return problems
