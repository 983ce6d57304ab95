"""The model file: one YAML per model, parsed into a pydantic model.

Everything the pipeline does for a model is read from here. A bad file raises
`ModelConfigError` naming the file, the key and the fix; it never breaks the other models.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

CLASSIFICATION_METRICS = ("roc_auc", "pr_auc", "f1", "log_loss", "accuracy")
# WAPE, not MAPE: MAPE divides by each target and explodes on zeros (3e15 on a count target).
REGRESSION_METRICS = ("rmse", "mae", "r2", "wape")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "wape"})
DEFAULT_METRIC = {"classification": "roc_auc", "regression": "rmse"}


class ModelConfigError(ValueError):
    """A model file that cannot be used; the message names the file, the key and the fix."""


def is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.match(name))


def _check_identifier(value: str, what: str) -> str:
    if not is_identifier(value):
        raise ValueError(
            f"{what} {value!r} is not a plain SQL identifier; use letters, digits and "
            "underscores only (at most 63 characters, not starting with a digit)"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    conn_id: str = "warehouse"
    table: str | None = None
    query: str | None = None
    timestamp_column: str
    id_column: str | None = None

    @field_validator("table")
    @classmethod
    def _table_identifier(cls, value: str | None) -> str | None:
        if value is not None:
            for part in value.split("."):
                _check_identifier(part, "table name part")
            if value.count(".") > 1:
                raise ValueError(f"table {value!r}: use `table` or `schema.table`")
        return value

    @field_validator("query")
    @classmethod
    def _single_select(cls, value: str | None) -> str | None:
        if value is not None:
            text = value.strip().rstrip(";").strip()
            if ";" in text or not re.match(r"(?is)^(select|with)\b", text):
                raise ValueError("query must be a single SELECT (or WITH ... SELECT) statement")
            return text
        return value

    @field_validator("timestamp_column", "id_column")
    @classmethod
    def _column_identifier(cls, value: str | None) -> str | None:
        return value if value is None else _check_identifier(value, "column")

    @model_validator(mode="after")
    def _table_xor_query(self) -> SourceConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("set exactly one of `table` or `query`")
        return self


class FeaturesConfig(_Strict):
    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)

    @field_validator("numeric", "categorical")
    @classmethod
    def _identifiers(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_identifier(value, "feature column")
        return values

    @model_validator(mode="after")
    def _non_empty_and_distinct(self) -> FeaturesConfig:
        columns = self.numeric + self.categorical
        if not columns:
            raise ValueError("list at least one column under `numeric` or `categorical`")
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ValueError(f"columns listed twice: {duplicates}; list each feature once")
        return self

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class TrainingConfig(_Strict):
    window_days: int = Field(180, gt=0)
    label_delay_days: int = Field(0, ge=0)
    holdout_fraction: float = Field(0.2, gt=0.0, lt=0.9)
    estimator: Literal["hist_gradient_boosting", "random_forest", "logistic_regression", "ridge"] = (
        "hist_gradient_boosting"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    min_rows: int = Field(200, ge=10, description="fewer rows in the window stop the run")
    seed: int = 0


class GateConfig(_Strict):
    """Where each default comes from: docs/decisions.md, "The promotion gate"."""

    metric: str | None = None
    threshold: float | None = None
    min_improvement: float = 0.0
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # Only pr_auc is resampled; every other metric has a closed-form interval.
    bootstrap_samples: int = Field(1000, ge=100, le=20000)
    # metric -> margin: the challenger may be worse than the champion by at most this much.
    guardrails: dict[str, float] = Field(default_factory=dict)

    @field_validator("metric")
    @classmethod
    def _no_mape(cls, value: str | None) -> str | None:
        if value == "mape":
            raise ValueError("mape was replaced by wape (sum |error| / sum |actual|, finite at zero targets)")
        return value

    @field_validator("guardrails")
    @classmethod
    def _margins(cls, value: dict[str, float]) -> dict[str, float]:
        if "mape" in value:
            raise ValueError("mape was replaced by wape (sum |error| / sum |actual|, finite at zero targets)")
        bad = sorted(name for name, margin in value.items() if not 0 <= margin < float("inf"))
        if bad:
            raise ValueError(f"guardrail margins for {bad} must be finite and >= 0 (in the metric's own units)")
        return value


class ValidationConfig(_Strict):
    max_null_share: float = Field(0.5, ge=0.0, le=1.0, description="per feature column")
    allowed_categories: dict[str, list[str]] = Field(default_factory=dict)
    ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)
    learn_from_champion: bool = True
    # Learned bounds leave this much room, so ordinary variation is not a broken load.
    null_share_margin: float = Field(0.1, ge=0.0, le=1.0)
    new_category_share: float = Field(0.05, ge=0.0, le=1.0)


class AlertsConfig(_Strict):
    slack_conn_id: str = "slack_alerts"


class MonitorConfig(_Strict):
    schedule: str = "@daily"
    window_days: int = Field(7, gt=0)
    drift_share: float = Field(0.3, gt=0.0, le=1.0)
    critical_features: list[str] = Field(default_factory=list)
    stattest: str | dict[str, str] | None = None
    prediction_psi: float = Field(0.2, gt=0.0)
    performance_drop: float = Field(0.05, gt=0.0)
    cooldown_hours: float = Field(24, ge=0)
    min_rows: int = Field(200, ge=1)
    max_rows: int = Field(
        20_000, gt=1000, description="rows sampled per window for Evidently (above 1000, where it uses distance tests)"
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return _check_cron(value)


def _check_cron(value: str) -> str:
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * 1' or '@daily')")
    return value


class ModelConfig(_Strict):
    name: str
    task: Literal["classification", "regression"]
    source: SourceConfig
    target: str
    features: FeaturesConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    schedule: str = "0 3 * * 1"
    gate: GateConfig = Field(default_factory=GateConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    owner: str = "ml-platform"
    tags: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _MODEL_NAME.match(value):
            raise ValueError(
                f"{value!r} must be lowercase letters, digits and underscores, starting with a "
                "letter: it becomes the DAG ids retrain_<name>/monitor_<name> and the MLflow model"
            )
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return _check_identifier(value, "target column")

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _check_cron(value)

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if self.gate.metric is not None and self.gate.metric not in allowed:
            raise ValueError(
                f"gate.metric {self.gate.metric!r} does not fit task {self.task!r}; use one of {list(allowed)}"
            )
        misfits = sorted(set(self.gate.guardrails) - set(allowed))
        if misfits:
            raise ValueError(f"gate.guardrails {misfits} do not fit task {self.task!r}; use names from {list(allowed)}")
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
        return self

    @property
    def primary_metric(self) -> str:
        return self.gate.metric or DEFAULT_METRIC[self.task]

    @property
    def higher_is_better(self) -> bool:
        return self.primary_metric not in LOWER_IS_BETTER

    @property
    def retrain_dag_id(self) -> str:
        return f"retrain_{self.name}"

    @property
    def monitor_dag_id(self) -> str:
        return f"monitor_{self.name}"


def _fix_for(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "remove the key or correct its spelling"
    if kind == "missing":
        return "add this key"
    return "correct the value"


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid model file ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"  - key '{key}': {error['msg']} -> {_fix_for(error)}")
    return "\n".join(lines)


def parse_model_config(data: Any, path: Path) -> ModelConfig:
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path}: expected a YAML mapping of keys (name, task, source, ...)")
    try:
        config = ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ModelConfigError(_format_errors(path, exc)) from None
    if config.name != path.stem:
        raise ModelConfigError(
            f"{path}: key 'name' is {config.name!r} but the file is {path.name}; "
            f"rename the file to {config.name}.yaml or set name: {path.stem}"
        )
    return config


def load_model_config(path: Path) -> ModelConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ModelConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_model_config(data, path)


def discover_model_files(models_dir: Path) -> list[Path]:
    return sorted([*models_dir.glob("*.yaml"), *models_dir.glob("*.yml")])


def load_model_configs(models_dir: Path) -> tuple[list[ModelConfig], dict[Path, ModelConfigError]]:
    """Every good config, and an error per bad file, so one bad file cannot hide the others."""
    configs: list[ModelConfig] = []
    errors: dict[Path, ModelConfigError] = {}
    for path in discover_model_files(models_dir):
        try:
            configs.append(load_model_config(path))
        except ModelConfigError as exc:
            errors[path] = exc
    return configs, errors
