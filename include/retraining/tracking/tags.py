"""The tag names every training run, monitoring run and registered version carries, defined once."""

from __future__ import annotations

# A training run's identity and what it was trained on.
SNAPSHOT_PATH_TAG = "retraining.snapshot_path"
SNAPSHOT_HASH_TAG = "retraining.snapshot_hash"
CONFIG_HASH_TAG = "retraining.config_hash"
MODEL_URI_TAG = "retraining.model_uri"
WINDOW_START_TAG = "retraining.window_start"
WINDOW_END_TAG = "retraining.window_end"
TRIGGER_TAG = "retraining.trigger"
# The last timestamp of the rows a run trained on (ISO 8601, UTC): rows after it are unseen.
TRAIN_UNTIL_TAG = "retraining.train_until"
# A multiclass model's classes as it learned them (a JSON list of text labels, its probability columns' order).
CLASSES_TAG = "retraining.classes"
# The gate's decision on a training run.
GATE_TAG = "retraining.gate"
GATE_REASON_TAG = "retraining.gate_reason"
# The baseline version a run's gate evidence was scored against; set only once the evidence is stored.
EVIDENCE_BASELINE_TAG = "retraining.evidence_baseline"
# Who ran it.
DAG_ID_TAG = "airflow.dag_id"
RUN_ID_TAG = "airflow.run_id"
RUN_URL_TAG = "airflow.run_url"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
# A registered version: the decision that moved or kept it, and the versions it replaced or was replaced by.
DECISION_TAG = "retraining.decision"
REASON_TAG = "retraining.reason"
DECIDED_BY_TAG = "retraining.decided_by_run"
COMPARED_WITH_TAG = "retraining.compared_with_version"
REPLACED_BY_TAG = "retraining.replaced_by_version"
REPLACES_TAG = "retraining.replaces_version"
# MLflow caps a tag value at 5,000 characters (8,000 on newer stores); reasons are cut to fit.
MAX_TAG_CHARS = 5000
