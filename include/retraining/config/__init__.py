"""The model file: one YAML per model, parsed into `ModelConfig`. Everything the pipeline does for a
model is read from it; a bad file raises `ModelConfigError` naming the file, the key and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.config.base import is_identifier, is_model_name, repeated
    from include.retraining.config.catalog import BUILTIN_ESTIMATORS
    from include.retraining.config.files import (
        ModelConfigError,
        discover_model_files,
        load_model_config,
        load_model_configs,
        parse_model_config,
    )
    from include.retraining.config.gate import GateConfig
    from include.retraining.config.labels import LabelsConfig
    from include.retraining.config.leakage import LeakageConfig
    from include.retraining.config.model import (
        CLASSIFICATION_METRICS,
        DEFAULT_METRIC,
        ESTIMATOR_KIND,
        LOWER_IS_BETTER,
        METRICS,
        MULTICLASS_METRICS,
        REGRESSION_METRICS,
        FeaturesConfig,
        ModelConfig,
        TrainingConfig,
        ValidationConfig,
    )
    from include.retraining.config.monitor import AlertLimit, MonitorConfig
    from include.retraining.config.scoring import ScoringConfig
    from include.retraining.config.serving import CanaryConfig, ServingConfig
    from include.retraining.config.source import SourceConfig
    from include.retraining.config.trigger import TriggerConfig

__all__, __getattr__, __dir__ = face(__name__)
