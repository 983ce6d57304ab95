"""The tracking adapter's evidence store: each gate decision's paired per-row holdout evidence,
kept as a small Parquet artifact of the challenger's run, and the earlier decisions' evidence
that `gate_evidence.pool_evidence` may pool with.

Part of the MLflow adapter (`tracking.py`): it reaches MLflow only through the Tracker's client.
A run's evidence is found by two tags: the baseline version it was compared with and the recipe
(`retraining.config_hash`, set on every training run).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from include.retraining.promotion.evidence import HoldoutEvidence

if TYPE_CHECKING:
    from include.retraining.tracking.tracker import Tracker

EVIDENCE_DIR = "evidence"
EVIDENCE_FILE = "holdout.parquet"
# The baseline version a run's evidence was scored against; set only once the evidence is stored.
EVIDENCE_BASELINE_TAG = "retraining.evidence_baseline"
# The last timestamp of the rows a run trained on (ISO 8601, UTC): rows after it are unseen.
TRAIN_UNTIL_TAG = "retraining.train_until"


def to_frame(evidence: HoldoutEvidence) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "timestamp": evidence.timestamps.astype("int64"),
            "y": evidence.y,
            "challenger": evidence.challenger.astype("float64"),
            "champion": evidence.champion.astype("float64"),
        }
    )
    if evidence.ids is not None:
        frame["id"] = evidence.ids
    return frame


def from_frame(
    frame: pd.DataFrame, run_id: str, compared_with: str, config_hash: str, started_at: int | None = None
) -> HoldoutEvidence:
    return HoldoutEvidence(
        run_id,
        compared_with,
        config_hash,
        frame["timestamp"].to_numpy("int64"),
        frame["y"].to_numpy(),
        frame["challenger"].to_numpy("float64"),
        frame["champion"].to_numpy("float64"),
        frame["id"].to_numpy() if "id" in frame.columns else None,
        started_at,
    )


def utc_timestamp(moment: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A moment as a UTC timestamp; a naive one is taken as UTC (the warehouse's convention)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def as_nanoseconds(moment: datetime | pd.Timestamp | str) -> int:
    """A moment as int64 nanoseconds since the epoch (UTC), the evidence's time unit."""
    return int(utc_timestamp(moment).value)


class EvidenceStore:
    """Evidence artifacts of one tracking store's runs."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def log(self, evidence: HoldoutEvidence) -> None:
        """Store a decision's evidence on its challenger's run, then tag the run as carrying it.

        A rerun overwrites the same file; the tag comes last, so a run is never found without it.
        """
        client = self.tracker.client
        with tempfile.TemporaryDirectory(prefix="retraining-evidence-") as folder:
            path = Path(folder) / EVIDENCE_FILE
            to_frame(evidence).to_parquet(path, index=False)
            client.log_artifact(evidence.run_id, str(path), artifact_path=EVIDENCE_DIR)
        client.set_tag(evidence.run_id, EVIDENCE_BASELINE_TAG, evidence.compared_with)

    def earlier(self, experiment_id: str, compared_with: str, config_hash: str, limit: int) -> list[HoldoutEvidence]:
        """The evidence of the latest `limit` runs compared with this baseline by this recipe, each
        with its run's start time (ns, UTC; MLflow keeps it, so older files need nothing new).

        A run whose file is missing (deleted by hand) is left out: pooling then uses fewer windows,
        never wrong ones. Any other error of the store propagates (fail closed).
        """
        from include.retraining.tracking.tracker import CONFIG_HASH_TAG

        runs = self.tracker.client.search_runs(
            [experiment_id],
            filter_string=(
                f"tags.`{EVIDENCE_BASELINE_TAG}` = '{compared_with}' and tags.`{CONFIG_HASH_TAG}` = '{config_hash}'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=limit,
        )
        found = []
        for run in runs:
            with tempfile.TemporaryDirectory(prefix="retraining-evidence-") as staging:
                folder = self.tracker.download_artifacts(run.info.run_id, EVIDENCE_DIR, dst_path=staging)
                path = folder / EVIDENCE_FILE if folder else None
                if path is None or not path.exists():
                    continue
                frame = pd.read_parquet(path)
            started_at = run.info.start_time * 1_000_000 if run.info.start_time is not None else None
            found.append(from_frame(frame, run.info.run_id, compared_with, config_hash, started_at))
        return found

    def training_cutoff(self, run_id: str) -> int | None:
        """The last timestamp (ns, UTC) the run trained on; None for a run logged before the tag."""
        value = self.tracker.run_tags(run_id).get(TRAIN_UNTIL_TAG)
        return as_nanoseconds(value) if value else None
