"""What a run records in MLflow, as the tracker is handed it: a training run (tags, params, config,
dataset and model), any other run (tags, metrics, files, texts), and what a logged run is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from include.retraining.tracking.tags import SNAPSHOT_HASH_TAG


@dataclass(frozen=True)
class TrainingRunLog:
    """What a training run records besides the model: tags, params, the config and the dataset."""

    run_name: str
    tags: dict[str, str]
    params: dict[str, Any]
    config_json: dict[str, Any]
    frame: Any
    snapshot_path: str
    dataset_name: str
    target: str
    extra_tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # artifact folder -> local folder

    @property
    def digest(self) -> str:
        """The snapshot's content hash, from the identity tag every training run carries."""
        return self.tags[SNAPSHOT_HASH_TAG]


@dataclass(frozen=True)
class ModelLog:
    """The fitted model with its signature sample and the skops types it needs trusted."""

    model: Any
    signature_sample: Any
    input_example: Any
    trusted_types: list[str]


@dataclass(frozen=True)
class RunRecord:
    """A run with tags, metrics, files (artifact folder -> local paths) and texts (artifact file -> text)."""

    tags: dict[str, str]
    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, list[str]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    experiment_id: str
    model_uri: str
