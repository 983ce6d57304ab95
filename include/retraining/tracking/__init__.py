"""MLflow, behind one adapter: runs and what they record (`Tracker`), registered versions and the
aliases that say which serves (`Registry`), and models loaded skops-only, trusting only the
project's types and the model file's own `training.trusted_types`. Fail closed: only MLflow's explicit "does not exist" means absent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.tracking.evidence import StoredEvidence
    from include.retraining.tracking.loading import (
        UnsafeModelError,
        UnusableModelError,
        load_model_file,
        untrusted_types,
    )
    from include.retraining.tracking.records import LoggedRun, ModelLog, RunRecord, TrainingRunLog
    from include.retraining.tracking.registry import (
        CHALLENGER,
        CHAMPION,
        PREVIOUS_CHAMPION,
        Champion,
        Registry,
        RegistryError,
    )
    from include.retraining.tracking.tags import (
        CLASSES_TAG,
        COMPARED_WITH_TAG,
        CONFIG_HASH_TAG,
        DAG_ID_TAG,
        DECIDED_BY_TAG,
        DECISION_TAG,
        GATE_REASON_TAG,
        GATE_TAG,
        GIT_COMMIT_TAG,
        MAX_TAG_CHARS,
        MODEL_URI_TAG,
        REASON_TAG,
        REPLACED_BY_TAG,
        RUN_ID_TAG,
        RUN_URL_TAG,
        SNAPSHOT_HASH_TAG,
        SNAPSHOT_PATH_TAG,
        TRAIN_UNTIL_TAG,
        TRIGGER_TAG,
        WINDOW_END_TAG,
        WINDOW_START_TAG,
    )
    from include.retraining.tracking.tracker import Tracker, configure, create_sqlite_store, run_link

__all__, __getattr__, __dir__ = face(__name__)
